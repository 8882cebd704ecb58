"""A complete training run from a config: build, fit, and write the run folder.

``train(load_config("d3"))`` is what ``groupcomp train d3`` calls.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from omegaconf import DictConfig

from groupcomp.config import load_config, to_yaml, validate
from groupcomp.errors import DivergenceError, GroupcompError, RunFolderError
from groupcomp.groups import FiniteGroup, parse
from groupcomp.models import QuadraticRNN, TreeNet, TwoLayerNet
from groupcomp.optim import make_optimizer, resolve_optimizer_name
from groupcomp.tasks import SequenceTask
from groupcomp.templates import make_template
from groupcomp.theory import Staircase, predict_staircase
from groupcomp.theory.timing import DropTimes, predict_drop_times
from groupcomp.training.loop import (
    DataStream,
    FitState,
    SpectralProbe,
    fit,
    log_spaced_steps,
    uses_compiled_engine,
)
from groupcomp.training.runfolder import (
    atomic_torch_save,
    atomic_write_text,
    new_run_dir,
    provenance,
    read_json,
)
from groupcomp.training.runfolder import jsonable as _jsonable

__all__ = ["Built", "RunResult", "build", "build_template", "metrics_frame", "resume", "train"]

_DTYPES = {"float32": torch.float32, "float64": torch.float64}


@dataclass
class Built:
    """Everything a run needs, built from a config (no I/O)."""

    cfg: DictConfig
    G: FiniteGroup
    template: np.ndarray
    task: SequenceTask
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    data: DataStream
    probe: SpectralProbe
    val_probe: SpectralProbe | None
    staircase: Staircase
    init_norm: float = float("nan")  # RMS neuron norm at initialisation


@dataclass
class RunResult:
    """What :func:`train` returns."""

    run_dir: Path | None
    metrics: pd.DataFrame
    summary: dict[str, Any]
    model: torch.nn.Module
    staircase: Staircase
    state: FitState


def build_template(cfg: DictConfig, G: FiniteGroup) -> np.ndarray:
    """The template of ``cfg.template`` on ``G`` (own seeded ``numpy`` generator)."""
    t = cfg.template
    seed = t.seed if t.seed is not None else int(cfg.train.seeds[0])
    rng = np.random.default_rng(seed)
    kind = t.kind
    params: dict[str, Any] = {}
    if kind == "onehot":
        params = {"scale": t.scale}
    elif kind in ("powers", "powers_random"):
        params = {"powers": list(t.powers)}
    elif kind == "gaussian":
        params = {"std": t.std}
    elif kind == "bumps":
        params = {"sigma": t.sigma, "centers": (t.bumps or None)}
    elif kind == "digits":
        params = {"digit": t.digit, "index": t.index, "scale": t.scale}
    return make_template(G, kind, rng=rng, **params)


def _make_model(cfg: DictConfig, task: SequenceTask, dtype, device) -> torch.nn.Module:
    """One batched model whose member ``s`` is initialised exactly as a single model with
    generator seed ``seeds[s]`` (so a seed gives the same run alone or in a batch)."""
    m = cfg.model
    enc = torch.tensor(task.encoding, dtype=dtype)
    seeds = [int(s) for s in cfg.train.seeds]

    def one(num_models: int, seed: int) -> torch.nn.Module:
        gen = torch.Generator().manual_seed(seed)
        common = dict(
            encoding=enc,
            k=task.k,
            hidden=m.hidden,
            num_models=num_models,
            init_scale=m.init_scale,
            generator=gen,
            dtype=dtype,
            device=device,
        )
        if m.name == "two_layer":
            return TwoLayerNet(**common, activation=m.activation)
        if m.name == "rnn":
            return QuadraticRNN(**common, transition=m.transition)
        return TreeNet(**common, activation=m.activation)

    model = one(len(seeds), seeds[0])
    with torch.no_grad():
        for s, seed in enumerate(seeds):
            single = one(1, seed)
            for p, q in zip(model.parameters(), single.parameters(), strict=True):
                p[s].copy_(q[0])
    return model


def build(cfg: DictConfig) -> Built:
    """Validate ``cfg`` and build group, template, task, model, optimiser, data and theory."""
    validate(cfg)
    dtype = _DTYPES[cfg.train.dtype]
    device = torch.device(cfg.train.device)
    G = parse(cfg.group)
    template = build_template(cfg, G)
    task = SequenceTask(G, template, int(cfg.task.k))
    model = _make_model(cfg, task, dtype, device)
    o = cfg.optim
    optimizer = make_optimizer(
        o.name,
        model,
        lr=o.lr,
        momentum=o.momentum if o.momentum else None,
        weight_decay=o.weight_decay,
        betas=tuple(o.betas),
        adam_lr=o.adam_lr,
    )
    seeds = [int(s) for s in cfg.train.seeds]
    val_seq = None
    if cfg.task.data == "online":
        data = DataStream(task, "online", seeds, batch_size=cfg.task.batch_size, device=device)
        gen = torch.Generator().manual_seed(seeds[0] + 7)
        eval_seq = task.sample(min(4096, task.num_sequences), gen)
    else:
        if cfg.task.val_fraction > 0:
            gen = torch.Generator().manual_seed(seeds[0])
            train_seq, val_seq = task.split(cfg.task.val_fraction, gen)
        else:
            train_seq = task.exhaustive()
        bs = cfg.task.batch_size
        mode = "full" if bs is None or bs >= train_seq.shape[0] else "minibatch"
        data = DataStream(task, mode, seeds, train_seq=train_seq, batch_size=bs, device=device)
        eval_seq = train_seq
        if eval_seq.shape[0] > 65536:  # spectra on a fixed subsample of a large training set
            gen = torch.Generator().manual_seed(seeds[0] + 11)
            eval_seq = eval_seq[torch.randperm(eval_seq.shape[0], generator=gen)[:65536]]
    probe = SpectralProbe(task, eval_seq, dtype, device)
    val_probe = SpectralProbe(task, val_seq, dtype, device) if val_seq is not None else None
    staircase = predict_staircase(G, template, int(cfg.task.k))
    init_norm = float(model.neuron_norms().pow(2).mean().sqrt())
    return Built(
        cfg, G, template, task, model, optimizer, data, probe, val_probe, staircase, init_norm
    )


def metrics_frame(state: FitState, labels: list[str], seeds: list[int], n: int) -> pd.DataFrame:
    """One row per (step, seed): ``step, seed, loss, loss_p1`` every step; at log steps also
    ``eval_loss, val_loss, param_norm, irrep_loss/<label>, power/<label>`` (NaN elsewhere).

    ``loss`` is the training loss *before* update ``step``; the last row (step = steps done)
    holds the final model's evaluation loss.
    """
    S = len(seeds)
    losses = state.losses.double().numpy()  # (T, S)
    T = losses.shape[0]
    logs = {int(r["step"]): r for r in state.logs}
    final_step = state.step
    steps = np.arange(T + 1) if final_step in logs else np.arange(T)
    loss = np.full((steps.shape[0], S), np.nan)
    loss[:T] = losses
    if final_step in logs and steps.shape[0] > T:
        loss[T] = logs[final_step]["eval_loss"].double().numpy()
    cols: dict[str, np.ndarray] = {
        "step": np.repeat(steps, S),
        "seed": np.tile(np.asarray(seeds), steps.shape[0]),
        "loss": loss.reshape(-1),
    }
    cols["loss_p1"] = cols["loss"] * n / 2
    extra: dict[str, np.ndarray] = {}
    names = ["eval_loss", "val_loss", "param_norm"]
    names += [f"irrep_loss/{lab}" for lab in labels] + [f"power/{lab}" for lab in labels]
    for name in names:
        extra[name] = np.full((steps.shape[0], S), np.nan)
    for t, r in logs.items():
        if t >= steps.shape[0]:
            continue
        for key in ("eval_loss", "val_loss", "param_norm"):
            if key in r:
                extra[key][t] = r[key].double().numpy()
        il, pw = r["irrep_loss"].double().numpy(), r["power"].double().numpy()
        for j, lab in enumerate(labels):
            extra[f"irrep_loss/{lab}"][t] = il[:, j]
            extra[f"power/{lab}"][t] = pw[:, j]
    for name, arr in extra.items():
        if name == "val_loss" and np.isnan(arr).all():
            continue
        cols[name] = arr.reshape(-1)
    return pd.DataFrame(cols)


def _check_engine(b: Built) -> None:
    """``train.engine=numba`` on a set-up the kernel cannot train fails before any output."""
    cfg = b.cfg
    uses_compiled_engine(
        str(cfg.train.engine),
        b.model,
        b.optimizer,
        b.data,
        grad_clip=cfg.optim.grad_clip,
        output_every_step=bool(cfg.model.output_every_step),
    )


def _pack_logs(logs: list[dict[str, Any]]) -> dict[str, Any]:
    """The per-log-step records as one stacked tensor per key (pickling ~100 small tensors per
    record made every checkpoint ~10x slower). Inverse: :func:`_unpack_logs`."""
    if not logs:
        return {"steps": []}
    keys = [k for k in logs[0] if k != "step"]
    out: dict[str, Any] = {"steps": [int(r["step"]) for r in logs]}
    for k in keys:
        out[k] = torch.stack([r[k] for r in logs])
    return out


def _unpack_logs(packed: dict[str, Any] | list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Records from :func:`_pack_logs` (a plain list, from older checkpoints, passes through)."""
    if isinstance(packed, list):
        return packed
    keys = [k for k in packed if k != "steps"]
    return [{**{k: packed[k][i] for k in keys}, "step": t} for i, t in enumerate(packed["steps"])]


