"""Amounts as people type them; defined once in wire/ so the app's price sources share them."""

from wire.amounts import MICRO, format_decimal, format_usdc, parse_decimal, parse_usdc

__all__ = ["MICRO", "format_decimal", "format_usdc", "parse_decimal", "parse_usdc"]
