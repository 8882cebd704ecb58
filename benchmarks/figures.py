"""Paper figures, timed as a user runs them (issue 15): ``groupcomp figure NAME`` from nothing
(every run trained), whole process, plus each column's fit loop from its ``summary.json``.

    python -m benchmarks.figures [p1-fig1 agf-modadd ...] [--json PATH]

Each figure is drawn into a fresh temporary folder; the table gives the whole command, the sum of
the fit loops and every run's steps and fit time, and the 1-minute load average before it (the
machine may be shared). Results go to ``benchmarks/results/figures.json``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks._proc import load_average

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "figures.json"


def time_figure(name: str) -> dict:
    """Run ``groupcomp figure name`` in a fresh folder; its whole wall time and per-run fits."""
    with tempfile.TemporaryDirectory() as tmp:
        load = load_average()
        cmd = [sys.executable, "-m", "groupcomp", "figure", name, "--out", tmp, "--quiet"]
        t0 = time.perf_counter()
        out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
        wall = time.perf_counter() - t0
        if out.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed: {out.stderr.strip()[-500:]}")
        runs = []
        for summary in sorted(Path(tmp, name, "runs").glob("*/summary.json")):
            s = json.loads(summary.read_text())
            runs.append(
                {
                    "run": summary.parent.name,
                    "steps": int(s["steps_done"]),
                    "fit_s": round(float(s["wall_time_s"]), 2),
                    "status": s["status"],
                    "final_loss": s["final_loss"],
                    "initial_loss": s["initial_loss"],
                }
            )
    return {
        "figure": name,
        "wall_s": round(wall, 1),
        "fit_s": round(sum(r["fit_s"] for r in runs), 1),
        "load_before": load,
        "runs": runs,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("names", nargs="*", default=["p1-fig1", "agf-modadd"])
    p.add_argument("--json", default=str(RESULTS), help=f"results file (default {RESULTS})")
    args = p.parse_args(argv)
    rows = [time_figure(n) for n in args.names]
    print(f"{'figure':<12} {'whole (s)':>10} {'fits (s)':>9} {'load':>5}  runs (steps, fit s)")
    for r in rows:
        runs = ", ".join(f"{x['run']} {x['steps']} {x['fit_s']:g}" for x in r["runs"])
        load = str(r["load_before"])
        print(f"{r['figure']:<12} {r['wall_s']:>10} {r['fit_s']:>9} {load:>5}  {runs}")
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps({"figures": rows}, indent=1) + "\n")
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
