"""One experiment description: a validated config built into everything a run needs.

A run is (group, task, model, objective, optimiser, schedule, seeds). :func:`build` turns a
config of any kind into an :class:`Experiment` — the same object for every kind — whose parts
the one training loop (:func:`groupcomp.training.fit`) takes as they are. The kinds differ only
in how they build their task, objective and probe, and in what their summary reports
(:class:`SequenceExperiment`, :class:`ArithExperiment`). No I/O here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch
from omegaconf import DictConfig

from groupcomp.errors import GroupcompError
from groupcomp.groups import FiniteGroup, parse
from groupcomp.models import ArithNet, QuadraticRNN, TreeNet, TwoLayerNet
from groupcomp.optim import make_optimizer, resolve_optimizer_name
from groupcomp.runs.summary import RunSummary
from groupcomp.tasks import SequenceTask
from groupcomp.tasks.arithmetic import make_split, make_task, split_counts
from groupcomp.templates import make_template
from groupcomp.theory import Staircase, predict_staircase
from groupcomp.theory.timing import DropTimes, predict_drop_times
from groupcomp.training import (
    ArithBatches,
    ArithObjective,
    DataStream,
    FitSettings,
    FitState,
    Schedule,
    SequenceObjective,
    SpectralProbe,
    WeightPowerProbe,
)

__all__ = [
    "ArithExperiment",
    "Experiment",
    "SequenceExperiment",
    "build",
    "build_template",
    "metrics_frame",
]

_DTYPES = {"float32": torch.float32, "float64": torch.float64}


def _seeds(cfg: DictConfig) -> list[int]:
    return [int(s) for s in cfg.train.seeds]


def batched_model(make_one, seeds: list[int]) -> torch.nn.Module:
    """One batched model whose member ``s`` is initialised exactly as a single model with
    generator seed ``seeds[s]`` (so a seed gives the same run alone or in a batch).
    ``make_one(num_models, generator)`` builds a model."""
    model = make_one(len(seeds), torch.Generator().manual_seed(seeds[0]))
    with torch.no_grad():
        for s, seed in enumerate(seeds):
            single = make_one(1, torch.Generator().manual_seed(seed))
            for p, q in zip(model.parameters(), single.parameters(), strict=True):
                p[s].copy_(q[0])
            if getattr(model, "ridge", False):
                model.W_out[s].copy_(single.W_out[0])
    return model


def metrics_frame(
    state: FitState, seeds: list[int], labels: list[str], *, final_key: str | None = None
) -> pd.DataFrame:
    """One row per (step, seed) from a fit state.

    Columns: ``step, seed``, every per-step record (``loss`` …; before update ``step``), and
    at probe steps the probe's numbers (``(S,)`` → ``name``, ``(S, m)`` → ``name/<label>``; NaN
    elsewhere). The last row (step = steps done) holds the final model: the objective's final
    records, or — for objectives without them — ``loss`` = the probe's ``final_key``.
    """
    S = len(seeds)
    recs = {k: v.double().numpy() for k, v in state.records.items()}
    T = next(iter(recs.values())).shape[0] if recs else 0
    logs = {int(r["step"]): r for r in state.logs}
    final_row = T == state.step and (
        bool(state.final) or (final_key is not None and state.step in logs)
    )
    R = T + 1 if final_row else T
    cols: dict[str, np.ndarray] = {
        "step": np.repeat(np.arange(R), S),
        "seed": np.tile(np.asarray(seeds), R),
    }
    for k, arr in recs.items():
        out = np.full((R, S), np.nan)
        out[:T] = arr
        if final_row:
            if state.final:
                out[T] = state.final[k].double().numpy()
            elif k == "loss":
                out[T] = logs[state.step][final_key].double().numpy()
        cols[k] = out.reshape(-1)
    extra: dict[str, np.ndarray] = {}
    for t, r in sorted(logs.items()):
        if t >= R:
            continue
        for key, v in r.items():
            if key == "step":
                continue
            a = v.double().numpy()
            names = [key] if a.ndim == 1 else [f"{key}/{lab}" for lab in labels]
            vals = [a] if a.ndim == 1 else [a[:, j] for j in range(a.shape[1])]
            for name, val in zip(names, vals, strict=True):
                if name not in extra:
                    extra[name] = np.full((R, S), np.nan)
                extra[name][t] = val
    for name, arr in extra.items():
        cols[name] = arr.reshape(-1)
    return pd.DataFrame(cols)


@dataclass
class Experiment:
    """Everything a run needs, built from a config (no I/O).

    Attributes:
        kind: ``"sequence"`` or ``"arith"``; cfg: the validated config.
        group: the group (the operand group of an arithmetic task; ``None`` if it has none).
        task, model, optimizer, data, objective, probe: the parts :func:`~groupcomp.training.fit`
            takes; schedule / settings: when and how it trains; seeds: one per ensemble member.
        threads: torch intra-op threads for the run.
    """

    kind: str
    cfg: DictConfig
    group: FiniteGroup | None
    task: Any
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    data: Any
    objective: Any
    probe: Any
    schedule: Schedule
    settings: FitSettings
    seeds: list[int]
    threads: int = 1
    stop_when: Any = None
    labels: list[str] = field(default_factory=list)

    def metrics_frame(self, state: FitState) -> pd.DataFrame:
        raise NotImplementedError

    def summarize(
        self, state: FitState, metrics: pd.DataFrame, status: str, wall: float, steps_run: int
    ) -> RunSummary:
        raise NotImplementedError

    def loss_of(self, model: torch.nn.Module) -> np.ndarray:
        """Per-seed training loss of ``model`` on this experiment's task, as the summary's
        ``final_loss_per_seed`` measures it."""
        raise NotImplementedError

    def _common(self, state, metrics, status, wall, steps_run, units: str) -> dict[str, Any]:
        from groupcomp.runs.folder import provenance

        cfg = self.cfg
        per_step = metrics.groupby("step")["loss"].mean() if len(metrics) else pd.Series([])
        initial = float(per_step.iloc[0]) if len(per_step) else float("nan")
        final = float(per_step.iloc[-1]) if len(per_step) else float("nan")
        last = metrics[metrics.step == metrics.step.max()] if len(metrics) else metrics
        return dict(
            kind=self.kind,
            status=status,
            preset=str(cfg.preset),
            group=self.group.name if self.group is not None else str(cfg.group),
            group_order=self.group.order if self.group is not None else None,
            seeds=list(self.seeds),
            steps_done=int(state.step),
            steps_requested=int(self.schedule.steps),
            initial_loss=initial,
            final_loss=final,
            final_loss_per_seed=[float(v) for v in last["loss"].to_numpy()] if len(last) else [],
            loss_units=units,
            wall_time_s=float(wall),
            steps_per_s=steps_run / wall if wall > 0 else None,
            engine=state.engine,
            provenance=provenance(),
            stopped_early=state.stopped == "early_stop",
        )


# ---------------------------------------------------------------------------------------------
# sequence composition


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


@dataclass
class SequenceExperiment(Experiment):
    """The sequence composition task (``groupcomp train``)."""

    template: np.ndarray | None = None
    staircase: Staircase | None = None
    init_norm: float = float("nan")

    def metrics_frame(self, state: FitState) -> pd.DataFrame:
        df = metrics_frame(state, self.seeds, self.labels, final_key="eval_loss")
        df.insert(df.columns.get_loc("loss") + 1, "loss_p1", df["loss"] * self.group.order / 2)
        if "val_loss" in df and df["val_loss"].isna().all():
            df = df.drop(columns="val_loss")
        return df

    def loss_of(self, model: torch.nn.Module) -> np.ndarray:
        return self.probe(model)["eval_loss"].double().numpy()

    def timed_optimizer(self) -> str | None:
        """The theory's name (``per_neuron`` / ``gd``) for the run's optimiser, ``None`` when
        the closed-form times and AGF's time conversion do not apply (adaptive optimisers)."""
        kind = resolve_optimizer_name(self.cfg.optim.name, self.model)
        return {"per_neuron_sgd": "per_neuron", "sgd": "gd"}.get(kind)

    def predicted_drops(self) -> DropTimes | None:
        """Closed-form drop steps for the run's optimiser, from the model's actual initial norm
        (two-layer network with σ = z^k, per-neuron SGD or SGD; ``None`` otherwise)."""
        cfg = self.cfg
        if cfg.model.name != "two_layer" or cfg.model.activation != "power":
            return None
        opt = self.timed_optimizer()
        norm = self.init_norm
        if opt is None or not 0 < norm < 1:
            return None
        return predict_drop_times(
            self.staircase,
            lr=cfg.optim.lr,
            init_norm=norm,
            optimizer=opt,
            momentum=cfg.optim.momentum,
        )

    def agf(self, last_step: int) -> dict[str, Any] | None:
        """AGF simulation of the run's setting (``theory.agf=true``), or ``None``."""
        cfg = self.cfg
        if not cfg.theory.agf:
            return None
        from groupcomp.theory.agf import simulate

        if cfg.model.name != "two_layer" or cfg.model.activation != "power":
            return {"error": "AGF needs model.name=two_layer with activation=power"}
        opt = self.timed_optimizer()
        if opt is None:
            return {"error": f"AGF has no time conversion for optimiser {cfg.optim.name!r}"}
        try:
            res = simulate(
                self.group,
                self.template,
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

    def summarize(self, state, metrics, status, wall, steps_run) -> RunSummary:
        from groupcomp.runs.observe import observed_staircase

        cfg = self.cfg
        theory = self.staircase.to_dict()
        timing = self.predicted_drops()
        theory["drop_time_model"] = timing.to_dict() if timing is not None else None
        theory["drop_steps"] = timing.steps if timing is not None else [None] * len(theory["order"])
        observed = observed_staircase(metrics, theory)
        drops = [
            {
                "irreps": [theory["irrep_labels"][i] for i in grp],
                "predicted_step": theory["drop_steps"][m],
                "observed_step": observed["drop_steps"][m]
                if m < len(observed["drop_steps"])
                else None,
            }
            for m, grp in enumerate(theory["order"])
        ]
        common = self._common(
            state,
            metrics,
            status,
            wall,
            steps_run,
            "mean-MSE (torch.nn.MSELoss); P1 normalisation = n/2 x this",
        )
        return RunSummary(
            **common,
            k=int(cfg.task.k),
            model=str(cfg.model.name),
            theory=theory,
            observed=observed,
            drops=drops,
            agf=None
            if status == "running"
            else self.agf(int(metrics["step"].max()) if len(metrics) else 0),
        )


def _threads(cfg: DictConfig, model: torch.nn.Module, task: SequenceTask) -> int:
    if cfg.train.threads is not None:
        return int(cfg.train.threads)
    # Small models are dominated by per-op overhead: one thread avoids synchronisation costs
    # (measured in docs/performance.md). Larger ones use every core.
    flops = 6 * task.num_sequences * model.hidden * task.n if cfg.task.data != "online" else 0
    return 1 if flops < 5e7 else max(1, torch.get_num_threads())


def _schedule(cfg: DictConfig, steps: int) -> Schedule:
    t = cfg.train
    every = None if t.checkpoint_every is None else int(t.checkpoint_every)
    return Schedule.log_spaced(steps, int(t.log_points), int(t.checkpoints), every)


def _settings(cfg: DictConfig) -> FitSettings:
    return FitSettings(
        engine=str(cfg.train.engine),
        threads=None if cfg.train.threads is None else int(cfg.train.threads),
        grad_clip=None if cfg.optim.grad_clip is None else float(cfg.optim.grad_clip),
    )


def _build_sequence(cfg: DictConfig) -> SequenceExperiment:
    from groupcomp.config import validate

    validate(cfg)
    dtype = _DTYPES[cfg.train.dtype]
    device = torch.device(cfg.train.device)
    G = parse(cfg.group)
    template = build_template(cfg, G)
    task = SequenceTask(G, template, int(cfg.task.k))
    m = cfg.model
    enc = torch.tensor(task.encoding, dtype=dtype)
    seeds = _seeds(cfg)

    def one(num_models: int, gen: torch.Generator) -> torch.nn.Module:
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

    model = batched_model(one, seeds)
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
    bs = cfg.train.batch_size
    val_seq = None
    if cfg.task.data == "online":
        data = DataStream(task, "online", seeds, batch_size=bs, device=device)
        # fixed evaluation sets and splits (not tied to the first seed), so that a seed gives
        # the same numbers alone or inside any batch of seeds
        gen = torch.Generator().manual_seed(7)
        eval_seq = task.sample(min(4096, task.num_sequences), gen)
    else:
        if cfg.task.data == "sampled":
            gen = torch.Generator().manual_seed(int(cfg.task.sample_seed))
            seqs = task.sample(int(cfg.task.num_samples), gen)
            n_val = round(cfg.task.val_fraction * seqs.shape[0])
            train_seq, val_seq = seqs[n_val:], (seqs[:n_val] if n_val else None)
        elif cfg.task.val_fraction > 0:
            gen = torch.Generator().manual_seed(0)
            train_seq, val_seq = task.split(cfg.task.val_fraction, gen)
        else:
            train_seq = task.exhaustive()
        mode = "full" if bs is None or bs >= train_seq.shape[0] else "minibatch"
        data = DataStream(task, mode, seeds, train_seq=train_seq, batch_size=bs, device=device)
        eval_seq = train_seq
        if eval_seq.shape[0] > 65536:  # spectra on a fixed subsample of a large training set
            gen = torch.Generator().manual_seed(11)
            eval_seq = eval_seq[torch.randperm(eval_seq.shape[0], generator=gen)[:65536]]
    probe = SpectralProbe(task, eval_seq, dtype, device, val_seq=val_seq)
    objective = SequenceObjective(data, output_every_step=bool(m.output_every_step))
    return SequenceExperiment(
        kind="sequence",
        cfg=cfg,
        group=G,
        task=task,
        model=model,
        optimizer=optimizer,
        data=data,
        objective=objective,
        probe=probe,
        schedule=_schedule(cfg, int(cfg.train.steps)),
        settings=_settings(cfg),
        seeds=seeds,
        threads=_threads(cfg, model, task),
        labels=[r.label for r in G.irreps()],
        template=template,
        staircase=predict_staircase(G, template, int(cfg.task.k)),
        init_norm=float(model.neuron_norms().pow(2).mean().sqrt()),
    )


# ---------------------------------------------------------------------------------------------
# group arithmetic


@dataclass
class ArithExperiment(Experiment):
    """Group / modular arithmetic with a train/test split (``groupcomp arith``)."""

    counts: Any = None
    split: Any = None

    def metrics_frame(self, state: FitState) -> pd.DataFrame:
        df = metrics_frame(state, self.seeds, self.labels)
        spe = max(1, int(self.data.steps_per_epoch))
        df.insert(1, "epoch", df["step"] / spe if spe > 1 else df["step"])
        return df

    def loss_of(self, model: torch.nn.Module) -> np.ndarray:
        return self.objective.evaluate(model)["loss"].double().numpy()

    def summarize(self, state, metrics, status, wall, steps_run) -> RunSummary:
        from groupcomp.runs.observe import grokking_epochs

        cfg, task = self.cfg, self.task
        seeds = self.seeds
        acc = metrics.dropna(subset=["train_acc"]) if len(metrics) else metrics
        last = acc[acc.step == acc.step.max()].set_index("seed") if len(acc) else None
        final = {
            col: [float(last.loc[s, col]) if last is not None else None for s in seeds]
            for col in ("train_acc", "test_acc", "train_loss", "test_loss")
        }
        vals = [v for v in final["test_acc"] if v is not None and math.isfinite(v)]
        grok = grokking_epochs(acc) if len(acc) else {}
        G = task.operand_group
        irr = None
        if self.labels and "power/" + self.labels[0] in metrics:
            rows = metrics.dropna(subset=["power/" + self.labels[0]])
            rows = rows[rows.step == rows.step.max()].set_index("seed")
            irr = {lab: [float(rows.loc[s, "power/" + lab]) for s in seeds] for lab in self.labels}
        spe = int(self.data.steps_per_epoch)
        units = (
            "mse: mean over tuples of ||P_perp o - (e_c - 1/M)||^2 summed over the M outputs "
            "(the CoGS paper's loss; (M-1)/M at o = 0)"
            if cfg.loss == "mse"
            else "ce: mean cross-entropy over tuples"
        )
        arith = {
            "task": task.name,
            "op": task.kind,
            "expression": task.expression.source if task.expression is not None else None,
            "expression_parsed": task.expression.canonical()
            if task.expression is not None
            else None,
            "k": task.num_operands,
            "num_symbols": task.M,
            "operand_group": G.name if G is not None else None,
            "operand_group_abelian": bool(G.is_abelian) if G is not None else None,
            "loss": str(cfg.loss),
            "optimizer": str(cfg.optim.name),
            "steps_per_epoch": spe,
            "epochs_done": state.step / spe,
            "epochs_requested": int(cfg.train.epochs),
            "split": {
                **self.counts.to_dict(),
                "c": float(cfg.split.c),
                "offset": float(cfg.split.offset) if cfg.split.mode == "critical" else None,
                "seed": "per-member training seed"
                if cfg.split.seed is None
                else int(cfg.split.seed),
            },
            "final": {**final, "mean_test_acc": float(np.mean(vals)) if vals else None},
            "grokking_epoch": [grok.get("test_epoch", {}).get(s) for s in seeds],
            "grokking_epoch_stable": [grok.get("test_epoch_stable", {}).get(s) for s in seeds],
            "train100_epoch": [grok.get("train_epoch", {}).get(s) for s in seeds],
            "final_power": irr,
        }
        common = self._common(state, metrics, status, wall, steps_run, units)
        common["model"] = {
            "hidden": int(cfg.model.hidden),
            "activation": str(cfg.model.activation),
            "embedding": str(cfg.model.embedding),
            "layers": int(cfg.model.layers),
            "ridge": bool(cfg.model.ridge),
        }
        return RunSummary(**common, k=task.num_operands, arith=arith)


def _build_arith(cfg: DictConfig) -> ArithExperiment:
    from groupcomp.config.arith import validate_arith

    validate_arith(cfg)
    dtype = _DTYPES[cfg.train.dtype]
    device = torch.device(cfg.train.device)
    task = make_task(
        cfg.group, op=cfg.task.op, expression=cfg.task.expression, num_operands=int(cfg.task.k)
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
    seeds = _seeds(cfg)
    split = make_split(task, counts, seeds if s.seed is None else [int(s.seed)] * len(seeds))
    m = cfg.model

    def one(num_models: int, gen: torch.Generator) -> ArithNet:
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
            generator=gen,
            dtype=dtype,
            device=device,
        )

    model = batched_model(one, seeds)
    o = cfg.optim
    optimizer = make_optimizer(
        o.name,
        model,
        lr=float(o.lr),
        momentum=None if o.momentum is None else float(o.momentum),
        weight_decay=float(o.weight_decay),
        betas=(float(o.betas[0]), float(o.betas[1])),
    )
    train_x, test_x = split.train.to(device), split.test.to(device)
    train_y, test_y = split.train_y.to(device), split.test_y.to(device)
    data = ArithBatches(train_x, train_y, seeds, cfg.train.batch_size)
    objective = ArithObjective(
        str(cfg.loss),
        train_x,
        train_y,
        test_x,
        test_y,
        data,
        ridge_lambda=float(m.ridge_lambda) if m.ridge else None,
    )
    G = task.operand_group
    probe = WeightPowerProbe(task) if G is not None else None
    steps = int(cfg.train.epochs) * data.steps_per_epoch
    stop_when = None
    patience = cfg.train.stop_after_grok
    if patience is not None:
        first = np.full(len(seeds), -1)
        spe = data.steps_per_epoch

        def stop_when(step: int, rec: dict[str, torch.Tensor]) -> bool:
            acc = rec["test_acc"].detach().cpu().numpy()
            if np.isnan(acc).all():
                return False
            newly = (acc >= 1.0) & (first < 0)
            first[newly] = step
            return bool((first >= 0).all() and step >= first.max() + int(patience) * spe)

    return ArithExperiment(
        kind="arith",
        cfg=cfg,
        group=G,
        task=task,
        model=model,
        optimizer=optimizer,
        data=data,
        objective=objective,
        probe=probe,
        schedule=_schedule(cfg, steps),
        settings=_settings(cfg),
        seeds=seeds,
        threads=int(cfg.train.threads) if cfg.train.threads is not None else 1,
        stop_when=stop_when,
        labels=[r.label for r in G.irreps()] if G is not None else [],
        counts=counts,
        split=split,
    )


def build(cfg: DictConfig) -> Experiment:
    """Validate ``cfg`` (any kind) and build its :class:`Experiment`."""
    kind = str(cfg.get("kind", "sequence"))
    if kind == "arith":
        return _build_arith(cfg)
    return _build_sequence(cfg)
