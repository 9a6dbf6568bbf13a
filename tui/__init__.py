"""The Textual trading terminal (`perpchain tui`), talking to a node only through client/."""
