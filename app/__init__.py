"""The ABCI 2.0 application: socket server, call routing, tx checks, store. No business rules."""
