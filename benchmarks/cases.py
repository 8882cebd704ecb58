"""One benchmark case, run in its own process: ``python -m benchmarks.cases '<json spec>'``.

Prints one JSON line with the measurements.
"""

from __future__ import annotations

import dataclasses
import json
import resource
import statistics
import sys
import time


def two_layer_flops(S: int, B: int, k: int, H: int, n: int) -> float:
    """FLOPs of one training step of ``S`` two-layer models: ``S ·``
    :func:`groupcomp.training.compiled.step_flops` (the count both engines are measured by)."""
    from groupcomp.training.compiled import step_flops

    return S * step_flops(B, k, H, n)


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _set_threads(threads: int | None) -> int:
    import torch

    if threads:
        torch.set_num_threads(int(threads))
    return torch.get_num_threads()


def case_matmul(spec: dict) -> dict:
    import torch

    t = _set_threads(spec.get("threads") or None)
    n = 1024
    a, b = torch.randn(n, n), torch.randn(n, n)
    for _ in range(3):
        a @ b
    reps, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < 2.0:
        a @ b
        reps += 1
    wall = time.perf_counter() - t0
    return {
        "name": "matmul",
        "threads": t,
        "gflops": 2 * n**3 * reps / wall / 1e9,
        "note": "float32 1024x1024 matmul",
    }


def _fit(exp, steps: int, engine: str):
    """``steps`` plain optimiser steps of a built experiment (no probes, no checkpoints) on
    ``engine``; the experiment's other settings (kernel threads, gradient clipping) as built."""
    from groupcomp.training import Schedule, fit

    settings = dataclasses.replace(exp.settings, engine=engine)
    return fit(
        exp.model, exp.objective, exp.optimizer, exp.data, Schedule(steps=steps), settings=settings
    )


def _warm_kernel(preset: str, engine: str, overrides: list[str] | tuple = ()) -> float:
    """Seconds to get the compiled kernel ready (numba's on-disk cache, or a compile when the
    cache is cold), measured on a throw-away 1-step run so the timed run excludes it."""
    from groupcomp.config import load_config
    from groupcomp.runs import build

    if engine == "torch":
        return 0.0
    b = build(load_config(preset, ["train.progress=false", *overrides]))
    t0 = time.perf_counter()
    _fit(b, 1, engine)
    return time.perf_counter() - t0


def case_train(spec: dict) -> dict:
    from groupcomp.config import load_config
    from groupcomp.runs import build

    engine = spec.get("engine", "auto")
    cfg = load_config(spec["preset"], ["train.progress=false", *spec.get("overrides", [])])
    b = build(cfg)
    cfg = b.cfg  # train.steps=auto / optim.lr=auto resolved
    steps = max(10, int(round(int(cfg.train.steps) * spec.get("steps_scale", 1.0))))
    threads = spec.get("threads") or b.threads
    t = _set_threads(threads)
    warm = _warm_kernel(spec["preset"], engine, spec.get("overrides", []))
    B = b.data.next().shape[-2]
    flops = two_layer_flops(b.model.num_models, B, b.task.k, b.model.hidden, b.task.n)
    # short cases are timed `repeats` times (a fresh model each time) and the median is
    # reported: on a shared VM one sub-second timing can be off by 2x
    walls = []
    for r in range(int(spec.get("repeats", 1))):
        if r:
            b = build(cfg)
        t0 = time.perf_counter()
        st = _fit(b, steps, engine)
        walls.append(time.perf_counter() - t0)
    wall = statistics.median(walls)
    return {
        "name": spec["name"],
        "preset": spec["preset"],
        "engine": st.engine,
        "threads": st.threads or t,
        "steps": steps,
        "repeats": len(walls),
        "wall_min_max_s": [w * cfg.train.steps / steps for w in (min(walls), max(walls))],
        "wall_s": wall * cfg.train.steps / steps,
        "warmup_s": warm,
        "steps_per_s": steps / wall,
        "gflops": flops * steps / wall / 1e9,
        "peak_rss_mb": _peak_mb(),
        "note": ("full preset" if steps == cfg.train.steps else f"{steps} steps, wall scaled")
        + "".join(f"; {o}" for o in spec.get("overrides", [])),
    }


def case_e2e(spec: dict) -> dict:
    """The whole ``train()`` of a preset into a fresh run folder: probes at the log steps,
    checkpoints, metrics.parquet, summary and figures (what ``groupcomp train`` does)."""
    import tempfile

    from groupcomp.api import train
    from groupcomp.config import load_config

    cfg = load_config(spec["preset"], ["train.progress=false"])
    warm = _warm_kernel(spec["preset"], "auto")
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        res = train(cfg, tmp, quiet=True, figures=True)
        total = time.perf_counter() - t0
    return {
        "name": spec["name"],
        "preset": spec["preset"],
        "engine": res.summary["engine"],
        "threads": None,
        "steps": int(res.summary["steps_done"]),
        "wall_s": total,
        "warmup_s": warm,
        "steps_per_s": res.summary["steps_done"] / res.summary["wall_time_s"],
        "peak_rss_mb": _peak_mb(),
        "note": f"train() incl. outputs; its fit loop {res.summary['wall_time_s']:.3g} s",
    }


