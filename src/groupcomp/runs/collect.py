"""One results table from any set of run folders (single runs, sweeps, batched seeds, any kind).

    >>> df = collect_runs(["runs/d3-multirun-3e349114"])        # doctest: +SKIP
    >>> df.groupby("model.hidden")["final_loss_per_seed"].median()   # doctest: +SKIP

One row per (run folder, seed). Columns, in this order:

* ``run_dir`` (absolute path), ``seed``, ``status`` (the summary's, or ``failed`` where the
  folder holds a sweep job's ``error.txt``), ``error``;
* every config key of the run's ``config.yaml`` under its dotted name (``model.hidden``,
  ``task.k``, ``optim.lr``; lists as JSON text, e.g. ``"[0.0, 30.0, 3000.0]"``); keys another
  run kind lacks are missing values;
* every field of ``summary.json`` under its dotted name (``final_loss``, ``steps_done``,
  ``observed.order_matches_theory``, ``arith.final.test_acc``; list entries of dicts by index:
  ``drops.0.predicted_step``), read generically, so fields added later appear without a change
  here. A per-seed list holds this row's seed's entry: any field ending in ``per_seed``
  (``final_loss_per_seed``: this seed's final loss, while ``final_loss`` is the run's mean over
  seeds; ``stability.per_seed.stable``: a list of one dict per seed, flattened) and the
  per-seed lists of the ``arith`` section (``arith.final.*``, ``arith.final_power.*``,
  ``arith.grokking_epoch``, ...). Other lists are JSON text. ``initial_loss_per_seed`` (this
  seed's training loss at step 0) comes from ``metrics.parquet``.

A folder that cannot be read (corrupt or missing file, another groupcomp version) is skipped
with a :class:`CollectWarning` naming it; so is a sweep job that failed before it had a config.
"""

from __future__ import annotations

import json
import math
import os
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from groupcomp.errors import GroupcompError, RunFolderError

__all__ = ["CollectWarning", "collect_runs", "find_run_folders"]

#: file a failed sweep job leaves in its folder (see :mod:`groupcomp.runs.sweep`)
_ERROR_FILE = "error.txt"
#: summary sections whose lists of one entry per seed are per-seed values
_PER_SEED_SECTIONS = (
    "arith.final.",
    "arith.final_power.",
    "arith.grokking_epoch",
    "arith.train100_epoch",
)
#: the columns every row starts with
ID_COLUMNS = ("run_dir", "seed", "status", "error")


class CollectWarning(UserWarning):
    """A folder was skipped by :func:`collect_runs` (the message names it and says why)."""


def find_run_folders(paths: Iterable[str | Path]) -> tuple[list[Path], list[Path]]:
    """Run folders (a folder with ``config.yaml``) found at or below ``paths``, and folders of
    sweep jobs that failed before writing a config (only ``error.txt``). Hidden folders
    (``.hydra``) and the inside of run folders are not searched. Sorted, without duplicates.

    Raises:
        RunFolderError: a path does not exist.
    """
    runs: set[Path] = set()
    failed: set[Path] = set()
    for p in paths:
        root = Path(p)
        if not root.exists():
            raise RunFolderError(f"{p}: no such file or folder")
        if not root.is_dir():
            raise RunFolderError(f"{p}: not a folder (give run folders or folders holding them)")
        for here, dirs, files in os.walk(root, followlinks=False):
            d = Path(here).resolve()
            if "config.yaml" in files:
                runs.add(d)
                dirs[:] = []
                continue
            if _ERROR_FILE in files:
                failed.add(d)
            dirs[:] = sorted(x for x in dirs if not x.startswith("."))
    return sorted(runs), sorted(failed)


