"""The Ethereum half of perpchain's bridge: the Vault and TestUSDC contracts, their build with
solc-js, an anvil dev node, deployment with web3.py, and the EIP-712 digests validators sign.

Submodules are imported on their own (`bridge.digests` needs no web3; `bridge.eth` does).
"""
