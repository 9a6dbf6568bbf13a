"""bridge: validators' Ethereum keys, deposit claims tallied by voting power (credited exactly
once, in nonce order), the withdrawal queue and the validators' withdrawal signatures."""