def _seed_case(spec: dict, whole: bool) -> dict:
    """``S`` seeds as one batched run vs single-seed runs one after another (``runs`` of them
    timed, scaled to ``S``). ``whole``: each run is a whole in-memory run (probes, theory,
    summary; no run folder, no figures: :func:`groupcomp.runs.execute` with ``out=None``), else
    only ``fit``."""
    from groupcomp.config import load_config
    from groupcomp.runs import build, execute

    engine = "auto" if whole else spec.get("engine", "auto")
    if not whole:
        _set_threads(1)
    S, steps, preset = int(spec["seeds"]), int(spec["steps"]), spec["preset"]
    warm = _warm_kernel(preset, engine)

    def run(seeds: range) -> tuple[float, str, int | None]:
        over = [f"train.seeds=[{','.join(map(str, seeds))}]", f"train.engine={engine}"]
        if whole:
            cfg = load_config(preset, ["train.progress=false", f"train.steps={steps}", *over])
            t0 = time.perf_counter()
            res = execute(cfg, None, quiet=True)
            return time.perf_counter() - t0, res.summary["engine"], None
        b = build(load_config(preset, over))
        t0 = time.perf_counter()
        st = _fit(b, steps, engine)
        return time.perf_counter() - t0, st.engine, st.threads or 1

    runs = 1 if spec["batched"] else int(spec.get("runs", 8))
    timed = [run(range(S))] if spec["batched"] else [run(range(s, s + 1)) for s in range(runs)]
    wall = sum(w for w, _, _ in timed) * (1 if spec["batched"] else S / runs)
    what = "train()" if whole else "fit"
    return {
        "name": spec["name"],
        "engine": "/".join(sorted({e for _, e, _ in timed})),
        "threads": timed[0][2],
        "steps": steps,
        "wall_s": wall,
        "warmup_s": warm,
        "seed_steps_per_s": S * steps / wall,
        "peak_rss_mb": _peak_mb(),
        "note": f"one batched {what}" if spec["batched"] else f"{runs} {what} runs, scaled to {S}",
    }


def case_seeds(spec: dict) -> dict:
    return _seed_case(spec, whole=False)


def case_seed_runs(spec: dict) -> dict:
    return _seed_case(spec, whole=True)


def case_online(spec: dict) -> dict:
    from groupcomp.config import load_config
    from groupcomp.runs import build

    cfg = load_config(
        None,
        [
            "group=A5",
            "template.kind=gaussian",
            "task.k=6",
            "task.data=online",
            "train.batch_size=1024",
            "model.hidden=256",
            "optim=adam",
            "optim.lr=1e-3",
        ],
    )
    b = build(cfg)
    t = _set_threads(None)
    steps = int(spec["steps"])
    t0 = time.perf_counter()
    _fit(b, steps, "auto")
    wall = time.perf_counter() - t0
    flops = two_layer_flops(1, 1024, 6, 256, 60)
    return {
        "name": spec["name"],
        "threads": t,
        "steps": steps,
        "wall_s": wall,
        "steps_per_s": steps / wall,
        "gflops": flops * steps / wall / 1e9,
        "peak_rss_mb": _peak_mb(),
        "note": "60^6 = 4.7e10 sequences, never materialised",
    }


def case_theory(spec: dict) -> dict:
    import numpy as np

    from groupcomp.groups import parse
    from groupcomp.templates import fourier_template
    from groupcomp.theory import predict_staircase

    _set_threads(1)
    timings = {}
    G = parse("A5")
    x = fourier_template(G, [0, 1300, 2000, 0, 0])
    predict_staircase(G, x, 2)  # irreps cached, as in a training run
    t0 = time.perf_counter()
    for _ in range(20):
        predict_staircase(G, x, 2)
    timings["predict_staircase A5"] = (time.perf_counter() - t0) / 20
    try:
        from groupcomp.theory.agf import simulate

        D3 = parse("D3")
        t0 = time.perf_counter()
        simulate(D3, fourier_template(D3, [0, 30, 3000]), 2)
        timings["AGF simulate D3 (0,30,3000)"] = time.perf_counter() - t0
    except Exception as exc:  # the simulator may not exist in older checkouts
        timings["AGF simulate"] = float("nan")
        print(f"AGF: {exc}", file=sys.stderr)
    del np
    return {"name": "theory", "timings": timings, "peak_rss_mb": _peak_mb()}


def case_irreps(spec: dict) -> dict:
    from groupcomp.groups import FiniteGroup, dihedral, parse

    _set_threads(1)
    timings = {}
    for spec_ in ("S4", "A5", "Q8xC16"):
        tab = parse(spec_).table
        G = FiniteGroup(tab, name=spec_)  # no structure hint: the generic decomposition
        t0 = time.perf_counter()
        G.irreps()
        timings[f"irreps {spec_} (order {G.order}, generic)"] = time.perf_counter() - t0
    G = FiniteGroup(dihedral(64).table, name="D64")
    t0 = time.perf_counter()
    G.irreps()
    timings["irreps D64 (order 128, generic)"] = time.perf_counter() - t0
    return {"name": "irreps", "timings": timings, "peak_rss_mb": _peak_mb()}


def case_arith(spec: dict) -> dict:
    """Per-epoch time of arithmetic runs (:mod:`benchmarks.arith`)."""
    from benchmarks.arith import case_arith as run

    return run(spec)


def main() -> None:
    spec = json.loads(sys.argv[1])
    fn = {
        "matmul": case_matmul,
        "train": case_train,
        "e2e": case_e2e,
        "seeds": case_seeds,
        "seed_runs": case_seed_runs,
        "online": case_online,
        "theory": case_theory,
        "irreps": case_irreps,
        "arith": case_arith,
    }[spec["kind"]]
    print(json.dumps(fn(spec)))


if __name__ == "__main__":
    main()
