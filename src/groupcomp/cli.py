"""The ``groupcomp`` command: a thin layer over the Python API.

Commands::

    groupcomp groups list                      named group families
    groupcomp groups show SPEC [--complex]     order, classes, irreps (dim, type), character table
    groupcomp train PRESET [key=value ...]     train and write a run folder
    groupcomp train --resume RUN               continue an interrupted run
    groupcomp train --list                     presets
    groupcomp train --from-upstream FILE [k=v] the authors' (sequential-group-composition) config
    groupcomp arith [PRESET] [key=value ...]   group arithmetic / grokking runs (--resume, --list)
    groupcomp plot RUN                         redraw a run's figures (any run kind)
    groupcomp plot RUN RUN ... [--overlay]     several runs in one figure (--out PATH)
    groupcomp cogs RUN... [--step N]           CoGS: factorisation of arith runs, order histogram,
                                               sum-potential dynamics (tables + figures)
    groupcomp train -m PRESET key=a,b ...      a sweep (Hydra multirun; also `arith -m`)
    groupcomp collect DIR... [--out PATH]      one results table + figures of many runs
    groupcomp theory [PRESET] [key=value ...]  predicted staircase (order, plateaus, U*, drops)
    groupcomp theory scaling group=D3 K=5      exact-construction sizes vs k (two-layer / RNN /
                                               tree), --train: smallest trained widths
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from groupcomp.errors import ConfigError, DivergenceError, GroupcompError

__all__ = ["main"]


def _fmt_complex(z: complex) -> str:
    re, im = float(np.real(z)), float(np.imag(z))
    re = 0.0 if abs(re) < 5e-10 else re
    im = 0.0 if abs(im) < 5e-10 else im
    if im == 0:
        return f"{re:.4g}"
    if re == 0:
        return f"{im:.4g}i"
    return f"{re:.3g}{im:+.3g}i"


def _preset_and_overrides(args: argparse.Namespace) -> tuple[str | None, list[str]]:
    """The positional ``PRESET [key=value ...]``; a first argument with ``=`` is an override
    (no preset: the schema defaults)."""
    preset, overrides = args.preset, list(args.overrides)
    if preset is not None and "=" in preset:
        return None, [preset, *overrides]
    return preset, overrides


def _cmd_groups_list(args: argparse.Namespace) -> int:
    from groupcomp.groups import FAMILIES

    rows = []
    for key, fam in FAMILIES.items():
        desc = getattr(fam, "description", None) or (fam[0] if isinstance(fam, tuple) else str(fam))
        example = getattr(fam, "example", "")
        rows.append((key, desc, example))
    w = max(len(r[0]) for r in rows)
    print("Named group families (combine with x for direct products, e.g. C4xC4, D3xC2):")
    for key, desc, ex in rows:
        print(f"  {key:<{w}}  {desc}" + (f"   e.g. {ex}" if ex else ""))
    return 0


#: largest character table ``groups show`` prints (classes)
MAX_SHOWN_CLASSES = 64


def _cmd_groups_show(args: argparse.Namespace) -> int:
    from groupcomp.groups import parse

    G = parse(args.spec)
    print(
        f"{G.name}: order {G.order}, {'abelian' if G.is_abelian else 'non-abelian'}, "
        f"{G.num_classes} conjugacy classes"
    )
    print("\nReal irreps (G.irreps() order; template powers are listed in this order):")
    print(f"  {'#':>3}  {'label':<12} {'dim':>4} {'type':>5}  {'complex dim':>11}")
    for i, r in enumerate(G.irreps()):
        print(f"  {i:>3}  {r.label:<12} {r.dim:>4} {r.type:>5}  {r.complex_dim:>11}")
    if G.num_classes > MAX_SHOWN_CLASSES:
        print(
            f"\nCharacter table: {G.num_classes} x {G.num_classes}, not printed (more than "
            f"{MAX_SHOWN_CLASSES} conjugacy classes; in Python: "
            f"groupcomp.groups.parse({args.spec!r}).character_table())"
        )
        return 0
    reps = G.class_representatives
    sizes = G.class_sizes
    chars = G.character_table()[:, reps]
    labels = [r.label for r in G.complex_irreps()]
    print("\nCharacter table (complex irreps × conjugacy classes; class size / representative):")
    cells = [[_fmt_complex(z) for z in row] for row in chars]
    head = [f"{s}:{G.labels[g]}" for s, g in zip(sizes, reps, strict=True)]
    width = max(8, *(len(c) for row in cells for c in row), *(len(h) for h in head))
    lw = max(len(x) for x in labels)
    print(" " * (lw + 4) + " ".join(f"{h:>{width}}" for h in head))
    for lab, row in zip(labels, cells, strict=True):
        fs = {"R": "+1", "C": " 0", "H": "-1"}[G.complex_irreps()[labels.index(lab)].type]
        print(f"  {lab:<{lw}}  " + " ".join(f"{c:>{width}}" for c in row) + f"   FS {fs}")
    if args.complex:
        for r in G.complex_irreps():
            print(f"\n{r.label}: ρ(g) for the first elements")
            for g in range(min(G.order, 4)):
                print(f"  {G.labels[g]}: {np.round(r.matrices[g], 4).tolist()}")
    return 0


def _list_presets(command: str) -> int:
    from groupcomp.config import PRESETS_BY_COMMAND, preset_path

    for name in PRESETS_BY_COMMAND[command]:
        first = preset_path(name, command).read_text().splitlines()[0].lstrip("# ")
        print(f"  {name:<14} {first}")
    return 0


def _report(summary, quiet: bool) -> int:
    if not quiet:
        if summary["kind"] == "arith":
            print(format_arith_summary(summary))
        else:
            _print_summary(summary)
    # an unstable run finished: its numbers are results (exit 0), its status says to distrust them
    return 0 if summary["status"] in ("completed", "unstable") else 3


def _cmd_run(args: argparse.Namespace, schema) -> int:
    """``groupcomp train`` / ``groupcomp arith``: one path, the schema picks the run kind."""
    command = args.command
    if args.list:
        return _list_presets(command)
    from groupcomp.api import resume, train
    from groupcomp.config import load_config

    if args.resume:
        if args.preset or args.overrides or args.multirun:
            raise GroupcompError(f"{command}: --resume RUN takes no preset, overrides or -m")
        res = resume(args.resume, quiet=args.quiet, formats=args.format)
        return _report(res.summary, args.quiet)
    if not args.preset and command == "train":
        raise GroupcompError("train: give a preset (see `groupcomp train --list`) or --resume")
    if args.multirun:
        return _cmd_multirun(args)
    if args.force:
        raise GroupcompError(f"{command}: --force goes with -m (a sweep)")
    preset, overrides = _preset_and_overrides(args)
    try:
        cfg = load_config(preset, overrides, schema=schema)
    except ConfigError as exc:
        swept = [o for o in overrides if _looks_swept(o)]
        if swept:
            raise ConfigError(f"{exc} (to sweep over {swept[0]}, add -m)") from None
        raise
    res = train(cfg, args.out, name=args.name, quiet=args.quiet, formats=args.format)
    return _report(res.summary, args.quiet)


def _looks_swept(override: str) -> bool:
    """``key=a,b`` / ``key=range(…)`` / ``key=choice(…)``: Hydra sweep syntax (a top-level comma
    outside brackets and quotes)."""
    value = override.partition("=")[2].strip()
    if value.startswith(("range(", "choice(", "glob(")):
        return True
    depth, quote = 0, ""
    for ch in value:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "[{(":
            depth += 1
        elif ch in "]})":
            depth -= 1
        elif ch == "," and depth == 0:
            return True
    return False


def _cmd_multirun(args: argparse.Namespace) -> int:
    """``groupcomp train -m`` / ``groupcomp arith -m``: a Hydra sweep, one run folder per job."""
    from groupcomp.api import multirun

    preset, overrides = _preset_and_overrides(args)
    res = multirun(
        preset,
        overrides,
        command=args.command,
        out=args.out,
        name=args.name,
        force=args.force,
        quiet=args.quiet,
        formats=args.format,
    )
    bad = res.unsuccessful
    skipped = sum(j.skipped for j in res.jobs)
    if not args.quiet:
        print(
            f"sweep {res.sweep_dir}: {len(res.jobs)} jobs, {len(res.jobs) - len(bad)} finished "
            f"({skipped} of them earlier, skipped), {len(bad)} unsuccessful"
        )
    for j in bad:
        why = f": {j.error}" if j.error else ""
        print(f"groupcomp: job {j.name} {j.status}{why} ({j.run_dir})", file=sys.stderr)
    if not args.quiet:
        print(f"results table and figures: groupcomp collect {res.sweep_dir}")
    if any(j.status in ("failed", "diverged") for j in bad):
        return 1
    return 3 if bad else 0


def _cmd_collect(args: argparse.Namespace) -> int:
    """``groupcomp collect DIR... [--out PATH]``: one results table (+ figures) of many runs."""
    import warnings

    from groupcomp.api import collect
    from groupcomp.runs.collect import CollectWarning

    out = args.out if args.out is not None else (args.dirs[0] if len(args.dirs) == 1 else ".")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", CollectWarning)
        df = collect(
            args.dirs,
            out,
            x=args.x,
            hue=args.hue,
            figures=not args.no_figures,
            formats=args.format,
        )
    for w in caught:
        if issubclass(w.category, CollectWarning):
            print(f"groupcomp: warning: {w.message}", file=sys.stderr)
        else:
            warnings.showwarning(w.message, w.category, w.filename, w.lineno)
    n_runs = df["run_dir"].nunique() if len(df) else 0
    print(f"{len(df)} rows (runs × seeds) from {n_runs} run folders")
    for p in df.attrs.get("written", []):
        print(p)
    return 0 if n_runs else 1


def _cmd_train(args: argparse.Namespace) -> int:
    from groupcomp.config import RunConfig

    if getattr(args, "from_upstream", None) is not None:
        return _cmd_from_upstream(args)
    return _cmd_run(args, RunConfig)


def _cmd_from_upstream(args: argparse.Namespace) -> int:
    """``groupcomp train --from-upstream FILE [key=value ...]``: the authors' config, translated
    (one line per key on stderr), then trained like any config."""
    from groupcomp.api import train
    from groupcomp.config.upstream import load_upstream

    if args.resume or args.list or args.multirun or args.force:
        raise GroupcompError("train: --from-upstream FILE takes key=value overrides only")
    overrides = [*([args.preset] if args.preset else []), *args.overrides]
    bad = [o for o in overrides if "=" not in o]
    if bad:
        raise GroupcompError(
            f"train: --from-upstream FILE takes key=value overrides, not a preset ({bad[0]!r})"
        )
    cfg, lines = load_upstream(args.from_upstream, overrides)
    print(f"groupcomp: translating {args.from_upstream}:", file=sys.stderr)
    for line in lines:
        print(f"  {line}", file=sys.stderr)
    res = train(cfg, args.out, name=args.name, quiet=args.quiet, formats=args.format)
    return _report(res.summary, args.quiet)


def _print_summary(s) -> None:
    th, ob = s["theory"], s["observed"]
    labels = th["irrep_labels"]
    scope = th.get("scope") or {"order": True, "learns_nothing": False, "reason": ""}
    steps_per_s = s.get("steps_per_s") or 0.0
    print(
        f"{s['group']} k={s['k']} {s['model']}: {s['status']} after {s['steps_done']} steps "
        f"in {s['wall_time_s']:.1f} s ({steps_per_s:.0f} steps/s)"
    )
    fmt = lambda v: "-" if v is None else f"{v:.4g}"  # noqa: E731
    print(f"  loss {fmt(s['initial_loss'])} -> {fmt(s['final_loss'])} (mean-MSE)")
    stab = s.get("stability") or {}
    for st in stab.get("per_seed", []):
        if not st.get("stable", True):
            print(
                f"  UNSTABLE (seed {st['seed']}): the loss rose from {st['worst_from']:.4g} to "
                f"{st['worst_loss']:.4g} at step {st['worst_step']} ({st['episodes']} spike(s)); "
                "use optim.lr=auto or a smaller lr"
            )
    if stab.get("ends_mid_drop"):
        print("  the loss was still falling at the end: the last plateau is not reached")
    if not scope.get("order", True):
        print(f"  theory: {scope.get('reason', '')}")
        if scope.get("learns_nothing"):
            print(f"  predicted: no drop (the loss stays at {th['plateaus_mse'][0]:.4g})")
        return _print_run_dir(s)
    pred_order = " -> ".join("+".join(labels[i] for i in g) for g in th["order"])
    obs_order = " -> ".join("+".join(g) for g in ob["order"])
    print(f"  predicted order: {pred_order}")
    print(f"  observed order:  {obs_order}")
    pp = ", ".join(f"{v:.4g}" for v in th["plateaus_mse"])
    op = ", ".join(fmt(v) for v in ob["plateaus_mse"])
    print(f"  predicted plateaus: {pp}")
    print(f"  observed plateaus:  {op}   ('-': not reached or not flat)")
    for d in s.get("drops") or []:
        if d.get("predicted_step") is None and d.get("agf_step") is None:
            continue
        parts = [f"observed {fmt(d.get('observed_step'))}"]
        if d.get("predicted_step") is not None:
            trust = "" if d.get("closed_form_trusted") else ", estimate"
            parts.append(f"closed form {d['predicted_step']:.4g}{trust}")
        if d.get("agf_step") is not None:
            parts.append(f"AGF {d['agf_step']:.4g}")
        print(f"  drop {'+'.join(d['irreps'])}: " + ", ".join(parts))
    return _print_run_dir(s)


def _print_run_dir(s) -> None:
    if s.get("error"):
        print(f"  error: {s['error']}")
    if s.get("run_dir"):
        figs = "loss.png, figures/power.png" + (
            ", figures/neurons.png" if s.get("kind") == "sequence" else ""
        )
        print(f"  run folder: {s['run_dir']}  (figures/{figs}, summary.json)")


def _cmd_arith(args: argparse.Namespace) -> int:
    from groupcomp.config.arith import ArithConfig

    return _cmd_run(args, ArithConfig)


def _cmd_plot(args: argparse.Namespace) -> int:
    from groupcomp.api import plot

    for p in plot(
        args.runs, formats=args.format, out=args.out, overlay=args.overlay, force=args.force
    ):
        print(p)
    return 0


def _cmd_figure(args: argparse.Namespace) -> int:
    from groupcomp.config.figures import list_figures, load_figure_spec

    if args.list or not args.name:
        for name in list_figures():
            spec = load_figure_spec(name)
            cols = ", ".join(c.label for c in spec.columns)
            print(f"{name:12s} {spec.paper}: {' / '.join(spec.rows)} x ({cols})")
        return 0
    from groupcomp.api import figure

    res = figure(
        args.name,
        args.out,
        runs=args.runs,
        force=args.force,
        quiet=args.quiet,
        formats=args.format,
    )
    for label in res["trained"]:
        print(f"trained {label}", file=sys.stderr)
    for p in res["written"]:
        print(p)
    return 0


def _cmd_cogs(args: argparse.Namespace) -> int:
    from groupcomp.api import cogs

    res = cogs(
        args.runs,
        args.out,
        step=args.step,
        threshold=args.threshold,
        tol=args.tol,
        dynamics=not args.no_dynamics,
        formats=args.format,
    )
    if args.json:
        print(res["seeds"].to_json(orient="records", indent=2))
        return 0
    cols = ["run", "seed", "epoch", "loss_all_pairs", "share/order-4", "share/order-6"]
    cols += ["share/indecomposable", "share/other", "paper/order-4", "paper/order-6"]
    seeds = res["seeds"][[c for c in cols if c in res["seeds"].columns]]
    print(seeds.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    hist = ", ".join(f"{k}: {v}" for k, v in res["histogram"].items())
    print(f"order histogram (frequency pairs per order): {hist}")
    for p in res["written"]:
        print(p)
    return 0


def _fmt_epochs(vals: list) -> str:
    return ", ".join("never" if v is None else str(v) for v in vals)


def format_arith_summary(summary: dict[str, Any]) -> str:
    """A few human-readable lines describing a run's ``summary.json``."""
    s = summary["arith"]
    sp = s["split"]
    fin = s["final"]
    epochs = s["epochs_done"]
    epochs = int(epochs) if float(epochs).is_integer() else round(float(epochs), 2)
    lines = [
        f"{s['task']} (k={s['k']}, M={s['num_symbols']}), loss={s['loss']}, "
        f"{s['optimizer']}: {summary['status']} after {epochs} epochs in "
        f"{summary['wall_time_s']:.1f} s",
        f"  split ({sp['mode']}): {sp['n_train']} train / {sp['n_test']} test of "
        f"{sp['n_total']} ({100 * sp['train_fraction']:.1f} %); critical count "
        f"{sp['critical_count']:.1f} ({100 * sp['critical_fraction']:.1f} %)",
        "  final train acc: "
        + ", ".join("-" if a is None else f"{100 * a:.1f} %" for a in fin["train_acc"]),
        "  final test acc:  "
        + ", ".join("-" if a is None else f"{100 * a:.1f} %" for a in fin["test_acc"]),
        f"  train 100 % at epoch: {_fmt_epochs(s['train100_epoch'])}",
        f"  test 100 % at epoch:  {_fmt_epochs(s['grokking_epoch'])}",
    ]
    zero = s.get("zero_output") or {}
    if zero.get("collapsed"):
        lines.append(
            f"  COLLAPSED to the zero output (loss {zero['level']:.4g}) after learning: seed(s) "
            f"{', '.join(map(str, zero['collapsed']))} - lower optim.weight_decay or the lr"
        )
    if zero.get("stuck"):
        lines.append(
            f"  never left the zero output (loss {zero['level']:.4g}): seed(s) "
            f"{', '.join(map(str, zero['stuck']))}"
        )
    stab = summary.get("stability") or {}
    for st in stab.get("per_seed", []):
        if not st.get("stable", True):
            lines.append(
                f"  UNSTABLE (seed {st['seed']}): the loss rose from {st['worst_from']:.4g} to "
                f"{st['worst_loss']:.4g} at step {st['worst_step']}"
            )
    if summary.get("error"):
        lines.append(f"  error: {summary['error']}")
    if summary.get("run_dir"):
        lines.append(f"  run folder: {summary['run_dir']}")
    return "\n".join(lines)


