"""Figures measured in the emulated router, merged into one JSON file per section."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RESULTS = Path(os.environ.get("TORBOX_QEMU_RESULTS", REPO / "tests/artifacts/qemu-results.json"))


def _num(value: str) -> object:
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    return value


def record(section: str, figures: dict[str, object]) -> Path:
    """Replace ``section`` in the results file with ``figures`` (strings become numbers)."""
    data: dict[str, object] = {}
    if RESULTS.exists():
        data = json.loads(RESULTS.read_text())
    data[section] = {
        "recorded": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        **{k: _num(v) if isinstance(v, str) else v for k, v in figures.items()},
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    return RESULTS
