"""Set values in CometBFT's config.toml in place, keeping its comments and layout."""

from __future__ import annotations

import json
from typing import Union

TomlValue = Union[str, int, bool]


def _render(value: TomlValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return json.dumps(value)


def patch_toml(text: str, settings: dict[str, dict[str, TomlValue]]) -> str:
    """settings: {section ("" for the top level): {key: value}}; every key must already exist."""
    remaining = {section: dict(keys) for section, keys in settings.items()}
    section = ""
    lines = text.splitlines()
    for index, line in enumerate(lines):
        stripped = line.strip()
        if stripped.startswith("[") and stripped.endswith("]"):
            section = stripped[1:-1].strip()
            continue
        key = stripped.split("=", 1)[0].strip() if "=" in stripped and not stripped.startswith("#") else None
        wanted = remaining.get(section, {})
        if key is not None and key in wanted:
            lines[index] = f"{key} = {_render(wanted.pop(key))}"
    missing = [f"[{s}] {k}" for s, keys in remaining.items() for k in keys]
    if missing:
        raise KeyError(f"config.toml has no {', '.join(missing)}")
    return "\n".join(lines) + "\n"
