"""One experiment description: a validated config built into everything a run needs.

A run is (group, task, model, objective, optimiser, schedule, seeds). :func:`build` turns a
config of any kind into an :class:`Experiment` — the same object for every kind — whose parts
the one training loop (:func:`groupcomp.training.fit`) takes as they are. The kinds differ only
in how they build their task, objective and probe, and in what their summary reports
(:class:`SequenceExperiment`, :class:`ArithExperiment`). No I/O here.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from omegaconf import DictConfig

from groupcomp.config.loader import is_auto
from groupcomp.errors import ConfigError, GroupcompError
from groupcomp.groups import FiniteGroup, parse
from groupcomp.models import ArithNet, QuadraticRNN, TreeNet, TwoLayerNet
from groupcomp.optim import make_optimizer
from groupcomp.runs.summary import RunSummary
from groupcomp.tasks import SequenceTask
from groupcomp.tasks.arithmetic import make_split, make_task, split_counts
from groupcomp.templates import make_template
from groupcomp.theory import Staircase, predict_staircase
from groupcomp.theory.constructions import two_layer_width
from groupcomp.theory.scope import TheoryScope, theory_scope
from groupcomp.theory.stability import (
    AUTO_LR_FRACTION,
    AUTO_STEPS_MARGIN,
    MAX_EXACT_SEQUENCES,
    StableLR,
    auto_steps,
    stable_lr,
)
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
from groupcomp.training.neurons import NeuronProbe

if TYPE_CHECKING:  # pandas is imported where a metrics table is built (not by `theory`)
    import pandas as pd

__all__ = [
    "ArithExperiment",
    "Experiment",
    "RunPlan",
    "SequenceExperiment",
    "build",
    "build_template",
    "metrics_frame",
    "plan_run",
    "predict_run",
]

_DTYPES = {"float32": torch.float32, "float64": torch.float64}


def _loss_remove(cfg: DictConfig, task: Any):
    """``loss_remove`` as a function ``model → (S,)`` (the sum of the removed terms), or None."""
    removed = list(cfg.get("loss_remove") or [])
    if not removed:
        return None
    from groupcomp.theory.cogs import cyclic_shape, rstar_term

    shape = cyclic_shape(task.operand_group)

    def term(model: torch.nn.Module) -> torch.Tensor:
        return rstar_term(model.W_in, model.W_out, shape)

    return term


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
            if a.ndim > 2:  # per-neuron arrays (S, H, m) go to neurons.npz, not the table
                continue
            names = [key] if a.ndim == 1 else [f"{key}/{lab}" for lab in labels]
            vals = [a] if a.ndim == 1 else [a[:, j] for j in range(a.shape[1])]
            for name, val in zip(names, vals, strict=True):
                if name not in extra:
                    extra[name] = np.full((R, S), np.nan)
                extra[name][t] = val
    for name, arr in extra.items():
        cols[name] = arr.reshape(-1)
    import pandas as pd

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
        progress: ``(total, desc) -> Progress`` for long work the experiment does itself (the
            AGF simulation of a summary); set by :func:`groupcomp.runs.execute` (``None``:
            silent).
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
    progress: Any = None

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

    def stability(self, state: FitState) -> dict[str, Any]:
        """Spikes of every seed's per-step training loss (:func:`runs.observe.loss_stability`:
        a rise of 25 % above the running minimum for plain and per-neuron SGD, 100 % for
        momentum and adaptive optimisers, which overshoot by design; mini-batch and online runs
        are judged on a 51-step running median) and whether the
        loss was still falling at the end (``ends_mid_drop``: it fell by more than 30 % over
        the last 20 % of the steps and is above 1e-3 of its initial value)."""
        from groupcomp.runs.observe import SPIKE_RISE, loss_stability

        loss = state.records.get("loss")
        seeds: list[dict[str, Any]] = []
        if loss is not None and len(loss):
            L = loss.double().cpu().numpy()
            stochastic = self.cfg.train.get("batch_size") is not None or str(
                self.cfg.get("task", {}).get("data", "exhaustive")
            ) in ("online",)
            # plain (per-neuron) gradient descent never raises the loss at a stable lr; momentum
            # and adaptive optimisers overshoot by design, so only a doubling counts for them
            o = self.cfg.optim
            plain = str(o.name) in ("auto", "sgd", "per_neuron_sgd") and not o.get("momentum")
            rise = SPIKE_RISE if plain else 1.0
            for j, seed in enumerate(self.seeds):
                st = loss_stability(L[:, j], smooth=51 if stochastic else 1, rise=rise)
                y = L[:, j]
                t = len(y) - 1
                ref = y[int(0.8 * t)]
                st["ends_mid_drop"] = bool(
                    t >= 10
                    and np.isfinite(y[-1])
                    and y[-1] < 0.7 * ref
                    and y[-1] > 1e-3 * max(y[0], 1e-300)
                )
                seeds.append({"seed": int(seed), **st})
        return {
            "stable": all(s["stable"] for s in seeds),
            "ends_mid_drop": any(s["ends_mid_drop"] for s in seeds),
            "per_seed": seeds,
        }

    def _common(self, state, metrics, status, wall, steps_run, units: str) -> dict[str, Any]:
        from groupcomp.runs.folder import provenance

        cfg = self.cfg
        per_step = metrics.groupby("step")["loss"].mean() if len(metrics) else None
        initial = float(per_step.iloc[0]) if per_step is not None else float("nan")
        final = float(per_step.iloc[-1]) if per_step is not None else float("nan")
        last = metrics[metrics.step == metrics.step.max()] if len(metrics) else metrics
        stability = self.stability(state)
        if status == "completed" and not stability["stable"]:
            status = "unstable"
        return dict(
            kind=self.kind,
            status=status,
            stability=stability,
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


@dataclass
class RunPlan:
    """What the theory says about a sequence run before it starts (docs/theory.md §2.6–2.7).

    Attributes:
        scope: which predictions apply (:class:`groupcomp.theory.TheoryScope`).
        optimizer: the theory's name of the run's optimiser (``per_neuron`` / ``gd`` / ``None``).
        stable_lr: the stability bound (``None`` where no bound applies).
        auto: ``{key: how the value was chosen}`` for the keys given as ``auto``.
        warnings: one line per doubtful setting (lr above the bound, too few steps, width
            below the exact construction).
    """

    scope: TheoryScope
    optimizer: str | None
    stable_lr: StableLR | None = None
    auto: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    staircase: Staircase | None = None
    #: closed-form drop times for the model's initial norm (set by :meth:`resolve_steps`)
    drop_times: DropTimes | None = None

    def resolve_steps(self, cfg: DictConfig, init_norm: float) -> None:
        """Compute the closed-form drop times (:attr:`drop_times`), set ``train.steps`` when it
        is ``auto`` and warn when a given budget is too short; ``init_norm`` is the model's RMS
        neuron norm at initialisation."""
        last = None
        if self.scope.times and self.staircase is not None and 0 < init_norm < 1:
            self.drop_times = predict_drop_times(
                self.staircase,
                lr=float(cfg.optim.lr),
                init_norm=init_norm,
                optimizer=self.optimizer,
                momentum=float(cfg.optim.momentum),
            )
            known = [v for v in self.drop_times.steps if v is not None]
            last = max(known) if known else None
        if is_auto(cfg.train.steps):
            if last is None:
                cfg.train.steps = DEFAULT_STEPS
                self.auto["train.steps"] = (
                    f"{DEFAULT_STEPS} (no drop-time prediction for this setting)"
                )
            else:
                cfg.train.steps = auto_steps(last)
                self.auto["train.steps"] = (
                    f"{cfg.train.steps} = {AUTO_STEPS_MARGIN:g} x the closed-form last drop "
                    f"({last:.4g} steps)"
                )
        elif last is not None and int(cfg.train.steps) < 2 * last:
            self.warnings.append(
                f"train.steps={int(cfg.train.steps)} is short: the last drop is predicted at "
                f"step {last:.4g} (closed form; later drops often come 2-6x later) - use "
                "train.steps=auto"
            )

    def to_dict(self) -> dict[str, Any]:
        return {
            "scope": self.scope.to_dict(),
            "stable_lr": None if self.stable_lr is None else self.stable_lr.to_dict(),
            "auto": dict(self.auto),
            "warnings": list(self.warnings),
        }


#: ``train.steps=auto`` where no drop time is predicted
DEFAULT_STEPS = 2000
#: ``optim.lr=auto`` where no stability bound applies (adaptive optimisers, other networks)
DEFAULT_LR = 1e-3


def plan_run(
    cfg: DictConfig, G: FiniteGroup, template: np.ndarray, staircase: Staircase
) -> RunPlan:
    """The theory's scope for ``cfg``, ``optim.lr=auto`` resolved in ``cfg`` (in place), and
    the warnings that do not need the model (lr above the stable range, width below the exact
    construction). ``train.steps`` is resolved later by :meth:`RunPlan.resolve_steps`."""
    m, o = cfg.model, cfg.optim
    # ``auto`` as resolve_optimizer_name decides it for the built model: hybrid for the RNN
    kind = str(o.name) if o.name != "auto" else ("hybrid" if m.name == "rnn" else "per_neuron_sgd")
    opt = {"per_neuron_sgd": "per_neuron", "sgd": "gd"}.get(kind)
    clipped = o.grad_clip is not None
    scope = theory_scope(str(m.name), str(m.activation), int(cfg.task.k), opt, clipped=clipped)
    plan = RunPlan(scope, opt, staircase=staircase)
    k = int(cfg.task.k)
    # the bound is cheap for n^k up to MAX_EXACT_SEQUENCES (a warning for a given lr); above,
    # only ``auto`` needs it. Clipping does not change the bound (it acts on large gradients,
    # the instability starts from small ones).
    if (scope.times or (clipped and scope.order and opt is not None)) and (
        G.order**k <= MAX_EXACT_SEQUENCES or is_auto(o.lr)
    ):
        plan.stable_lr = stable_lr(
            G, template, k, optimizer=opt, momentum=float(o.momentum), staircase=staircase
        )
    bound = plan.stable_lr
    if is_auto(o.lr):
        if bound is None:
            o.lr = DEFAULT_LR
            plan.auto["optim.lr"] = f"{DEFAULT_LR:g} (no stability bound for this setting)"
        else:
            o.lr = float(f"{AUTO_LR_FRACTION * bound.bound:.3g}")
            plan.auto["optim.lr"] = (
                f"{o.lr:.3g} = {AUTO_LR_FRACTION:g} x the stability bound {bound.bound:.3g} "
                f"(set by irrep {bound.limiting})"
            )
    elif bound is not None and float(o.lr) > bound.bound:
        plan.warnings.append(
            f"optim.lr={float(o.lr):g} is above the stability bound {bound.bound:.3g} (set by "
            f"irrep {bound.limiting}): expect loss spikes - use optim.lr=auto"
        )
    if scope.order and m.name == "two_layer":
        need = two_layer_width(G, template, k)
        if int(m.hidden) < need:
            plan.warnings.append(
                f"model.hidden={int(m.hidden)} is below the exact-construction width {need} "
                f"(theory.constructions.two_layer_width): the last plateaus may not reach 0"
            )
    return plan


@dataclass
class RunPrediction:
    """What :func:`predict_run` returns: the theory of a config without training it.

    Attributes:
        cfg: the config with ``auto`` values resolved. group, template: the task.
        staircase: the predicted staircase (levels; order only if ``plan.scope.order``).
        plan: scope, stability bound, auto choices, warnings.
        drop_times: closed-form drop times (``None`` where ``plan.scope.times`` is false).
        init_norm: the initial neuron norm used (``√2·model.init_scale``).
    """

    cfg: DictConfig
    group: FiniteGroup
    template: np.ndarray
    staircase: Staircase
    plan: RunPlan
    drop_times: DropTimes | None
    init_norm: float


def predict_run(cfg: DictConfig) -> RunPrediction:
    """The theory of a sequence config (``groupcomp theory``): the same scope, ``auto`` values
    and warnings a run of it would get, with the initial neuron norm ``√2·init_scale``."""
    from groupcomp.config import validate

    validate(cfg)
    cfg = copy.deepcopy(cfg)
    G = parse(cfg.group)
    template = build_template(cfg, G)
    staircase = predict_staircase(G, template, int(cfg.task.k))
    plan = plan_run(cfg, G, template, staircase)
    init_norm = math.sqrt(2) * float(cfg.model.init_scale)
    plan.resolve_steps(cfg, init_norm)
    return RunPrediction(cfg, G, template, staircase, plan, plan.drop_times, init_norm)


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
    try:
        return make_template(G, kind, rng=rng, **params)
    except ConfigError as exc:  # the builders name their parameters; users know config keys
        raise ConfigError(_template_key(str(exc))) from None


#: template builders' parameter names → config keys
_TEMPLATE_KEYS = {"centers": "template.bumps", "sigma": "template.sigma", "std": "template.std"}


def _template_key(msg: str) -> str:
    """``digits_template: index must be ...`` → ``template.index: index must be ...``."""
    import re

    m = re.match(r"^(?:\w+_template|make_template|one_hot): (\w+)", msg)
    if m is None:
        return f"template: {msg}"
    param = m.group(1)
    key = _TEMPLATE_KEYS.get(param, f"template.{param}")
    if key.split(".")[-1] not in ("powers", "scale", "digit", "index", "bumps", "sigma", "std"):
        key = "template.kind"
    return f"{key}: {msg.split(': ', 1)[1]}"


@dataclass
class SequenceExperiment(Experiment):
    """The sequence composition task (``groupcomp train``)."""

    template: np.ndarray | None = None
    staircase: Staircase | None = None
    init_norm: float = float("nan")
    plan: RunPlan | None = None

    def metrics_frame(self, state: FitState) -> pd.DataFrame:
        df = metrics_frame(state, self.seeds, self.labels, final_key="eval_loss")
        df.insert(df.columns.get_loc("loss") + 1, "loss_p1", df["loss"] * self.group.order / 2)
        if "val_loss" in df and df["val_loss"].isna().all():
            df = df.drop(columns="val_loss")
        return df

    def loss_of(self, model: torch.nn.Module) -> np.ndarray:
        return self.probe(model)["eval_loss"].double().numpy()

    def predicted_drops(self) -> DropTimes | None:
        """Closed-form drop steps for the run's optimiser and the model's actual initial norm
        (``None`` where :attr:`RunPlan.scope` says no drop times apply)."""
        return self.plan.drop_times if self.plan is not None else None

    def agf(self, last_step: int) -> dict[str, Any] | None:
        """AGF simulation of the run's setting (``theory.agf=true``), or ``None``."""
        cfg = self.cfg
        if not cfg.theory.agf:
            return None
        from groupcomp.theory.agf import simulate

        if cfg.model.name != "two_layer" or cfg.model.activation != "power":
            return {"error": "AGF needs model.name=two_layer with activation=power"}
        opt = self.plan.optimizer if self.plan is not None else None
        if opt is None:
            return {"error": f"AGF has no time conversion for optimiser {cfg.optim.name!r}"}
        bar = self.progress(float(max(last_step, 1)), "AGF") if self.progress else None
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
                activation=str(cfg.theory.agf_activation),
                progress=None if bar is None else bar.advance_to,
            )
        except GroupcompError as exc:
            return {"error": str(exc)}
        finally:
            if bar is not None:
                bar.close()
        steps, loss = res.curve(end_step=float(max(last_step, 1)))
        out = res.to_dict()
        out["curve_steps"] = [float(v) for v in steps]
        out["curve_loss"] = [float(v) for v in loss]
        return out

    def summarize(self, state, metrics, status, wall, steps_run) -> RunSummary:
        from groupcomp.runs.observe import observed_staircase

        cfg = self.cfg
        theory = self.staircase.to_dict()
        plan = self.plan
        if plan is not None:
            theory.update(plan.to_dict())
        timing = self.predicted_drops()
        theory["drop_time_model"] = timing.to_dict() if timing is not None else None
        theory["drop_steps"] = timing.steps if timing is not None else [None] * len(theory["order"])
        observed = observed_staircase(metrics, theory)
        if plan is not None and not plan.scope.order:
            observed["order_matches_theory"] = None  # no order is predicted
        agf = (
            None
            if status == "running"
            else self.agf(int(metrics["step"].max()) if len(metrics) else 0)
        )
        drops = drop_comparison(theory, observed, agf)
        common = self._common(
            state,
            metrics,
            status,
            wall,
            steps_run,
            "mean-MSE (torch.nn.MSELoss); P1 normalisation = n/2 x this",
        )
        if plan is not None:
            common["warnings"] = list(plan.warnings)
        return RunSummary(
            **common,
            k=int(cfg.task.k),
            model=str(cfg.model.name),
            theory=theory,
            observed=observed,
            drops=drops,
            agf=agf,
        )