def _max_k() -> int:
    from groupcomp.config.loader import MAX_K

    return MAX_K


def _int_arg(key: str, value: str, lo: int, hi: int) -> int:
    """``value`` as an integer in ``lo..hi``, or a one-line error naming ``key``."""
    text = value.strip()
    if not (text.lstrip("+-").isascii() and text.lstrip("+-").isdigit()) or len(text) > 20:
        shown = repr(text) if len(text) <= 40 else repr(text[:37] + "...")
        raise GroupcompError(f"{key}: must be an integer in {lo}..{hi}, got {shown}")
    n = int(text)
    if not lo <= n <= hi:
        raise GroupcompError(f"{key}: must be an integer in {lo}..{hi}, got {n}")
    return n


def _make_out(path: str) -> Path:
    """The folder ``path`` (created), or a one-line error when a file is in the way."""
    from groupcomp.errors import RunFolderError

    out = Path(path)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise RunFolderError(f"--out: {out} is not a folder (a file is in the way)") from None
    except OSError as exc:
        raise RunFolderError(f"--out: cannot create {out} ({exc.strerror})") from None
    if not out.is_dir():
        raise RunFolderError(f"--out: {out} is not a folder")
    return out


#: keys of `groupcomp theory scaling --train` besides group, K and template.*
_SCALING_TRAIN_KEYS = ("models", "steps", "seeds", "target", "max_sequences", "name")


