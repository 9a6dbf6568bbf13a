"""The Ethereum half of perpchain's bridge: the Vault and TestUSDC contracts, their build with
solc-js, an anvil dev node, deployment with web3.py, and the relayer.

It reaches nodes and Ethereum through client/ (web3 helpers in `client.eth`), never the other way
round. Submodules are imported on their own (`bridge.eth` needs web3); the vault digests the chain
shares are in `wire.vault`.
"""