def _threads(cfg: DictConfig, model: torch.nn.Module, task: SequenceTask) -> int:
    if cfg.train.threads is not None:
        return int(cfg.train.threads)
    # Small models are dominated by per-op overhead: one thread avoids synchronisation costs
    # (measured in docs/performance.md). Larger ones use every core.
    flops = 6 * task.num_sequences * model.hidden * task.n if cfg.task.data != "online" else 0
    return 1 if flops < 5e7 else max(1, torch.get_num_threads())


def _summary(
    b: Built, state: FitState, metrics: pd.DataFrame, status: str, wall: float, steps_run: int
) -> dict[str, Any]:
    from groupcomp.analysis import observed_staircase

    cfg = b.cfg
    per_step = metrics.groupby("step")["loss"].mean()
    initial = float(per_step.iloc[0]) if len(per_step) else float("nan")
    final = float(per_step.iloc[-1]) if len(per_step) else float("nan")
    theory = b.staircase.to_dict()
    timing = _predicted_drops(b)
    theory["drop_times"] = timing.to_dict() if timing is not None else None
    theory["drop_steps"] = timing.steps if timing is not None else [None] * len(theory["order"])
    observed = observed_staircase(metrics, theory)
    drops = [
        {
            "irreps": [theory["irrep_labels"][i] for i in grp],
            "predicted_step": theory["drop_steps"][m],
            "observed_step": observed["drop_steps"][m] if m < len(observed["drop_steps"]) else None,
        }
        for m, grp in enumerate(theory["order"])
    ]
    agf = _agf(b, int(metrics["step"].max()) if len(metrics) else 0)
    out = {
        "preset": cfg.preset,
        "group": b.G.name,
        "group_order": b.G.order,
        "k": int(cfg.task.k),
        "model": cfg.model.name,
        "seeds": [int(s) for s in cfg.train.seeds],
        "status": status,
        "steps_done": int(state.step),
        "steps_requested": int(cfg.train.steps),
        "initial_loss": initial,
        "final_loss": final,
        "final_loss_per_seed": [
            float(v) for v in metrics[metrics.step == metrics.step.max()]["loss"].to_numpy()
        ],
        "final_over_initial": final / initial if initial else float("nan"),
        "loss_units": "mean-MSE (torch.nn.MSELoss); P1 normalisation = n/2 x this",
        "theory": theory,
        "observed": observed,
        "drops": drops,
        "agf": agf,
        "wall_time_s": wall,
        "steps_per_s": steps_run / wall if wall > 0 else float("nan"),
        "engine": state.engine,
        **provenance(),
    }
    return _jsonable(out)


