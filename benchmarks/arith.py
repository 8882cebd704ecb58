"""Arithmetic (CoGS / grokking) runs: time per full-batch epoch (issue 16).

Cases, each in its own process at one torch thread count:

* ``arith:Z23 H=512``: the ``arith_z23`` preset (Z23, hidden 512, float32, Adam with weight decay,
  projected MSE, 476 training pairs + 53 test pairs): the fused step
  (``ArithNet.loss_and_grad``, fused Adam) vs the reference path as it was before it
  (``ArithObjective.use_fused = False``: autograd; torch's for-loop Adam), timed in interleaved
  chunks so that a shared machine's drifts hit both; compared
  with the CoGS author's own code, :data:`COGS_AUTHOR_MS` per epoch on this kind of machine
  (issue 16; that code is not part of this repository, so it is not rerun here);
* ``arith:Z127 H=512``: the same preset on Z127 (14 516 + 1 613 pairs): the same pair, plus the
  achieved GFLOP/s against torch matmuls of the same shapes measured in the same process (the
  step's three products ``h W``, ``gᵀ h``, ``g Wᵀ`` as plain ``@``) and against a float32
  1024² matmul.

FLOPs of an epoch: ``2·N·H·M`` for the forward pass over all ``N`` pairs (train and test share
it) plus ``2·2·n·H·M`` for the two backward products over the ``n`` training pairs; the lookups,
element-wise work and the optimiser are not counted. Each row records the 1-minute load average
before and after it.

``python -m benchmarks.arith [--quick] [--threads 1 2]`` writes
``benchmarks/results/<date>-arith-<HHMMSS>.json``; ``python -m benchmarks`` runs the same cases
(names ``arith:...``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

from benchmarks._proc import load_average, run_json

HERE = Path(__file__).resolve().parent
#: the CoGS author's code, ms per full-batch epoch at Z23 hidden 512 on a 2-core CPU (issue 16)
COGS_AUTHOR_MS = 7.9


def arith_specs(quick: bool = False, threads: tuple[int, ...] = (1, 2)) -> list[dict]:
    """The case specs (JSON-able) of :func:`case_arith`."""
    specs = []
    for t in threads:
        # one fit call per chunk: its fixed cost (the final whole-split evaluation, ~1 ms at
        # Z23, ~25 ms at Z127) is spread over the chunk's epochs
        for M, chunk, rounds in ((23, 200, 7), (127, 8, 3)):
            specs.append(
                {
                    "name": f"arith:Z{M} H=512 threads={t}",
                    "kind": "arith",
                    "M": M,
                    "hidden": 512,
                    "threads": t,
                    "chunk": max(1, chunk // (4 if quick else 1)),
                    "rounds": 2 if quick else rounds,
                }
            )
    return specs


def _median_time(fn, rounds: int) -> tuple[float, list[float]]:
    fn()
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), times


def _matmul_rates(M: int, H: int, n: int, N: int, rounds: int) -> dict:
    """GFLOP/s of torch float32 matmuls with the step's shapes, and of a 1024² one."""
    import torch

    g = torch.Generator().manual_seed(0)
    h = torch.randn(N, H, generator=g)
    W = torch.randn(H, M, generator=g)
    d = torch.randn(n, M, generator=g)
    products = {
        "h @ W (forward)": (lambda: h @ W, 2 * N * H * M),
        "d.T @ h[:n] (grad W_out)": (lambda: d.T @ h[:n], 2 * n * H * M),
        "d @ W.T (grad h)": (lambda: d @ W.T, 2 * n * H * M),
    }
    total_t, total_f, each = 0.0, 0, {}
    for name, (fn, flops) in products.items():
        t, _ = _median_time(lambda fn=fn: [fn() for _ in range(5)], rounds)
        total_t += t / 5
        total_f += flops
        each[name] = flops * 5 / t / 1e9
    a, b = torch.randn(1024, 1024, generator=g), torch.randn(1024, 1024, generator=g)
    t, _ = _median_time(lambda: [a @ b for _ in range(10)], rounds)
    return {
        "same_shapes_gflops": total_f / total_t / 1e9,
        "same_shapes_each_gflops": each,
        "matmul_1024_gflops": 2 * 1024**3 * 10 / t / 1e9,
    }