def _leaves(node: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Dotted ``(key, value)`` pairs of a JSON-like tree; lists of dicts are entered by index
    (except per-seed lists, ``…per_seed``), other lists are leaves."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _leaves(v, f"{prefix}{k}.")
    elif (
        isinstance(node, list)
        and node
        and all(isinstance(v, dict) for v in node)
        and not prefix[:-1].endswith("per_seed")
    ):
        for i, v in enumerate(node):
            yield from _leaves(v, f"{prefix}{i}.")
    else:
        yield prefix[:-1], node


def _cell(value: Any) -> Any:
    if isinstance(value, list | tuple | dict):
        return json.dumps(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _is_per_seed(key: str, value: Any, n_seeds: int) -> bool:
    if not isinstance(value, list) or len(value) != n_seeds:
        return False
    return key.endswith("per_seed") or key.startswith(_PER_SEED_SECTIONS)


def _rows(run: Any, error: str | None) -> tuple[list[dict[str, Any]], list[str]]:
    from omegaconf import OmegaConf

    config = OmegaConf.to_container(run.config, resolve=True)
    summary = run.summary.to_dict()
    seeds = list(summary.get("seeds") or list(run.config.train.seeds))
    base: dict[str, Any] = {
        "run_dir": str(run.path),
        "status": "failed" if error else summary.get("status"),
        "error": error or summary.get("error"),
    }
    config_keys = []
    for key, value in _leaves(config):
        base[key] = _cell(value)
        config_keys.append(key)
    per_seed: dict[str, list[Any]] = {}
    for key, value in _leaves(summary):
        if key in ("run_dir", "status", "error", "seeds") or key in base:
            continue
        if _is_per_seed(key, value, len(seeds)):
            per_seed[key] = value
        else:
            base[key] = _cell(value)
    if "initial_loss_per_seed" not in per_seed:
        per_seed["initial_loss_per_seed"] = _initial_losses(run.metrics, seeds)
    rows = []
    for i, seed in enumerate(seeds):
        row = {**base, "seed": int(seed)}
        for key, values in per_seed.items():
            if isinstance(values[i], dict):  # e.g. stability.per_seed: one dict per seed
                for sub, v in _leaves(values[i], key + "."):
                    row[sub] = _cell(v)
            else:
                row[key] = _cell(values[i])
        rows.append(row)
    return rows, config_keys


def _initial_losses(metrics: pd.DataFrame, seeds: list[Any]) -> list[float | None]:
    """Each seed's training loss at the first logged step (step 0), from the metrics."""
    if not {"step", "seed", "loss"} <= set(metrics.columns) or not len(metrics):
        return [None] * len(seeds)
    first = metrics[metrics["step"] == metrics["step"].min()].set_index("seed")["loss"]
    return [float(first[s]) if s in first.index else None for s in seeds]


def _arrow_safe(df: pd.DataFrame) -> pd.DataFrame:
    """Columns of mixed Python types (e.g. ``"auto"`` and numbers) as text; object columns of
    numbers as numbers; so the table writes to Parquet."""
    for col in df.columns:
        if df[col].dtype != object:
            continue
        vals = df[col].dropna()
        types = {type(v) for v in vals}
        if not types:
            continue
        if types <= {int, float}:
            df[col] = pd.to_numeric(df[col])
        elif len(types) > 1:
            df[col] = df[col].map(lambda v: None if v is None else str(v))
    return df


def collect_runs(paths: Iterable[str | Path]) -> pd.DataFrame:
    """The results table of every run folder at or below ``paths`` (see the module docstring
    for its columns). ``df.attrs["skipped"]`` lists ``{"path", "reason"}`` of every folder
    skipped (each also raised as a :class:`CollectWarning`), ``df.attrs["config_columns"]`` the
    config keys (first-seen order).

    Raises:
        RunFolderError: a path does not exist.
    """
    from groupcomp.runs.load import load_run

    run_dirs, failed = find_run_folders(paths)
    rows: list[dict[str, Any]] = []
    config_columns: dict[str, None] = {}
    skipped: list[dict[str, str]] = []

    def skip(path: Path, reason: str) -> None:
        skipped.append({"path": str(path), "reason": reason})
        warnings.warn(f"{path}: skipped ({reason})", CollectWarning, stacklevel=3)

    for d in failed:
        first = (d / _ERROR_FILE).read_text(errors="replace").strip().splitlines()
        skip(d, f"failed job: {first[0] if first else 'no message'}")
    for d in run_dirs:
        try:
            run = load_run(d)
        except GroupcompError as exc:
            skip(d, str(exc).strip().splitlines()[0] if str(exc).strip() else "unreadable")
            continue
        error = None
        if (d / _ERROR_FILE).is_file():
            lines = (d / _ERROR_FILE).read_text(errors="replace").strip().splitlines()
            error = lines[0] if lines else "failed"
        new, keys = _rows(run, error)
        rows.extend(new)
        config_columns.update(dict.fromkeys(keys))
    df = pd.DataFrame(rows)
    if len(df):
        first = [c for c in ID_COLUMNS if c in df.columns]
        df = df[first + [c for c in df.columns if c not in first]]
        df = _arrow_safe(df.sort_values(["run_dir", "seed"], kind="stable").reset_index(drop=True))
    else:
        df = pd.DataFrame(columns=list(ID_COLUMNS))
    df.attrs["skipped"] = skipped
    df.attrs["config_columns"] = list(config_columns)
    return df
