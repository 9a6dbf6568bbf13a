"""Where the project's own files are: the checkout, its cometbft build and the default localnet."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
COMETBFT = PROJECT_ROOT / "bin" / "cometbft"
DEFAULT_LOCALNET = Path(os.environ.get("PERPCHAIN_LOCALNET", PROJECT_ROOT / ".data" / "localnet"))