def _rel_error(pred: float | None, obs: float | None) -> float | None:
    if pred is None or obs is None or obs <= 0:
        return None
    return (float(pred) - float(obs)) / float(obs)


def drop_comparison(
    theory: dict[str, Any], observed: dict[str, Any], agf: dict[str, Any] | None
) -> list[dict[str, Any]]:
    """Per predicted drop: the closed-form step, the AGF step (the jump after which half of
    the drop's residual power is gone, else its first jump), the observed step (the loss
    crosses the midpoint of the two plateaus), and the relative error of each prediction,
    ``(predicted − observed) / observed``. The closed form is trusted for the first drop
    only, AGF for all (docs/theory.md §2.5, §4)."""
    labels = theory["irrep_labels"]
    agf_drops = (agf or {}).get("drops") or []
    out = []
    for m, grp in enumerate(theory["order"]):
        names = [labels[i] for i in grp]
        obs = observed["drop_steps"][m] if m < len(observed["drop_steps"]) else None
        pred = theory["drop_steps"][m]
        a_step = None
        for d in agf_drops:
            if set(names) & set(d.get("irreps", [])):
                a_step = d.get("half_step") if d.get("half_step") is not None else d.get("step")
                break
        out.append(
            {
                "irreps": names,
                "predicted_step": pred,
                "observed_step": obs,
                "agf_step": a_step,
                "closed_form_error": _rel_error(pred, obs),
                "agf_error": _rel_error(a_step, obs),
                "closed_form_trusted": m == 0,
            }
        )
    return out


