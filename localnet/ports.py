"""Free loopback ports, for throwaway chains that share the machine with other tests.

Ports are picked below the kernel's ephemeral range. A port inside that range can be free when it
is picked and then be taken as the source port of some outgoing connection (a cometbft dialling
its app or a peer) before the node that was given it binds it; such connections live as long as
the node, so that node would never start.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

_LOWEST = 10_000
_EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_picker = random.SystemRandom()  # test tooling, not state: two runs must not pick alike


def _ephemeral_low() -> int:
    try:
        return int(_EPHEMERAL_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32_768  # Linux's default


def free_port() -> int:
    """A port that is free on 127.0.0.1 right now, outside the ephemeral range."""
    return free_port_block(1)


def free_port_block(count: int) -> int:
    """A base port such that base .. base+count-1 are all free on loopback right now."""
    high = _ephemeral_low() - count
    if high <= _LOWEST:
        raise RuntimeError(f"no room for {count} ports below the ephemeral range")
    for _ in range(500):
        base = _picker.randrange(_LOWEST, high)
        if all(_bindable(port) for port in range(base, base + count)):
            return base
    raise RuntimeError(f"no block of {count} free loopback ports")


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True
