"""Whole-process benchmarks: what a user waits for, timed from outside (issue 16).

* the import floor: ``python -c "import torch, matplotlib"``;
* ``groupcomp train d3`` (the whole command: imports, build, theory, fit, probes, checkpoints,
  metrics, summary, figures), with its fit loop (``summary.json``'s ``wall_time_s``) reported
  separately;
* the default thread count vs ``train.threads=1`` on the octahedral and d3 presets, without
  and with two CPU burners (``python -c "while 1: pass"``, killed afterwards; "no burners" is
  as idle as the machine is: the 1-minute load average is recorded with every row) — plus the
  previous default for the octahedral preset (the kernel's two-chunk split on two threads
  whatever the load: ``train.threads=2``) under the burners, on a tenth of its steps.

Pairs are interleaved (A, B, A, B, ...) so that slow drifts of a shared machine hit both sides;
each row reports the median and every wall time, and the 1-minute load average before it.
"""

from __future__ import annotations

import contextlib
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from benchmarks._proc import load_average

ROOT = Path(__file__).resolve().parent.parent


def _run(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    if out.returncode != 0:
        tail = (out.stderr or out.stdout).strip().splitlines()[-1:]
        raise RuntimeError(f"{' '.join(cmd)} failed ({out.returncode}): {tail}")
    return wall


def _train_cmd(preset: str, out: Path, name: str, overrides: list[str]) -> list[str]:
    return [
        sys.executable, "-m", "groupcomp", "train", preset, *overrides,
        "--out", str(out), "--name", name, "--quiet",
    ]  # fmt: skip


def _fit(out: Path, name: str) -> tuple[float, int]:
    """The run's fit loop (``wall_time_s``) and its steps, from its ``summary.json``."""
    s = json.loads((out / name / "summary.json").read_text())
    return float(s["wall_time_s"]), int(s["steps_done"])


@contextlib.contextmanager
def burners(n: int) -> Iterator[list[int]]:
    """``n`` busy-looping processes for the duration of the block (killed by their pids)."""
    procs = [subprocess.Popen([sys.executable, "-c", "while 1: pass"]) for _ in range(n)]
    try:
        time.sleep(1.0)  # let them settle on the cores
        yield [p.pid for p in procs]
    finally:
        for p in procs:
            p.kill()
        for p in procs:
            p.wait()


def _row(name: str, walls: list[float], load: float | None, **extra) -> dict:
    return {
        "name": name,
        "wall_s": statistics.median(walls),
        "walls_s": [round(w, 3) for w in walls],
        "load_before": load,
        **extra,
    }


def import_floor(repeats: int) -> dict:
    load = load_average()
    cmd = [sys.executable, "-c", "import torch, matplotlib"]
    _run(cmd)  # file-system cache warm
    return _row("whole:import floor", [_run(cmd) for _ in range(repeats)], load)


def train_pair(
    preset: str,
    variants: dict[str, list[str]],
    repeats: int,
    tag: str,
    steps: int | None = None,
) -> list[dict]:
    """``groupcomp train preset`` with each variant's overrides, interleaved ``repeats``
    times; one row per variant (whole-process wall times and the fit loop's)."""
    extra = [] if steps is None else [f"train.steps={steps}"]
    walls: dict[str, list[float]] = {v: [] for v in variants}
    fits: dict[str, list[float]] = {v: [] for v in variants}
    done: dict[str, int] = {}
    load = load_average()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        for r in range(repeats):
            for v, over in variants.items():
                name = f"{v}-{r}"
                walls[v].append(_run(_train_cmd(preset, out, name, [*over, *extra])))
                fit_s, done[v] = _fit(out, name)
                fits[v].append(fit_s)
    return [
        _row(
            f"whole:{preset} {tag} {v}",
            walls[v],
            load,
            preset=preset,
            fit_s=statistics.median(fits[v]),
            fits_s=[round(f, 3) for f in fits[v]],
            steps=done[v],
            overrides=[*variants[v], *extra],
        )
        for v in variants
    ]


def whole_cases(quick: bool = False) -> tuple[list[dict], dict[str, float]]:
    """Every whole-process row and the ratios between them (all from this run)."""
    reps = 2 if quick else 3
    rows: list[dict] = []
    # a first d3 run fills numba's on-disk cache (the timed runs load it, as a user's would)
    with tempfile.TemporaryDirectory() as tmp:
        _run(_train_cmd("d3", Path(tmp), "warm", ["train.steps=100"]))
    rows.append(import_floor(2 * reps))
    (d3,) = train_pair("d3", {"default": []}, reps, "no burners")
    d3["name"] = "whole:groupcomp train d3"
    rows.append(d3)
    oct_steps = 1100 if quick else None
    both = {"default": [], "threads=1": ["train.threads=1"]}
    rows += train_pair("octahedral", both, reps, "no burners", steps=oct_steps)
    rows += train_pair("d3", both, 1 if quick else 2, "no burners")
    with burners(2):
        rows += train_pair("octahedral", both, 1 if quick else 2, "2 burners", steps=oct_steps)
        rows += train_pair("d3", both, 1 if quick else 2, "2 burners")
        rows += train_pair(
            "octahedral", {"threads=2": ["train.threads=2"]}, 1, "2 burners", steps=1100
        )
    by = {r["name"]: r for r in rows}
    floor = by["whole:import floor"]["wall_s"]
    derived = {
        "d3 whole / import floor": d3["wall_s"] / floor,
        "d3 fit / import floor": d3["fit_s"] / floor,
        "d3 (whole - fit) / import floor": (d3["wall_s"] - d3["fit_s"]) / floor,
        "d3 fit / whole": d3["fit_s"] / d3["wall_s"],
    }
    for preset in ("octahedral", "d3"):
        for tag in ("no burners", "2 burners"):
            a = by.get(f"whole:{preset} {tag} default")
            b = by.get(f"whole:{preset} {tag} threads=1")
            if a and b:
                derived[f"{preset} {tag}: default / threads=1 (whole)"] = a["wall_s"] / b["wall_s"]
                derived[f"{preset} {tag}: default / threads=1 (fit)"] = a["fit_s"] / b["fit_s"]
    old = by.get("whole:octahedral 2 burners threads=2")
    one = by.get("whole:octahedral 2 burners threads=1")
    if old and one:
        derived["octahedral 2 burners: threads=2 / threads=1 (fit per step)"] = (
            old["fit_s"] / old["steps"]
        ) / (one["fit_s"] / one["steps"])
    return rows, derived
