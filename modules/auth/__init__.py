"""auth: the transaction envelope's rules: chain id, signature, nonce window and replay."""
