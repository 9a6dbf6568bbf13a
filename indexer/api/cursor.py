"""Opaque cursors for the list endpoints: the sort key of the last item a page returned.

Every list is in a total order on its key (height and event index for events, with a tie-breaker
where one event makes two rows; start time for candles), so "the items after this key" neither
repeats nor skips an item however the table grows between two pages. The key is written as
base64url JSON so a client treats it as a token; one that does not decode to a key of the list's
shape is `invalid_cursor`.
"""

from __future__ import annotations

import base64
import binascii
import json

from indexer.api.errors import ApiError

_VERSION = 1


def encode_cursor(key: tuple[int | str, ...]) -> str:
    raw = json.dumps([_VERSION, *key], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode_cursor(cursor: str, types: tuple[type, ...]) -> tuple[int | str, ...]:
    """The key in `cursor`, one value of each of `types`; ApiError("invalid_cursor") if it is not one
    this API issued for a list sorted on such a key."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, UnicodeError, binascii.Error):
        raise ApiError("invalid_cursor", "the cursor is not one this API issued") from None
    if (not isinstance(values, list) or len(values) != len(types) + 1 or values[0] != _VERSION
            or not all(type(value) is kind for value, kind in zip(values[1:], types))):
        raise ApiError("invalid_cursor", "the cursor is not one this API issued for this list")
    return tuple(values[1:])