def _timed_optimizer(b: Built) -> str | None:
    """The theory's name (``per_neuron`` / ``gd``) for the run's optimiser, ``None`` when the
    closed-form times and AGF's time conversion do not apply (adaptive optimisers)."""
    kind = resolve_optimizer_name(b.cfg.optim.name, b.model)
    return {"per_neuron_sgd": "per_neuron", "sgd": "gd"}.get(kind)


def _agf(b: Built, last_step: int) -> dict[str, Any] | None:
    """AGF simulation of the run's setting (``theory.agf=true``), or ``None``."""
    cfg = b.cfg
    if not cfg.theory.agf:
        return None
    from groupcomp.theory.agf import simulate

    if cfg.model.name != "two_layer" or cfg.model.activation != "power":
        return {"error": "AGF needs model.name=two_layer with activation=power"}
    opt = _timed_optimizer(b)
    if opt is None:
        return {"error": f"AGF has no time conversion for optimiser {cfg.optim.name!r}"}
    try:
        res = simulate(
            b.G,
            b.template,
            int(cfg.task.k),
            hidden=int(cfg.model.hidden),
            init_scale=float(cfg.model.init_scale),
            seed=int(cfg.train.seeds[0]),
            lr=float(cfg.optim.lr),
            optimizer=opt,
            momentum=float(cfg.optim.momentum),
            max_steps=float(max(last_step, 1)),
        )
    except GroupcompError as exc:
        return {"error": str(exc)}
    steps, loss = res.curve(end_step=float(max(last_step, 1)))
    out = res.to_dict()
    out["curve_steps"] = [float(v) for v in steps]
    out["curve_loss"] = [float(v) for v in loss]
    return out


