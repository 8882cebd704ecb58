"""Group-arithmetic runs (CoGS / grokking setting): build, train, write the run folder.

``train_arith(load_config("arith_z23", overrides, schema=ArithConfig))`` is all the
``groupcomp arith`` command needs; :func:`print_arith_summary` formats the result.

Setting (THEORY.md §5, P3 = Y. Tian arXiv 2410.01779; §6, P4 = arXiv 2509.21519): one-hot
operands, :class:`~groupcomp.models.ArithNet`, full-batch (or mini-batch) epochs, a train/test
split of the ``M^k`` tuples (fixed fraction or P4's critical count). Losses:

* ``mse`` — P3's zero-mean projected loss ``mean over tuples of ‖P^⊥ o − (e_c − 1/M)‖²``, summed
  over the ``M`` outputs (= ``M ×`` the project's mean-MSE); it equals ``(M−1)/M`` at ``o = 0``.
  (P3's code uses this normalisation; it matters for Adam's coupled L2 weight decay.)
* ``ce`` — cross-entropy over the ``M`` logits, mean over tuples.

Run folder (like ``groupcomp.training.run``)::

    <out>/<preset>-<timestamp>/
        config.yaml, provenance.json, summary.json
        metrics.parquet      one row per (epoch, seed): epoch, seed, train_loss, test_loss,
                             train_acc, test_acc (every epoch; row e = after e epochs), and
                             power/<irrep> (Fourier power of the input weights, log epochs only)
        checkpoints/checkpoints.pt   {epoch: state_dict} at log-spaced epochs
        checkpoints/last.pt          model + optimiser + split of the latest checkpoint
        figures/accuracy.png|pdf, figures/power.png|pdf
"""

from __future__ import annotations

import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from omegaconf import DictConfig

from groupcomp.config import load_config, to_yaml
from groupcomp.config.arith import ArithConfig, validate_arith
from groupcomp.errors import DivergenceError
from groupcomp.models.arith import ArithNet
from groupcomp.optim import make_optimizer
from groupcomp.tasks.arithmetic import (
    ArithmeticTask,
    Split,
    SplitCounts,
    centred_onehot,
    make_split,
    make_task,
    split_counts,
)
from groupcomp.training.loop import log_spaced_steps
from groupcomp.training.runfolder import (
    atomic_torch_save,
    atomic_write_bytes,
    atomic_write_text,
    new_run_dir,
    provenance,
)
from groupcomp.training.runfolder import jsonable as _jsonable

__all__ = [
    "ArithBuilt",
    "ArithResult",
    "arith_loss",
    "build_arith",
    "print_arith_summary",
    "train_arith",
    "write_arith_figures",
]

_DTYPES = {"float32": torch.float32, "float64": torch.float64}


@dataclass
class ArithBuilt:
    """Everything a run needs, built from a config (no I/O)."""

    cfg: DictConfig
    task: ArithmeticTask
    counts: SplitCounts
    split: Split
    model: ArithNet
    optimizer: torch.optim.Optimizer
    irrep_labels: list[str]


@dataclass
class ArithResult:
    """What :func:`train_arith` returns."""

    run_dir: Path | None
    metrics: pd.DataFrame
    summary: dict[str, Any]
    model: ArithNet
    task: ArithmeticTask
    split: Split


def arith_loss(out: torch.Tensor, y: torch.Tensor, kind: str) -> torch.Tensor:
    """Per-model loss ``(S,)`` of outputs ``(S, B, M)`` against class targets ``(S, B)``.

    ``mse``: ``mean_b ‖P^⊥ o_b − (e_{y_b} − 1/M)‖²`` (summed over outputs, P3's loss);
    ``ce``: mean cross-entropy.
    """
    S, B, M = out.shape
    if kind == "ce":
        return (
            F.cross_entropy(out.reshape(S * B, M), y.reshape(S * B), reduction="none")
            .view(S, B)
            .mean(-1)
        )
    oc = out - out.mean(-1, keepdim=True)
    return (oc - centred_onehot(y, M, out.dtype)).pow(2).sum(-1).mean(-1)


