"""Shared test fixtures: the GAP reference data in tests/data (see tests/data/README.md)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

#: GAP 4.16 SmallGroups reference data; it ships with the repository.
REFERENCE_PATH = Path(__file__).resolve().parent / "data" / "small_groups_reference.jsonl"


def reference_path() -> Path:
    return REFERENCE_PATH


def load_reference() -> list[dict]:
    """All groups of the reference file. A missing or empty file is an error, not a skip: the
    parametrised reference tests would otherwise run zero cases and pass silently."""
    if not REFERENCE_PATH.is_file():
        raise FileNotFoundError(
            f"{REFERENCE_PATH} is missing; it is part of the repository (tests/data/README.md)"
        )
    with open(REFERENCE_PATH, encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh if line.strip()]
    if not rows:
        raise ValueError(f"{REFERENCE_PATH} contains no groups")
    return rows


REFERENCE = load_reference()


@pytest.fixture(scope="session")
def reference() -> list[dict]:
    return REFERENCE
