"""The `perpchain` command: a thin dispatcher, the one place allowed to import every part."""
