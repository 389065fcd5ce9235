"""Helpers for the engine tests: a scripted, seeded game log."""

from __future__ import annotations

import sys
from pathlib import Path

# The script helpers live beside this file and are shared with subprocess runs.
sys.path.insert(0, str(Path(__file__).parent))