def case_arith(spec: dict) -> dict:
    """Per-epoch wall time of the fused step and the autograd path (interleaved chunks)."""
    import torch

    from groupcomp.config import load_config
    from groupcomp.config.arith import ArithConfig
    from groupcomp.runs import build
    from groupcomp.training import Schedule, fit

    threads, M, H = int(spec["threads"]), int(spec["M"]), int(spec["hidden"])
    chunk, rounds = int(spec["chunk"]), int(spec["rounds"])
    torch.set_num_threads(threads)
    load_before = load_average()
    exps = {}
    for path in ("fused", "reference"):
        cfg = load_config(
            "arith_z23",
            [f"group=Z{M}", f"model.hidden={H}", f"train.threads={threads}"]
            + ["train.progress=false"],
            schema=ArithConfig,
        )
        b = build(cfg)
        if path == "reference":  # the path before the fast one: autograd, for-loop Adam
            b.objective.use_fused = False
            d = b.optimizer.defaults
            keep = {k: d[k] for k in ("lr", "betas", "eps", "weight_decay")}
            b.optimizer = type(b.optimizer)(list(b.model.parameters()), **keep, fused=False)
        fit(b.model, b.objective, b.optimizer, b.data, Schedule(steps=2), settings=b.settings)
        exps[path] = b
    times: dict[str, list[float]] = {p: [] for p in exps}
    for _ in range(rounds):
        for path, b in exps.items():
            t0 = time.perf_counter()
            sched = Schedule(steps=chunk)
            fit(b.model, b.objective, b.optimizer, b.data, sched, settings=b.settings)
            times[path].append((time.perf_counter() - t0) / chunk)
    b = exps["fused"]
    n, N = int(b.objective.train_x.shape[1]), M**2
    flops = 2 * N * H * M + 4 * n * H * M
    fused = statistics.median(times["fused"])
    ref = statistics.median(times["reference"])
    rates = _matmul_rates(M, H, n, N, max(3, rounds))
    out = {
        "name": spec["name"],
        "threads": threads,
        "M": M,
        "hidden": H,
        "n_train": n,
        "epochs_timed": chunk * rounds,
        "ms_per_epoch": fused * 1e3,
        "ms_per_epoch_all": [t * 1e3 for t in times["fused"]],
        "reference_ms_per_epoch": ref * 1e3,
        "reference_ms_per_epoch_all": [t * 1e3 for t in times["reference"]],
        "speedup_vs_reference": ref / fused,
        "gflops": flops / fused / 1e9,
        "reference_gflops": flops / ref / 1e9,
        **rates,
        "fraction_of_same_shapes_matmul": flops / fused / 1e9 / rates["same_shapes_gflops"],
        "fraction_of_matmul_1024": flops / fused / 1e9 / rates["matmul_1024_gflops"],
        "load_before": load_before,
        "load_after": load_average(),
        "note": f"fit calls of {chunk} epochs (no probes/checkpoints); median of {rounds} "
        "interleaved chunks per path",
    }
    if M == 23 and H == 512:
        out["cogs_author_ms_per_epoch"] = COGS_AUTHOR_MS
        out["speedup_vs_cogs_author"] = COGS_AUTHOR_MS / (fused * 1e3)
    return out


def run_case(spec: dict) -> dict:
    """One case in a fresh subprocess (its own thread setting)."""

    env = dict(os.environ, OMP_NUM_THREADS=str(spec["threads"]))
    return run_json("benchmarks.arith", ["--case", json.dumps(spec)], spec["name"], env)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.arith", description=__doc__)
    p.add_argument("--quick", action="store_true", help="fewer epochs (smoke run)")
    p.add_argument("--threads", type=int, nargs="*", default=[1, 2])
    p.add_argument("--out", default=str(HERE / "results"))
    p.add_argument("--case", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.case:
        print(json.dumps(case_arith(json.loads(args.case))))
        return 0
    t0 = time.perf_counter()
    results = []
    for spec in arith_specs(args.quick, tuple(args.threads)):
        print(f"... {spec['name']}", file=sys.stderr, flush=True)
        r = run_case(spec)
        results.append(r)
        keys = ("ms_per_epoch", "reference_ms_per_epoch", "speedup_vs_reference", "gflops",
                "same_shapes_gflops", "fraction_of_same_shapes_matmul", "speedup_vs_cogs_author",
                "load_before", "error")  # fmt: skip
        print("  " + ", ".join(f"{k} {r[k]:.4g}" if isinstance(r[k], float) else f"{k} {r[k]}"
                               for k in keys if k in r))  # fmt: skip
    doc = {
        "date": dt.datetime.now().isoformat(timespec="seconds"),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
        "quick": args.quick,
        "total_s": time.perf_counter() - t0,
        "results": results,
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{dt.date.today().isoformat()}-arith-{dt.datetime.now().strftime('%H%M%S')}.json"
    path.write_text(json.dumps(doc, indent=2))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
