"""Shared test fixtures: the GAP reference data in ../shared/data (or $GROUPCOMP_SHARED)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

_CANDIDATES = [
    Path(os.environ.get("GROUPCOMP_SHARED", "/nonexistent")) / "data",
    Path(__file__).resolve().parents[1].parent / "shared" / "data",
]


def reference_path() -> Path | None:
    for c in _CANDIDATES:
        p = c / "small_groups_reference.jsonl"
        if p.exists():
            return p
    return None


def load_reference() -> list[dict]:
    p = reference_path()
    if p is None:
        return []
    with open(p) as fh:
        return [json.loads(line) for line in fh if line.strip()]


REFERENCE = load_reference()


@pytest.fixture(scope="session")
def reference() -> list[dict]:
    if not REFERENCE:
        pytest.fail("../shared/data/small_groups_reference.jsonl not found (set GROUPCOMP_SHARED)")
    return REFERENCE