def _scaling_train_arg(key: str, value: str) -> dict:
    """One ``theory scaling --train`` key as keyword arguments of ``width_sweep``."""
    import yaml

    from groupcomp.analysis.width_sweep import MODEL_TRAINING

    if key == "models":
        return {"models": [m.strip() for m in value.split(",") if m.strip()]}
    if key == "steps":
        n = _int_arg("steps", value, 1, 10**9)
        return {"training": {m: {"steps": n} for m in MODEL_TRAINING}}
    if key == "max_sequences":
        return {"max_sequences": _int_arg("max_sequences", value, 1, 10**12)}
    if key == "name":
        return {"name": value}
    if key == "seeds":
        seeds = yaml.safe_load(value) if value.strip().startswith("[") else None
        if not isinstance(seeds, list) or not seeds or not all(isinstance(x, int) for x in seeds):
            raise GroupcompError(
                f"seeds: expected a list of integers such as [0,1,2], got {value!r}"
            )
        return {"seeds": seeds}
    try:
        target = float(value)
    except ValueError:
        raise GroupcompError(f"target: expected a number > 0, got {value!r}") from None
    return {"target": target}


def _cmd_scaling(args: argparse.Namespace, overrides: list[str]) -> int:
    from groupcomp.analysis import scaling_experiment
    from groupcomp.viz import save_figure, scaling_figure

    group, K, template = "D3", 5, []
    sweep_kw: dict = {}  # --train: the width sweeps (analysis.width_sweep)
    for item in overrides:
        key, _, value = item.partition("=")
        if key == "group":
            group = value
        elif key == "K":
            K = _int_arg("K", value, 2, _max_k())
        elif key.startswith("template."):
            template.append(item)
        elif args.train and key in _SCALING_TRAIN_KEYS:
            sweep_kw.update(_scaling_train_arg(key, value))
        elif args.train and key.lstrip("+").startswith(("hydra/", "hydra.")):
            sweep_kw.setdefault("launcher", []).append(item)
        else:
            extra = ", " + ", ".join(f"{k}=..." for k in _SCALING_TRAIN_KEYS) if args.train else ""
            raise GroupcompError(
                f"theory scaling: unknown key {key!r}; allowed: group=SPEC, K=INT, "
                f"template.*=...{extra}" + ("" if args.train else " (more keys with --train)")
            )
    res = scaling_experiment(group, template or None, K)
    if args.train:
        from groupcomp.analysis.width_sweep import width_sweep

        sweep = width_sweep(
            group, template or None, K, out=args.out or "runs", quiet=args.json, **sweep_kw
        )
        res.trained, res.settings = sweep.widths, {**sweep.settings, "runs": str(sweep.sweep_dir)}
    if args.json:
        print(json.dumps(res.to_dict(), indent=2))
    else:
        cols = ["k", "two_layer_width", "two_layer_width_ratio", "rnn_width", "rnn_steps"]
        cols += ["tree_width", "tree_depth", "two_layer_params", "rnn_params", "tree_params"]
        print(res.table[[c for c in cols if c in res.table]].to_string(index=False))
        fit = res.table.attrs.get("two_layer_width_fit", {})
        if fit and fit.get("base") is not None and fit.get("r2") is not None:
            print(f"two-layer width grows ≈ {fit['base']:.3g}× per unit k (fit r² {fit['r2']:.4f})")
        if res.trained is not None:
            print("\nsmallest trained width reaching the target (every larger candidate too):")
            print(res.trained.to_string(index=False))
            print(f"runs: {res.settings['runs']} (groupcomp collect {res.settings['runs']})")
    if args.out:
        out = _make_out(args.out)
        (out / "scaling.json").write_text(json.dumps(res.to_dict(), indent=2))
        for p in save_figure(scaling_figure(res.table, res.trained, title=group), out / "scaling"):
            print(p)
    return 0


