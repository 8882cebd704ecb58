"""Run folders: the only place that writes training results to disk.

Layout (DESIGN.md §3)::

    runs/<preset>-<YYYYmmdd-HHMMSS>/
        config.yaml            resolved config
        metrics.parquet        one row per (step, seed)
        summary.json           losses, theory vs observed staircase, timings, versions, commit
        checkpoints/
            checkpoints.pt     parameter snapshots at log-spaced steps (one file)
            last.pt            full state of the latest checkpoint (for --resume)
        figures/loss.png|pdf, figures/power.png|pdf

Every write is atomic (temporary file in the same folder, then ``os.replace``); a new run never
reuses an existing folder.
"""

from __future__ import annotations

import datetime as _dt
import io
import json
import os
import platform
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import torch

from groupcomp.errors import RunFolderError

__all__ = [
    "jsonable",
    "atomic_write_bytes",
    "atomic_write_text",
    "new_run_dir",
    "provenance",
    "read_json",
]


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def atomic_torch_save(path: Path, obj: Any) -> None:
    buf = io.BytesIO()
    torch.save(obj, buf)
    atomic_write_bytes(path, buf.getvalue())


def jsonable(x: Any) -> Any:
    """Plain-JSON copy of ``x``: mappings/sequences recursed, numpy scalars and arrays converted,
    non-finite floats → ``None`` (JSON has no NaN/inf)."""
    import math
    from collections.abc import Mapping

    import numpy as np

    if isinstance(x, Mapping):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return jsonable(x.tolist())
    if isinstance(x, np.generic):
        return jsonable(x.item())
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def read_json(path: Path) -> dict:
    with open(path) as fh:
        return json.load(fh)


def new_run_dir(parent: Path, name: str, *, exact: bool = False) -> Path:
    """Create a fresh run folder ``parent/<name>-<timestamp>`` (or ``parent/name`` when
    ``exact``). Never reuses an existing folder: a clash gets a ``-2``, ``-3``… suffix, or an
    error when ``exact``."""
    parent = Path(parent)
    parent.mkdir(parents=True, exist_ok=True)
    if exact:
        d = parent / name
        if d.exists():
            raise RunFolderError(
                f"run folder {d} already exists; choose another --name, or continue it with "
                f"--resume {d}"
            )
        d.mkdir()
        return d
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    base = parent / f"{name}-{stamp}"
    d, i = base, 1
    while True:
        try:
            d.mkdir()
            return d
        except FileExistsError:
            i += 1
            d = Path(f"{base}-{i}")


def _git_commit() -> str:
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "-C", str(here), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
        if out.returncode != 0:
            return "unknown"
        commit = out.stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
        return commit + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def provenance() -> dict[str, str]:
    """Package versions and git commit, written next to every result."""
    import numpy

    from groupcomp import __version__

    return {
        "groupcomp": __version__,
        "git_commit": _git_commit(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "created": _dt.datetime.now().isoformat(timespec="seconds"),
    }