def _predicted_drops(b: Built) -> DropTimes | None:
    """Closed-form drop steps for the run's optimiser, from the model's actual initial norm.

    Only for the setting the theory covers: a two-layer network with σ = z^k trained by
    per-neuron SGD or plain SGD (with momentum). ``None`` otherwise.
    """
    cfg = b.cfg
    if cfg.model.name != "two_layer" or cfg.model.activation != "power":
        return None
    opt = _timed_optimizer(b)
    norm = b.init_norm
    if opt is None or not 0 < norm < 1:
        return None
    return predict_drop_times(
        b.staircase, lr=cfg.optim.lr, init_norm=norm, optimizer=opt, momentum=cfg.optim.momentum
    )


def write_figures(run_dir: Path, metrics: pd.DataFrame, summary: dict[str, Any]) -> list[Path]:
    """Draw ``figures/loss`` and ``figures/power`` (png + pdf) from a run's data."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from groupcomp.viz import loss_figure, power_figure, save_figure

    theory = summary["theory"]
    title = f"{summary['group']}, k={summary['k']}, {summary['model']}"
    agf = summary.get("agf")
    curve = (agf["curve_steps"], agf["curve_loss"]) if agf and "curve_steps" in agf else None
    fig = loss_figure(metrics, theory, title=title, agf_curve=curve)
    out = save_figure(fig, run_dir / "figures" / "loss")
    fig = power_figure(metrics, theory["powers"], theory["irrep_labels"], title=title, logy=True)
    out += save_figure(fig, run_dir / "figures" / "power")
    return out


def _progress(total: int, initial: int, enabled: bool):
    if not enabled or not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, unit="step", dynamic_ncols=True, leave=False)


def train(
    cfg: DictConfig | str,
    out: str | Path | None = "runs",
    *,
    name: str | None = None,
    quiet: bool = False,
    stop_after: int | None = None,
    _resume: tuple[Path, dict] | None = None,
) -> RunResult:
    """Train from a config (or a preset name) and write a run folder under ``out``.

    Args:
        cfg: a config from :func:`groupcomp.config.load_config`, or a preset name.
        out: parent folder of the run folder; ``None`` = write nothing (results in memory only).
        name: exact run-folder name (default ``<preset>-<timestamp>``); never overwritten.
        quiet: no progress bar and no printing.
        stop_after: stop after this many steps as if interrupted (the run can be resumed).

    Raises:
        DivergenceError: the loss became NaN/inf (the run folder keeps the last good checkpoint
            and a summary with ``status: diverged``).
    """
    if isinstance(cfg, str):
        cfg = load_config(cfg)
    b = build(cfg)
    _check_engine(b)
    seeds = [int(s) for s in cfg.train.seeds]
    labels = [r.label for r in b.G.irreps()]
    steps = int(cfg.train.steps)
    log_steps = log_spaced_steps(steps, int(cfg.train.log_points))
    ckpt_steps = log_spaced_steps(steps, int(cfg.train.checkpoints))
    start_state: FitState | None = None
    snapshots: dict[int, dict[str, torch.Tensor]] = {}
    if _resume is not None:
        run_dir, last = _resume
        b.model.load_state_dict(last["model"])
        b.optimizer.load_state_dict(last["optimizer"])
        b.data.load_state_dict(last["data"])
        start_state = FitState(
            losses=last["losses"], logs=_unpack_logs(last["logs"]), step=int(last["step"])
        )
        ck = run_dir / "checkpoints" / "checkpoints.pt"
        if ck.exists():
            snapshots = torch.load(ck, weights_only=True)
        prev_wall = float(last.get("wall_time_s", 0.0))
    else:
        prev_wall = 0.0
        run_dir = None
        if out is not None:
            run_dir = new_run_dir(Path(out), name or str(cfg.preset), exact=name is not None)
            atomic_write_text(run_dir / "config.yaml", to_yaml(cfg))
            atomic_write_text(run_dir / "provenance.json", json.dumps(provenance(), indent=2))
    n_threads = _threads(cfg, b.model, b.task)
    old_threads = torch.get_num_threads()
    torch.set_num_threads(n_threads)

    def on_checkpoint(t: int, st: FitState) -> None:
        if run_dir is None:
            return
        snapshots[t] = {k: v.detach().cpu().clone() for k, v in b.model.state_dict().items()}
        atomic_torch_save(run_dir / "checkpoints" / "checkpoints.pt", snapshots)
        atomic_torch_save(
            run_dir / "checkpoints" / "last.pt",
            {
                "step": t,
                "model": b.model.state_dict(),
                "optimizer": b.optimizer.state_dict(),
                "data": b.data.state_dict(),
                "losses": st.losses,
                "logs": _pack_logs(st.logs),
                "wall_time_s": prev_wall + (time.perf_counter() - t0),
            },
        )

    done0 = start_state.step if start_state else 0
    bar = _progress(steps, done0, cfg.train.progress and not quiet)
    t0 = time.perf_counter()
    status = "completed"
    error: DivergenceError | None = None
    try:
        state = fit(
            b.model,
            b.task,
            b.optimizer,
            b.data,
            steps=steps,
            log_steps=log_steps,
            checkpoint_steps=ckpt_steps,
            probe=b.probe,
            val_probe=b.val_probe,
            grad_clip=cfg.optim.grad_clip,
            output_every_step=bool(cfg.model.output_every_step),
            start=start_state,
            on_checkpoint=on_checkpoint,
            stop_after=stop_after,
            progress=bar,
            engine=str(cfg.train.engine),
            threads=None if cfg.train.threads is None else int(cfg.train.threads),
        )
        if state.step < steps:
            status = "interrupted"
            on_checkpoint(state.step, state)
    except DivergenceError as exc:
        error = exc
        status = "diverged"
        state = exc.state  # type: ignore[attr-defined]
    finally:
        if bar is not None:
            bar.close()
        torch.set_num_threads(old_threads)
    wall = prev_wall + time.perf_counter() - t0
    metrics = metrics_frame(state, labels, seeds, b.G.order)
    summary = _summary(b, state, metrics, status, wall, state.step - done0)
    if run_dir is not None:
        buf = metrics.to_parquet(index=False)
        from groupcomp.training.runfolder import atomic_write_bytes

        atomic_write_bytes(run_dir / "metrics.parquet", buf)
        summary["run_dir"] = str(run_dir)
        atomic_write_text(run_dir / "summary.json", json.dumps(summary, indent=2))
        if len(metrics):
            write_figures(run_dir, metrics, summary)
    if error is not None:
        where = ""
        if run_dir is not None:
            last = run_dir / "checkpoints" / "last.pt"
            kept = (
                f"last good checkpoint kept: {last}"
                if last.exists()
                else "no checkpoint had been written yet"
            )
            where = f" Run folder: {run_dir} ({kept})."
        raise DivergenceError(str(error) + "." + where) from None
    return RunResult(run_dir, metrics, summary, b.model, b.staircase, state)


def resume(run_dir: str | Path, *, quiet: bool = False, steps: int | None = None) -> RunResult:
    """Continue an interrupted run from ``checkpoints/last.pt`` in the same folder.

    The continuation uses the saved model, optimiser and data-stream random state, so the final
    numbers equal those of an uninterrupted run. ``steps`` may extend the run.
    """
    run_dir = Path(run_dir)
    cfg_path, last_path = run_dir / "config.yaml", run_dir / "checkpoints" / "last.pt"
    if not cfg_path.exists() or not last_path.exists():
        raise RunFolderError(
            f"{run_dir} is not a resumable run folder (needs config.yaml and checkpoints/last.pt)"
        )
    cfg = load_config(str(cfg_path))
    if steps is not None:
        cfg.train.steps = int(steps)
    last = torch.load(last_path, weights_only=False)
    if int(last["step"]) >= int(cfg.train.steps):
        summary = read_json(run_dir / "summary.json") if (run_dir / "summary.json").exists() else {}
        if summary.get("status") == "completed":
            raise RunFolderError(f"{run_dir} is already complete ({last['step']} steps)")
    return train(cfg, None, quiet=quiet, _resume=(run_dir, last))