def _threads(cfg: DictConfig, model: torch.nn.Module, task: SequenceTask) -> int:
    if cfg.train.threads is not None:
        return int(cfg.train.threads)
    # Small models are dominated by per-op overhead: one thread avoids synchronisation costs
    # (measured in docs/performance.md). Larger ones use the cores other processes leave free
    # (training.threads: a busy core costs far more than a free one gains).
    from groupcomp.training.threads import auto_threads, available_cores, load_average

    flops = 6 * task.num_sequences * model.hidden * task.n if cfg.task.data != "online" else 0
    if flops < 5e7:
        return 1
    return auto_threads(available_cores(), load_average(), at_most=torch.get_num_threads())


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
    cfg = copy.deepcopy(cfg)  # auto values are resolved in the experiment's own copy
    dtype = _DTYPES[cfg.train.dtype]
    device = torch.device(cfg.train.device)
    G = parse(cfg.group)
    check_budget(cfg, G)  # memory estimated from the config, before anything big is built
    template = build_template(cfg, G)
    task = SequenceTask(G, template, int(cfg.task.k))
    staircase = predict_staircase(G, template, int(cfg.task.k))
    plan = plan_run(cfg, G, template, staircase)
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
    steps_given = not is_auto(cfg.train.steps)
    plan.resolve_steps(cfg, float(model.neuron_norms().pow(2).mean().sqrt()))
    if not steps_given:
        check_budget(cfg, G)  # the step-dependent parts, now that train.steps is known
    o = cfg.optim
    optimizer = _optimizer(
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
    # per-neuron weight spectra (neurons.npz) on top of the function's spectra
    probe = NeuronProbe(G, SpectralProbe(task, eval_seq, dtype, device, val_seq=val_seq))
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
        staircase=staircase,
        init_norm=float(model.neuron_norms().pow(2).mean().sqrt()),
        plan=plan,
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

    def zero_output(self, state: FitState) -> dict[str, Any]:
        """Whether each seed ends at the loss of the zero output — ``(M−1)/M`` for ``mse``,
        ``ln M`` for ``ce`` — within 1 %: ``collapsed`` if its training loss had been below
        90 % of that level before (it learned something, then fell back to 0), ``stuck`` if it
        never left it. The zero output is a critical point of both losses (weight decay pulls
        towards it)."""
        M = int(self.task.M)
        level = (M - 1) / M if self.cfg.loss == "mse" else math.log(M)
        out: dict[str, Any] = {"level": level, "collapsed": [], "stuck": []}
        loss = state.records.get("loss")
        if loss is None or not len(loss):
            return out
        L = loss.double().cpu().numpy()
        for j, seed in enumerate(self.seeds):
            y = L[:, j]
            final = y[-1]  # the training loss of the last step
            at_zero = bool(np.isfinite(final) and abs(final - level) <= 0.01 * level)
            learned = bool(np.nanmin(y) < 0.9 * level)
            if at_zero and learned:
                out["collapsed"].append(int(seed))
            elif at_zero:
                out["stuck"].append(int(seed))
        return out

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
            "zero_output": self.zero_output(state),
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
    check_budget(cfg, task.operand_group, order=task.M, n_train=counts.n_train)
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
    optimizer = _optimizer(
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
        remove=_loss_remove(cfg, task),
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


def check_budget(
    cfg: DictConfig,
    G: FiniteGroup | None,
    *,
    order: int | None = None,
    n_train: int | None = None,
) -> Any:
    """Estimate the run's memory from ``cfg`` (:mod:`groupcomp.runs.budget`) and refuse it
    with :class:`~groupcomp.errors.ResourceLimitError` when it would not fit."""
    from groupcomp.runs import budget

    n = int(order if order is not None else G.order)  # type: ignore[union-attr]
    m = len(G.irreps()) if G is not None else 0
    return budget.check(budget.estimate(cfg, order=n, num_irreps=m, n_train=n_train))


def experiment_resources(exp: Experiment) -> Any:
    """The :class:`~groupcomp.runs.budget.ResourceEstimate` of a built experiment (its
    resolved config)."""
    from groupcomp.runs import budget

    if exp.kind == "arith":
        order, n_train = exp.task.M, exp.counts.n_train  # type: ignore[attr-defined]
    else:
        order, n_train = exp.group.order, None  # type: ignore[union-attr]
    m = len(exp.group.irreps()) if exp.group is not None else 0
    return budget.estimate(exp.cfg, order=order, num_irreps=m, n_train=n_train)


def _optimizer(name: str, model: torch.nn.Module, **kwargs: Any) -> torch.optim.Optimizer:
    """:func:`make_optimizer` with its errors naming the config key (``optim.<parameter>``)."""
    import re

    try:
        return make_optimizer(name, model, **kwargs)
    except ConfigError as exc:
        msg = str(exc)
        m = re.match(r"^make_optimizer: (\w+)", msg)
        key = f"optim.{m.group(1)}" if m and m.group(1) in {*kwargs, "name"} else "optim.name"
        raise ConfigError(f"{key}: {msg.removeprefix('make_optimizer: ')}") from None


def build(cfg: DictConfig) -> Experiment:
    """Validate ``cfg`` (any kind) and build its :class:`Experiment`."""
    kind = str(cfg.get("kind", "sequence"))
    if kind == "arith":
        return _build_arith(cfg)
    return _build_sequence(cfg)
