"""Helpers shared by the benchmark scripts: the machine's load, and one case run in a fresh
subprocess that prints its JSON result as its last line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def load_average() -> float | None:
    """The 1-minute load average (``None`` where the platform has none)."""
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def run_json(module: str, args: list[str], name: str, env: dict[str, str]) -> dict:
    """``python -m module *args`` from the repository root; its last stdout line as JSON, or
    ``{"name": name, "error": [last stderr line]}`` if it failed."""
    out = subprocess.run(
        [sys.executable, "-m", module, *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        check=False,
    )
    if out.returncode != 0:
        return {"name": name, "error": out.stderr.strip().splitlines()[-1:]}
    return json.loads(out.stdout.strip().splitlines()[-1])
