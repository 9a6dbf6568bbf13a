"""liquidation's errors (codes 700-719): none reach users; liquidation never fails a block."""