def _accuracy(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return (out.argmax(-1) == y).to(out.dtype).mean(-1)


def _make_model(cfg: DictConfig, task: ArithmeticTask, dtype, device) -> ArithNet:
    """Batched model whose member ``s`` equals a single model initialised with seed
    ``seeds[s]`` (so a seed gives the same run alone or in a batch)."""
    m = cfg.model
    seeds = [int(s) for s in cfg.train.seeds]

    def one(num_models: int, seed: int) -> ArithNet:
        return ArithNet(
            task.M,
            task.num_operands,
            int(m.hidden),
            num_models,
            activation=m.activation,
            embedding=m.embedding,
            embed_dim=m.embed_dim,
            layers=int(m.layers),
            ridge=bool(m.ridge),
            init_scale=float(m.init_scale),
            generator=torch.Generator().manual_seed(seed),
            dtype=dtype,
            device=device,
        )

    model = one(len(seeds), seeds[0])
    with torch.no_grad():
        for s, seed in enumerate(seeds[1:], start=1):
            single = one(1, seed)
            for (_, p), (_, q) in zip(
                model.named_parameters(), single.named_parameters(), strict=True
            ):
                p[s].copy_(q[0])
            if model.ridge:
                model.W_out[s].copy_(single.W_out[0])
    return model


def build_arith(cfg: DictConfig) -> ArithBuilt:
    """Validate ``cfg`` and build task, split, model and optimiser."""
    validate_arith(cfg)
    dtype = _DTYPES[cfg.train.dtype]
    device = torch.device(cfg.train.device)
    task = make_task(
        cfg.group,
        op=cfg.task.op,
        expression=cfg.task.expression,
        num_operands=int(cfg.task.num_operands),
    )
    s = cfg.split
    counts = split_counts(
        task,
        s.mode,
        train_fraction=float(s.train_fraction),
        c=float(s.c),
        offset=float(s.offset),
        correction=bool(s.nonabelian_correction),
    )
    seeds = [int(x) for x in cfg.train.seeds]
    split_seeds = seeds if s.seed is None else [int(s.seed)] * len(seeds)
    split = make_split(task, counts, split_seeds)
    model = _make_model(cfg, task, dtype, device)
    o = cfg.optim
    optimizer = make_optimizer(
        o.name,
        model,
        lr=float(o.lr),
        momentum=None if o.momentum is None else float(o.momentum),
        weight_decay=float(o.weight_decay),
        betas=(float(o.betas[0]), float(o.betas[1])),
    )
    G = task.operand_group
    labels = [r.label for r in G.irreps()] if G is not None else []
    return ArithBuilt(cfg, task, counts, split, model, optimizer, labels)


# ---------------------------------------------------------------------------------------------
# training loop


class _Recorder:
    """Per-epoch metrics ``(E + 1, S)`` and power at log epochs."""

    def __init__(self, epochs: int, S: int) -> None:
        shape = (epochs + 1, S)
        self.train_loss = np.full(shape, np.nan)
        self.test_loss = np.full(shape, np.nan)
        self.train_acc = np.full(shape, np.nan)
        self.test_acc = np.full(shape, np.nan)
        self.power: dict[int, np.ndarray] = {}

    def put(self, e: int, tr_l, te_l, tr_a, te_a) -> None:
        self.train_loss[e] = tr_l.detach().double().cpu().numpy()
        self.test_loss[e] = te_l.detach().double().cpu().numpy()
        self.train_acc[e] = tr_a.detach().double().cpu().numpy()
        self.test_acc[e] = te_a.detach().double().cpu().numpy()


def _power(b: ArithBuilt) -> np.ndarray | None:
    """Fourier power per irrep of the effective input weights, summed over neurons and
    operands: ``(S, R)``."""
    G = b.task.operand_group
    if G is None:
        return None
    from groupcomp.fourier import power

    with torch.no_grad():
        u = b.model.symbol_weights().detach().double().cpu()  # (S, H, k, M)
        return power(G, u).sum(dim=(1, 2)).numpy()


def _metrics_frame(rec: _Recorder, done: int, seeds: list[int], labels: list[str]) -> pd.DataFrame:
    E = done + 1
    S = len(seeds)
    cols: dict[str, np.ndarray] = {
        "epoch": np.repeat(np.arange(E), S),
        "seed": np.tile(np.asarray(seeds), E),
        "train_loss": rec.train_loss[:E].reshape(-1),
        "test_loss": rec.test_loss[:E].reshape(-1),
        "train_acc": rec.train_acc[:E].reshape(-1),
        "test_acc": rec.test_acc[:E].reshape(-1),
    }
    if labels:
        pw = np.full((E, S, len(labels)), np.nan)
        for e, p in rec.power.items():
            if e < E:
                pw[e] = p
        for j, lab in enumerate(labels):
            cols[f"power/{lab}"] = pw[:, :, j].reshape(-1)
    return pd.DataFrame(cols)


def _threads(cfg: DictConfig) -> int:
    return int(cfg.train.threads) if cfg.train.threads is not None else 1


def _progress(total: int, enabled: bool):
    if not enabled or not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="epoch", dynamic_ncols=True, leave=False)