def _cmd_theory(args: argparse.Namespace) -> int:
    from groupcomp.config import load_config
    from groupcomp.runs.experiment import predict_run

    if args.preset == "scaling":
        return _cmd_scaling(args, list(args.overrides))
    preset, overrides = _preset_and_overrides(args)
    pred = predict_run(load_config(preset, overrides))
    s, plan, times, cfg = pred.staircase, pred.plan, pred.drop_times, pred.cfg
    if args.json:
        d = s.to_dict()
        d.update(plan.to_dict())
        d["drop_times"] = times.to_dict() if times is not None else None
        d["optim_lr"], d["train_steps"] = float(cfg.optim.lr), int(cfg.train.steps)
        print(json.dumps(d, indent=2))
        return 0
    G, scope = pred.group, plan.scope
    net = f"{cfg.model.name} network, activation={cfg.model.activation}"
    print(f"{G.name}, k={s.k}, {net}: {scope.reason}")
    for key, how in plan.auto.items():
        print(f"  {key}=auto -> {how}")
    for line in plan.warnings:
        print(f"  warning: {line}")
    if plan.stable_lr is not None:
        b = plan.stable_lr
        print(
            f"  stable learning rates: lr < {b.bound:.3g} (set by {b.limiting}; "
            "docs/theory.md §2.6)"
        )
    if scope.learns_nothing:
        trivial = [i for i, r in enumerate(s.irrep_labels) if r == "trivial"]
        level = s.plateaus_mse[0] - sum(float(s.powers[i]) / s.n for i in trivial)
        print(f"  predicted: no drop; the loss stays at {level:.6g} (mean-MSE)")
        return 0
    if not scope.order:
        print(f"  initial loss {s.plateaus_mse[0]:.6g}; no order or drop times are predicted.")
        print("  Possible plateau levels (if irreps are learned one at a time, any order):")
        for i, lab in enumerate(s.irrep_labels):
            if s.powers[i] > 0:
                print(f"    {lab:<14} share of the loss {float(s.powers[i]) / s.n:.6g}")
        return 0
    opt = plan.optimizer if times is not None else None
    where = (
        f"drop steps for {opt} optimiser, lr={float(cfg.optim.lr):g}, ‖θ0‖≈{pred.init_norm:.3g}"
        if opt
        else "no drop steps (see the scope above); tau is the gradient-flow time"
    )
    print(f"  initial plateau {s.plateaus_mse[0]:.6g}; {where}")
    head = f"  {'#':>2}  {'irreps':<16} {'D':>3} {'type':>4} {'U*':>11} {'U*1/U*':>8}"
    print(head + f" {'plateau after':>14} {'tau':>10} {'steps':>10}  tie")
    for i, row in enumerate(s.table()):
        st = times.steps[i] if times is not None else None
        tau = times.tau[i] if times is not None else 1.0 / ((s.k + 1) * s.step_utilities[i])
        print(
            f"  {row['step']:>2}  {row['irreps']:<16} {row['dims']:>3} {row['types']:>4} "
            f"{row['utility']:>11.5g} {row['utility_ratio']:>8.4g} "
            f"{row['plateau_after_mse']:>14.6g} {tau:>10.4g} "
            f"{'-' if st is None else f'{st:.4g}':>10}  {'yes' if row['tie'] else ''}"
        )
    if s.absent:
        print("  never learned (no power): " + ", ".join(s.irrep_labels[i] for i in s.absent))
    if times is not None:
        print(
            "  validity: the first drop's closed form was within 25 % of training in the "
            "checks of docs/theory.md §2.5; later drops come 2-6x later - use theory.agf=true "
            "on a run for AGF's prediction"
        )
    return 0


