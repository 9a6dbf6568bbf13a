"""`perpchain localnet`: N validators on one machine, created once, supervised, watched, stopped."""