def train_arith(
    cfg: DictConfig | str,
    out: str | Path | None = "runs",
    *,
    name: str | None = None,
    quiet: bool = False,
) -> ArithResult:
    """Train a group-arithmetic run and write its run folder under ``out``.

    Args:
        cfg: a config from ``load_config(preset, overrides, schema=ArithConfig)``, or a preset
            name.
        out: parent folder of the run folder; ``None`` = write nothing.
        name: exact run-folder name (default ``<preset>-<timestamp>``); never overwritten
            (:class:`~groupcomp.errors.RunFolderError` if it exists).
        quiet: no progress bar.

    Raises:
        DivergenceError: a loss became NaN/inf; the run folder keeps the last good checkpoint and
            a summary with ``status: diverged``.
    """
    if isinstance(cfg, str):
        cfg = load_config(cfg, schema=ArithConfig)
    b = build_arith(cfg)
    seeds = [int(s) for s in cfg.train.seeds]
    S = len(seeds)
    epochs = int(cfg.train.epochs)
    log_epochs = set(int(e) for e in log_spaced_steps(epochs, int(cfg.train.log_points)))
    ckpt_epochs = set(int(e) for e in log_spaced_steps(epochs, int(cfg.train.checkpoints)))
    model, opt, split, task = b.model, b.optimizer, b.split, b.task
    device = model.encoding.device
    kind = str(cfg.loss)
    ridge, lam = bool(cfg.model.ridge), float(cfg.model.ridge_lambda)
    grad_clip = cfg.optim.grad_clip
    train_x, test_x = split.train.to(device), split.test.to(device)
    train_y, test_y = split.train_y.to(device), split.test_y.to(device)
    train_Y = centred_onehot(train_y, task.M, model.encoding.dtype) if ridge else None
    n_train = train_x.shape[1]
    bs = cfg.train.batch_size
    minibatch = bs is not None and int(bs) < n_train
    batch_gens = [torch.Generator().manual_seed(s + 1_000_003) for s in seeds]

    run_dir: Path | None = None
    if out is not None:
        run_dir = new_run_dir(Path(out), name or str(cfg.preset), exact=name is not None)
        atomic_write_text(run_dir / "config.yaml", to_yaml(cfg))
        atomic_write_text(run_dir / "provenance.json", json.dumps(provenance(), indent=2))
    snapshots: dict[int, dict[str, torch.Tensor]] = {}

    def checkpoint(e: int) -> None:
        if run_dir is None:
            return
        snapshots[e] = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        atomic_torch_save(run_dir / "checkpoints" / "checkpoints.pt", snapshots)
        atomic_torch_save(
            run_dir / "checkpoints" / "last.pt",
            {
                "epoch": e,
                "model": model.state_dict(),
                "optimizer": opt.state_dict(),
                "train_idx": split.train_idx,
                "test_idx": split.test_idx,
            },
        )

    def evaluate(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if x.shape[1] == 0:
            nan = torch.full((S,), float("nan"))
            return nan, nan
        with torch.no_grad():
            o = model(x)
            return arith_loss(o, y, kind), _accuracy(o, y)

    rec = _Recorder(epochs, S)
    old_threads = torch.get_num_threads()
    torch.set_num_threads(_threads(cfg))
    bar = _progress(epochs, bool(cfg.train.progress) and not quiet)
    status, error, done = "completed", None, 0
    first_grok = np.full(S, -1)
    patience = cfg.train.stop_after_grok
    t0 = time.perf_counter()
    try:
        for e in range(epochs + 1):
            if ridge:
                model.fit_readout(train_x, train_Y, lam)
            if minibatch or e == epochs:
                tr_l, tr_a = evaluate(train_x, train_y)
                out_full = None
            else:
                out_full = model(train_x)
                loss_s = arith_loss(out_full, train_y, kind)
                tr_l, tr_a = loss_s, _accuracy(out_full.detach(), train_y)
            te_l, te_a = evaluate(test_x, test_y)
            if not bool(torch.isfinite(tr_l).all()):
                bad = [seeds[i] for i in range(S) if not math.isfinite(float(tr_l[i].detach()))]
                raise DivergenceError(
                    f"training loss became NaN/inf at epoch {e} (seeds {bad}); try a smaller "
                    f"optim.lr or model.init_scale"
                )
            rec.put(e, tr_l, te_l, tr_a, te_a)
            done = e
            if e in ckpt_epochs:
                checkpoint(e)  # only states whose loss is finite are saved
            if e in log_epochs or e == epochs:
                p = _power(b)
                if p is not None:
                    rec.power[e] = p
            newly = (te_a.detach().cpu().numpy() >= 1.0) & (first_grok < 0)
            first_grok[newly] = e
            if e == epochs:
                break
            if patience is not None and (first_grok >= 0).all():
                if e >= first_grok.max() + int(patience):
                    if e not in rec.power:
                        p = _power(b)
                        if p is not None:
                            rec.power[e] = p
                    break
            # ---- one epoch of updates
            if not minibatch:
                opt.zero_grad(set_to_none=True)
                loss_s.sum().backward()
                _clip(model, grad_clip)
                opt.step()
            else:
                perm = torch.stack([torch.randperm(n_train, generator=g) for g in batch_gens]).to(
                    device
                )
                for start in range(0, n_train, int(bs)):
                    idx = perm[:, start : start + int(bs)]
                    xb = torch.take_along_dim(train_x, idx[..., None], dim=1)
                    yb = torch.take_along_dim(train_y, idx, dim=1)
                    if ridge and start > 0:
                        model.fit_readout(train_x, train_Y, lam)
                    opt.zero_grad(set_to_none=True)
                    lb = arith_loss(model(xb), yb, kind)
                    if not bool(torch.isfinite(lb).all()):
                        raise DivergenceError(
                            f"training loss became NaN/inf in epoch {e + 1}; try a smaller "
                            f"optim.lr or model.init_scale"
                        )
                    lb.sum().backward()
                    _clip(model, grad_clip)
                    opt.step()
            if bar is not None:
                bar.update(1)
    except DivergenceError as exc:
        status, error = "diverged", exc
    finally:
        if bar is not None:
            bar.close()
        torch.set_num_threads(old_threads)
    wall = time.perf_counter() - t0
    if status == "completed" and done not in ckpt_epochs:
        checkpoint(done)  # stopped early: the final state is always saved
    metrics = _metrics_frame(rec, done, seeds, b.irrep_labels)
    summary = _summary(b, metrics, status, done, wall)
    if run_dir is not None:
        atomic_write_bytes(run_dir / "metrics.parquet", metrics.to_parquet(index=False))
        summary["run_dir"] = str(run_dir)
        atomic_write_text(run_dir / "summary.json", json.dumps(summary, indent=2))
        if len(metrics):
            write_arith_figures(run_dir, metrics, summary)
    if error is not None:
        where = f" Run folder: {run_dir} (last good checkpoint kept)." if run_dir else ""
        raise DivergenceError(str(error) + "." + where) from None
    return ArithResult(run_dir, metrics, summary, model, task, split)


def _clip(model: torch.nn.Module, grad_clip: float | None) -> None:
    if grad_clip is not None:
        torch.nn.utils.clip_grad_norm_(model.parameters(), float(grad_clip))


# ---------------------------------------------------------------------------------------------
# summary, figures, printing


def _summary(
    b: ArithBuilt, metrics: pd.DataFrame, status: str, done: int, wall: float
) -> dict[str, Any]:
    from groupcomp.analysis.arith import grokking_epochs

    cfg, task = b.cfg, b.task
    seeds = [int(s) for s in cfg.train.seeds]
    last = metrics[metrics.epoch == metrics.epoch.max()].set_index("seed")
    final = {
        col: [float(last.loc[s, col]) for s in seeds]
        for col in ("train_acc", "test_acc", "train_loss", "test_loss")
    }
    grok = grokking_epochs(metrics)
    G = task.operand_group
    irr = None
    if b.irrep_labels and "power/" + b.irrep_labels[0] in metrics:
        rows = metrics.dropna(subset=["power/" + b.irrep_labels[0]])
        rows = rows[rows.epoch == rows.epoch.max()].set_index("seed")
        irr = {lab: [float(rows.loc[s, "power/" + lab]) for s in seeds] for lab in b.irrep_labels}
    out = {
        "kind": "arith",
        "preset": cfg.preset,
        "group": cfg.group,
        "task": task.name,
        "op": task.kind,
        "expression": task.expression.source if task.expression is not None else None,
        "expression_parsed": task.expression.canonical() if task.expression is not None else None,
        "num_operands": task.num_operands,
        "num_symbols": task.M,
        "operand_group": G.name if G is not None else None,
        "operand_group_abelian": bool(G.is_abelian) if G is not None else None,
        "loss": str(cfg.loss),
        "loss_units": (
            "mse: mean over tuples of ||P_perp o - (e_c - 1/M)||^2 summed over the M outputs "
            "(P3's loss; (M-1)/M at o = 0)"
            if cfg.loss == "mse"
            else "ce: mean cross-entropy over tuples"
        ),
        "model": {
            "hidden": int(cfg.model.hidden),
            "activation": str(cfg.model.activation),
            "embedding": str(cfg.model.embedding),
            "layers": int(cfg.model.layers),
            "ridge": bool(cfg.model.ridge),
        },
        "optimizer": str(cfg.optim.name),
        "seeds": seeds,
        "status": status,
        "epochs_done": int(done),
        "epochs_requested": int(cfg.train.epochs),
        "stopped_after_grok": status == "completed" and done < int(cfg.train.epochs),
        "split": {
            **b.counts.to_dict(),
            "c": float(cfg.split.c),
            "offset": float(cfg.split.offset) if cfg.split.mode == "critical" else None,
            "seed": "per-member training seed" if cfg.split.seed is None else int(cfg.split.seed),
        },
        "final": {**final, "mean_test_acc": float(np.mean(final["test_acc"]))},
        "grokking_epoch": [grok["test_epoch"].get(s) for s in seeds],
        "grokking_epoch_stable": [grok["test_epoch_stable"].get(s) for s in seeds],
        "train100_epoch": [grok["train_epoch"].get(s) for s in seeds],
        "final_power": irr,
        "wall_time_s": wall,
        "epochs_per_s": done / wall if wall > 0 else None,
        **provenance(),
    }
    return _jsonable(out)


def power_curves_figure(metrics: pd.DataFrame, labels: list[str], *, title: str | None = None):
    """Fourier power of the input weights per irrep (mean over seeds) against ``epoch + 1``
    (log-log). Lines carry ``gid="learned-power:<label>"``."""
    from groupcomp.viz.style import irrep_colors, new_figure, style_context

    colors = irrep_colors(labels)
    with style_context():
        fig, ax = new_figure(figsize=(7.2, 4.2))
        peak = 0.0
        series = {}
        for lab in labels:
            col = "power/" + lab
            if col not in metrics:
                continue
            m = metrics[["epoch", col]].dropna().groupby("epoch")[col].mean()
            if m.empty:
                continue
            series[lab] = m
            peak = max(peak, float(m.max()))
        floor = 1e-6 * peak if peak > 0 else 1e-12
        for lab, m in series.items():
            ax.plot(
                m.index.to_numpy() + 1.0,
                np.maximum(m.to_numpy(), floor),
                lw=1.2,
                marker="o",
                ms=2.5,
                color=colors[lab],
                gid=f"learned-power:{lab}",
                label=lab,
            )
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("epoch + 1")
        ax.set_ylabel("power of input weights (sum over neurons)")
        if title:
            ax.set_title(title)
        if len(series) <= 14:
            ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize="small")
    return fig