def _format_argument(parser: argparse.ArgumentParser) -> None:
    """``--format FMT [FMT ...]``: the figure formats (default: PNG only)."""
    parser.add_argument(
        "--format",
        nargs="+",
        default=None,
        metavar="FMT",
        help="figure formats (default: png; e.g. --format png pdf)",
    )


def _sweep_arguments(parser: argparse.ArgumentParser) -> None:
    """``-m/--multirun`` and ``--force`` of ``train`` and ``arith``."""
    parser.add_argument(
        "-m",
        "--multirun",
        action="store_true",
        help="sweep with Hydra's syntax (key=a,b,c, range(), choice()); one run folder per job",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="with -m: re-run jobs that already finished (default: skip them)",
    )


class _Parser(argparse.ArgumentParser):
    """argparse with one-line usage errors (``groupcomp: error: ...; see groupcomp CMD -h``),
    exit code 2 like every other input error."""

    def error(self, message: str) -> None:  # type: ignore[override]
        msg = " ".join(str(message).split())
        print(f"groupcomp: error: {msg}; see `{self.prog} --help`", file=sys.stderr)
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="groupcomp",
        description="Train networks on finite-group composition and compare with theory.",
    )
    from groupcomp import __version__

    p.add_argument("--version", action="version", version=f"groupcomp {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    g = sub.add_parser("groups", help="finite groups: list families, show irreps and characters")
    gs = g.add_subparsers(dest="groups_command", required=True)
    gl = gs.add_parser("list", help="named group families")
    gl.set_defaults(func=_cmd_groups_list)
    gsh = gs.add_parser("show", help="order, irreps and character table of a group")
    gsh.add_argument("spec", help="group spec, e.g. D3, C4xC4, S4, A5, Q8, Dic3")
    gsh.add_argument("--complex", action="store_true", help="also print complex irrep matrices")
    gsh.set_defaults(func=_cmd_groups_show)

    t = sub.add_parser(
        "train",
        help="train a preset (with key=value overrides) and write a run folder",
        description="Examples: groupcomp train d3 | groupcomp train d3 task.k=3 model=rnn | "
        "groupcomp train d5 template.powers=[0,3000,2000,1000] train.seeds=[0,1,2,3]",
    )
    t.add_argument("preset", nargs="?", help="preset name (see --list) or a YAML config file")
    t.add_argument("overrides", nargs="*", help="dotted key=value overrides")
    t.add_argument("--out", default="runs", help="parent folder of run folders (default: runs)")
    t.add_argument(
        "--name",
        default=None,
        help="exact run-folder name (never overwritten); with -m: the sweep folder's name",
    )
    t.add_argument("--resume", metavar="RUN", default=None, help="continue an interrupted run")
    t.add_argument("--list", action="store_true", help="list the presets")
    t.add_argument(
        "--from-upstream",
        metavar="FILE",
        default=None,
        help="translate and train a config of the sequential-group-composition authors' code "
        "(key=value overrides apply after the translation)",
    )
    t.add_argument("--quiet", action="store_true", help="no progress bar and no summary")
    _sweep_arguments(t)
    _format_argument(t)
    t.set_defaults(func=_cmd_train)

    a = sub.add_parser(
        "arith",
        help="group arithmetic / grokking: one-hot operands, train/test split",
        description="Examples: groupcomp arith arith_z23 | groupcomp arith group=Z23 loss=mse "
        "split=critical | groupcomp arith group=Z23 loss=ce split.train_fraction=0.3 | "
        "groupcomp arith group=Z97 expression=x^2+xy+y^2",
    )
    a.add_argument("preset", nargs="?", help="arith preset (see --list) or YAML, or key=value")
    a.add_argument("overrides", nargs="*", help="dotted key=value overrides")
    a.add_argument("--out", default="runs", help="parent folder of run folders (default: runs)")
    a.add_argument(
        "--name",
        default=None,
        help="exact run-folder name (never overwritten); with -m: the sweep folder's name",
    )
    a.add_argument("--resume", metavar="RUN", default=None, help="continue an interrupted run")
    a.add_argument("--list", action="store_true", help="list the arith presets")
    a.add_argument("--quiet", action="store_true", help="no progress bar and no summary")
    _sweep_arguments(a)
    _format_argument(a)
    a.set_defaults(func=_cmd_arith)

    co = sub.add_parser(
        "collect",
        help="one results table (+ summary figures) from run folders and sweeps",
        description="Examples: groupcomp collect runs/d3-multirun-3e349114 | groupcomp collect "
        "runs/ other_runs/ --out results/all.parquet --x model.hidden --hue group",
    )
    co.add_argument("dirs", nargs="+", metavar="DIR", help="run folders or folders holding them")
    co.add_argument(
        "--out",
        default=None,
        help="folder for results.parquet, results.csv and figures, or FILE.parquet/.csv "
        "(default: DIR when one is given, else the current folder)",
    )
    co.add_argument("--x", default=None, help="final-loss figure: x axis key (e.g. model.hidden)")
    co.add_argument("--hue", default=None, help="final-loss figure: one colour per value of KEY")
    co.add_argument("--no-figures", action="store_true", help="write the table only")
    _format_argument(co)
    co.set_defaults(func=_cmd_collect)

    cg = sub.add_parser(
        "cogs",
        help="CoGS analysis of arith runs: factorisation into order-4 / order-6 constructions",
        description="groupcomp cogs runs/arith_z23-... [more runs] [--step N] [--threshold 0.05] "
        "[--out DIR]: per seed and frequency pair, the solution order and whether it factorises "
        "as z_nu*z_xi (order 4) or z_nu*z_syn (order 6); order histogram and sum-potential "
        "dynamics (Y. Tian, arXiv 2410.01779). Writes <run>/cogs/ (or DIR/<run>/).",
    )
    cg.add_argument("runs", nargs="+", help="arith run folder(s)")
    cg.add_argument("--step", type=int, default=None, help="checkpoint step (default: last)")
    cg.add_argument(
        "--threshold", type=float, default=None, help="|z_a,k| activity threshold (default 0.05)"
    )
    cg.add_argument(
        "--tol", type=float, default=None, help="largest factorisation residual (default 0.05)"
    )
    cg.add_argument("--out", default=None, help="write here instead of <run>/cogs/")
    cg.add_argument("--no-dynamics", action="store_true", help="skip the checkpoint dynamics")
    cg.add_argument("--format", nargs="+", default=["png"], help="figure formats (default: png)")
    cg.add_argument("--json", action="store_true", help="print the per-seed table as JSON")
    cg.set_defaults(func=_cmd_cogs)

    fg = sub.add_parser(
        "figure",
        help="reproduce a paper figure: trains the runs that are missing, draws the grid",
        description="groupcomp figure --list | groupcomp figure p1-fig1 [--runs DIR ...] "
        "[--out figures] [--force]: runs live in OUT/NAME/runs/<column>/ (finished ones are "
        "reused, interrupted ones resumed); the figure is OUT/NAME/NAME.png and .pdf",
    )
    fg.add_argument("name", nargs="?", help="figure name (see --list)")
    fg.add_argument("--runs", nargs="+", default=None, help="one run folder per column, in order")
    fg.add_argument("--out", default="figures", help="parent folder (default: figures)")
    fg.add_argument("--force", action="store_true", help="redraw over an existing figure file")
    fg.add_argument("--format", nargs="+", default=["png", "pdf"], help="default: png pdf")
    fg.add_argument("--list", action="store_true", help="list the figures")
    fg.add_argument("--quiet", action="store_true", help="no progress bars")
    fg.set_defaults(func=_cmd_figure)

    pl = sub.add_parser(
        "plot",
        help="redraw a run folder's figures, or draw several runs in one figure",
        description="groupcomp plot RUN: redraw RUN/figures/ | groupcomp plot RUN RUN ... "
        "[--overlay] [--out PATH] [--force]: one figure, one column per run (loss on top, "
        "power below), or --overlay: the losses of all runs on one axes",
    )
    pl.add_argument("runs", nargs="+", metavar="RUN", help="run folder(s)")
    pl.add_argument("--overlay", action="store_true", help="several runs: all losses on one axes")
    pl.add_argument(
        "--out",
        default=None,
        metavar="PATH",
        help="several runs: the figure file (cmp.png) or stem (default: ./plot-<run names>)",
    )
    pl.add_argument("--force", action="store_true", help="overwrite an existing figure file")
    _format_argument(pl)
    pl.set_defaults(func=_cmd_plot)

    th = sub.add_parser(
        "theory",
        help="predicted staircase (order, plateaus, U*, drop steps); `theory scaling` for sizes",
        description="groupcomp theory d3 | groupcomp theory group=A5 template=onehot k=3 | "
        "groupcomp theory scaling group=D3 K=5 [--train] [--out DIR] | groupcomp theory scaling "
        "group=D3 K=4 --train models=two_layer,rnn,tree hydra/launcher=joblib --out scaling",
    )
    th.add_argument("preset", nargs="?", help="preset name or YAML (optional), or 'scaling'")
    th.add_argument("overrides", nargs="*", help="dotted key=value overrides")
    th.add_argument("--json", action="store_true", help="print JSON")
    th.add_argument(
        "--train",
        action="store_true",
        help="scaling: also find the smallest trained widths (a sweep per model and k; keys "
        "models=, steps=, seeds=, target=, max_sequences=, name=, hydra/launcher=...)",
    )
    th.add_argument("--out", default=None, help="scaling: folder for scaling.json and figure")
    th.set_defaults(func=_cmd_theory)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``groupcomp`` command line. Exit codes: 0 success, 1 a run diverged, 2 bad
    input (one line on stderr naming the key, argument or file), 3 a run stopped before its
    end (interrupted), 70 an internal error (a bug: one line; ``GROUPCOMP_DEBUG=1`` shows the
    traceback), 130 Ctrl-C."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    _place_overrides(parser, args, extra)
    try:
        return int(args.func(args) or 0)
    except DivergenceError as exc:
        print(f"groupcomp: {_one_line(exc)}", file=sys.stderr)
        return 1
    except GroupcompError as exc:
        print(f"groupcomp: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("groupcomp: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (``groupcomp groups show S4 | head``)
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except MemoryError:
        print(
            "groupcomp: error: out of memory (the estimate of groupcomp.runs.budget was too "
            "low; use a smaller group, model or data set)",
            file=sys.stderr,
        )
        return 2
    except Exception as exc:  # a bug: one line, not a traceback (GROUPCOMP_DEBUG=1 for it)
        import os

        if os.environ.get("GROUPCOMP_DEBUG"):
            raise
        print(
            f"groupcomp: internal error: {type(exc).__name__}: {_one_line(exc)[:300]} (please "
            f"report it; GROUPCOMP_DEBUG=1 shows the traceback)",
            file=sys.stderr,
        )
        return 70


def _place_overrides(
    parser: argparse.ArgumentParser, args: argparse.Namespace, extra: list[str]
) -> None:
    """``key=value`` overrides after an option (``train d3 --out runs k=3``, ``--format png
    k=3``) join the command's overrides; anything else left over is a usage error."""
    takes = hasattr(args, "overrides")
    fmts = getattr(args, "format", None)
    if takes and fmts:
        extra = [f for f in fmts if "=" in f] + extra
        args.format = [f for f in fmts if "=" not in f] or None
    rest = [e for e in extra if not (takes and "=" in e and not e.startswith("-"))]
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    if takes:
        args.overrides = [*args.overrides, *(e for e in extra if e not in rest)]


def _one_line(exc: BaseException) -> str:
    """An error message on one line (a multi-line message is joined with ' | ')."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    return " | ".join(lines) if lines else type(exc).__name__


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
