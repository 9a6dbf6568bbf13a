"""`perpchain simulate-chain`: the real Application, no consensus, driven by a seeded random
genesis and weighted random operations, every module's invariants checked after every block."""