def write_arith_figures(run_dir: Path, metrics: pd.DataFrame, summary: dict) -> list[Path]:
    """``figures/accuracy`` (and ``figures/power`` when the operands form a group), png + pdf."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from groupcomp.viz import accuracy_figure, save_figure

    title = f"{summary['task']}, {summary['loss']}, n_train={summary['split']['n_train']}"
    paths = save_figure(
        accuracy_figure(metrics, title=title), Path(run_dir) / "figures" / "accuracy"
    )
    labels = [c[len("power/") :] for c in metrics.columns if c.startswith("power/")]
    if labels and metrics[[f"power/{lab}" for lab in labels]].notna().any().any():
        fig = power_curves_figure(metrics, labels, title=title)
        paths += save_figure(fig, Path(run_dir) / "figures" / "power")
    return paths


def _fmt_epochs(vals: list) -> str:
    return ", ".join("never" if v is None else str(v) for v in vals)


def print_arith_summary(summary: dict[str, Any]) -> str:
    """A few human-readable lines describing a run's ``summary.json``."""
    s = summary
    sp = s["split"]
    fin = s["final"]
    lines = [
        f"{s['task']} (k={s['num_operands']}, M={s['num_symbols']}), loss={s['loss']}, "
        f"{s['optimizer']}: {s['status']} after {s['epochs_done']} epochs in "
        f"{s['wall_time_s']:.1f} s",
        f"  split ({sp['mode']}): {sp['n_train']} train / {sp['n_test']} test of "
        f"{sp['n_total']} ({100 * sp['train_fraction']:.1f} %); critical count "
        f"{sp['critical_count']:.1f} ({100 * sp['critical_fraction']:.1f} %)",
        "  final train acc: " + ", ".join(f"{100 * a:.1f} %" for a in fin["train_acc"]),
        "  final test acc:  "
        + ", ".join("-" if a is None else f"{100 * a:.1f} %" for a in fin["test_acc"]),
        f"  train 100 % at epoch: {_fmt_epochs(s['train100_epoch'])}",
        f"  test 100 % at epoch:  {_fmt_epochs(s['grokking_epoch'])}",
    ]
    if s.get("run_dir"):
        lines.append(f"  run folder: {s['run_dir']}")
    return "\n".join(lines)
