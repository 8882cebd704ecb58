"""groupcomp benchmarks: ``python -m benchmarks [--quick] [--only NAME ...] [--threads N]``.

Times, in one run on this machine: whole processes as a user runs them (the import floor
``python -c "import torch, matplotlib"``, ``groupcomp train d3``, the default thread count vs
``train.threads=1`` idle and under two CPU burners: :mod:`benchmarks.whole`, case ``whole``),
every preset's full training (steps/s, wall time, peak
memory, achieved GFLOP/s as a fraction of the machine's float32 matmul rate measured here too),
64 batched seeds vs 64 sequential runs of ``d3``, the online mode at k = 6 on A5, the theory
functions and ``G.irreps()`` for groups of order 24, 60 and 128, the arithmetic per-epoch times
(:mod:`benchmarks.arith`) and the paper figures from nothing (``groupcomp figure p1-fig1`` /
``agf-modadd``, :mod:`benchmarks.figures`; full runs or ``--only figure``). Each training case
runs in its own subprocess (clean peak-memory reading, its own thread setting). Prints a table
and writes
``benchmarks/results/<date>.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PRESETS = ["d3", "d5", "c10", "c4x4", "octahedral", "a5"]
#: reference implementation (group-agf) wall times on a 2-core CPU with one thread (issue 6)
REFERENCE_S = {"d3": 4.0, "c10": 22.0, "octahedral": 29.0, "c4x4": 101.0, "a5": 200.0}


def _case(spec: dict) -> dict:
    """Run one case in a subprocess and return its JSON result."""
    env = dict(os.environ)
    threads = spec.get("threads")
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    from benchmarks._proc import run_json

    return run_json("benchmarks.cases", [json.dumps(spec)], spec["name"], env)


def _fmt(v: object, nd: int = 3) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.{nd}g}"
    return str(v)


def _derived(results: list[dict]) -> dict[str, float]:
    """Throughput ratios of the seed cases and engine speed-ups, from this run only."""
    by = {r.get("name"): r for r in results}
    out: dict[str, float] = {}

    def rate(name: str) -> float | None:
        r = by.get(name, {})
        return r.get("seed_steps_per_s") or r.get("steps_per_s")

    pairs = {
        "d3 64 seeds: batched / sequential (auto engine)": (
            "seeds:d3 64 batched auto",
            "seeds:d3 64 sequential auto",
        ),
        "d3 64 seeds: batched / sequential (torch engine)": (
            "seeds:d3 64 batched torch",
            "seeds:d3 64 sequential torch",
        ),
        "d3 64 seeds, whole train() runs: batched / sequential": (
            "runs:d3 64 seeds batched",
            "runs:d3 64 seeds sequential",
        ),
        "d3 64 seeds: batched auto / sequential torch": (
            "seeds:d3 64 batched auto",
            "seeds:d3 64 sequential torch",
        ),
    }
    for name in PRESETS:
        pairs[f"{name}: default engine / torch engine (steps/s)"] = (
            f"train:{name}",
            f"train:{name} torch",
        )
    for key, (a, b) in pairs.items():
        ra, rb = rate(a), rate(b)
        if ra and rb:
            out[key] = ra / rb
    for r in results:  # arithmetic runs: ratios measured inside each case
        for key in ("speedup_vs_cogs_author", "speedup_vs_reference"):
            if str(r.get("name", "")).startswith("arith:") and key in r:
                out[f"{r['name']}: {key}"] = r[key]
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    p.add_argument("--quick", action="store_true", help="fewer steps (smoke run, not for reports)")
    p.add_argument("--only", nargs="*", help="case names to run (default: all)")
    p.add_argument("--threads", type=int, default=None, help="threads for training (default: auto)")
    p.add_argument("--out", default=str(HERE / "results"), help="results folder")
    args = p.parse_args(argv)
    quick = args.quick
    cases: list[dict] = [{"name": "matmul", "kind": "matmul", "threads": t} for t in (1, 0)]
    for name in PRESETS:
        cases.append(
            {
                "name": f"train:{name}",
                "kind": "train",
                "preset": name,
                "threads": args.threads,
                "steps_scale": 0.1 if quick else 1.0,
                "repeats": 5 if name in ("d3", "d5", "c10") else 1,
            }
        )
    for name in PRESETS:  # the same presets on the torch engine, for comparison
        cases.append(
            {
                "name": f"train:{name} torch",
                "kind": "train",
                "preset": name,
                "engine": "torch",
                "threads": args.threads,
                "steps_scale": 0.1 if quick else (0.25 if name == "d3" else 1.0),
            }
        )
    for engine in ("auto", "torch"):  # no preset has H >= 1000: a5 at H = 1200
        cases.append(
            {
                "name": f"train:a5 H=1200{' torch' if engine == 'torch' else ''}",
                "kind": "train",
                "preset": "a5",
                "engine": engine,
                "overrides": ["model.hidden=1200"],
                "threads": args.threads,
                "steps_scale": 0.02 if quick else 0.1,
            }
        )
    cases.append(
        {
            "name": "train:d3 torch 1 vs all threads",
            "kind": "train",
            "preset": "d3",
            "engine": "torch",
            "threads": 2,
            "steps_scale": 0.1 if quick else 0.25,
        }
    )
    cases.append({"name": "e2e:d3 train()", "kind": "e2e", "preset": "d3"})
    seed_steps = 500 if quick else 2000
    for engine, batched, runs in (
        ("auto", True, 1),
        ("auto", False, 64),
        ("torch", True, 1),
        ("torch", False, 8),
    ):
        cases.append(
            {
                "name": f"seeds:d3 64 {'batched' if batched else 'sequential'} {engine}",
                "kind": "seeds",
                "preset": "d3",
                "seeds": 64,
                "batched": batched,
                "engine": engine,
                "runs": runs,
                "steps": seed_steps,
            }
        )
    for batched in (True, False):
        cases.append(
            {
                "name": f"runs:d3 64 seeds {'batched' if batched else 'sequential'}",
                "kind": "seed_runs",
                "preset": "d3",
                "seeds": 64,
                "batched": batched,
                "runs": 8,
                "steps": seed_steps,
            }
        )
    cases.append({"name": "online:A5 k=6", "kind": "online", "steps": 20 if quick else 100})
    cases.append({"name": "theory", "kind": "theory"})
    cases.append({"name": "irreps", "kind": "irreps"})
    from benchmarks.arith import arith_specs

    cases += arith_specs(quick)  # Z23 / Z127 per-epoch time (`python -m benchmarks.arith`)
    whole = not args.only or any(o in "whole" for o in args.only)
    if args.only:
        cases = [c for c in cases if any(o in c["name"] for o in args.only)]
    results = []
    t0 = time.perf_counter()
    load_start = os.getloadavg()
    whole_derived: dict[str, float] = {}
    if whole:  # first: the machine is at its quietest before the long cases
        from benchmarks.whole import whole_cases

        print("... whole processes (import floor, groupcomp train, threads)", file=sys.stderr)
        rows, whole_derived = whole_cases(quick)
        results += rows
    for c in cases:
        print(f"... {c['name']}", file=sys.stderr, flush=True)
        results.append(_case(c))
    # the paper figures from nothing (`groupcomp figure`, ~8 min): full runs only, or --only figure
    if (not args.only and not quick) or any("figure" in o for o in args.only or []):
        from benchmarks.figures import time_figure

        for name in ("p1-fig1", "agf-modadd"):
            print(f"... figure:{name}", file=sys.stderr, flush=True)
            row = time_figure(name)
            results.append(
                {
                    "name": f"figure:{name}",
                    "wall_s": row["wall_s"],
                    "fit_s": row["fit_s"],
                    "load_before": row["load_before"],
                    "note": "; ".join(f"{r['run']} {r['steps']} steps" for r in row["runs"]),
                }
            )
    rate = {r.get("threads"): r.get("gflops") for r in results if r.get("name") == "matmul"}
    peak = max((v for v in rate.values() if v), default=None)
    for r in results:
        if "gflops" in r and r.get("name") != "matmul" and peak:
            r["fraction_of_matmul_peak"] = r["gflops"] / peak
        ref = REFERENCE_S.get(r.get("preset", ""))
        if (
            ref
            and r.get("wall_s")
            and r.get("name", "").startswith("train:")
            and r.get("note") == "full preset"
        ):
            r["speedup_vs_reference"] = ref / r["wall_s"]
    # table
    cols = [
        "name",
        "engine",
        "threads",
        "steps",
        "wall_s",
        "warmup_s",
        "fit_s",
        "load_before",
        "steps_per_s",
        "seed_steps_per_s",
        "gflops",
        "fraction_of_matmul_peak",
        "peak_rss_mb",
        "speedup_vs_reference",
        "note",
    ]
    print()
    print(" | ".join(cols))
    print(" | ".join("---" for _ in cols))
    for r in results:
        print(" | ".join(_fmt(r.get(c)) for c in cols))
    for r in results:
        for k, v in r.get("timings", {}).items():
            print(f"{r['name']}: {k}: {_fmt(v)} s")
        if r.get("error"):
            print(f"{r['name']}: ERROR {r['error']}")
    derived = {**whole_derived, **_derived(results)}
    for k, v in derived.items():
        print(f"{k}: {_fmt(v)}")
    doc = {
        "date": dt.datetime.now().isoformat(timespec="seconds"),
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "loadavg_at_start": [round(x, 2) for x in load_start],
            "loadavg_at_end": [round(x, 2) for x in os.getloadavg()],
        },
        "quick": quick,
        "total_s": time.perf_counter() - t0,
        "results": results,
        "derived": derived,
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    suffix = ""
    if quick or args.only:
        suffix = f"-partial-{dt.datetime.now().strftime('%H%M%S')}"
    path = out / f"{dt.date.today().isoformat()}{suffix}.json"
    path.write_text(json.dumps(doc, indent=2))
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
