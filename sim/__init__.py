"""The simulations, on the real Application in process (app/driver.py), no consensus:
`perpchain simulate-chain` (runner.py), a seeded random genesis and weighted random operations,
every module's invariants checked after every block, and the recorded chain the regression test
replays (recording.py); `perpchain simulate` (simulate.py), a price path against a set of accounts."""
