"""The ``groupcomp`` command: a thin layer over the Python API.

Commands::

    groupcomp groups list                      named group families
    groupcomp groups show SPEC [--complex]     order, classes, irreps (dim, type), character table
    groupcomp train PRESET [key=value ...]     train and write a run folder
    groupcomp train --resume RUN               continue an interrupted run
    groupcomp train --list                     presets
    groupcomp arith [PRESET] [key=value ...]   group arithmetic / grokking runs (--resume, --list)
    groupcomp plot RUN                         redraw a run's figures (any run kind)
    groupcomp theory [PRESET] [key=value ...]  predicted staircase (order, plateaus, U*, drops)
    groupcomp theory scaling group=D3 K=5      exact-construction sizes vs k (two-layer / RNN /
                                               tree), --train: smallest trained widths
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from groupcomp.errors import DivergenceError, GroupcompError

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
    return 0 if summary["status"] == "completed" else 3


def _cmd_run(args: argparse.Namespace, schema) -> int:
    """``groupcomp train`` / ``groupcomp arith``: one path, the schema picks the run kind."""
    from groupcomp.api import resume, train
    from groupcomp.config import load_config

    command = args.command
    if args.list:
        return _list_presets(command)
    if args.resume:
        if args.preset or args.overrides:
            raise GroupcompError(f"{command}: --resume RUN takes no preset or overrides")
        res = resume(args.resume, quiet=args.quiet)
        return _report(res.summary, args.quiet)
    if not args.preset and command == "train":
        raise GroupcompError("train: give a preset (see `groupcomp train --list`) or --resume")
    preset, overrides = _preset_and_overrides(args)
    cfg = load_config(preset, overrides, schema=schema)
    res = train(cfg, args.out, name=args.name, quiet=args.quiet)
    return _report(res.summary, args.quiet)


def _cmd_train(args: argparse.Namespace) -> int:
    from groupcomp.config import RunConfig

    return _cmd_run(args, RunConfig)


def _print_summary(s) -> None:
    th, ob = s["theory"], s["observed"]
    labels = th["irrep_labels"]
    steps_per_s = s.get("steps_per_s") or 0.0
    print(
        f"{s['group']} k={s['k']} {s['model']}: {s['status']} after {s['steps_done']} steps "
        f"in {s['wall_time_s']:.1f} s ({steps_per_s:.0f} steps/s)"
    )
    fmt = lambda v: "-" if v is None else f"{v:.4g}"  # noqa: E731
    print(f"  loss {fmt(s['initial_loss'])} -> {fmt(s['final_loss'])} (mean-MSE)")
    pred_order = " -> ".join("+".join(labels[i] for i in g) for g in th["order"])
    obs_order = " -> ".join("+".join(g) for g in ob["order"])
    print(f"  predicted order: {pred_order}")
    print(f"  observed order:  {obs_order}")
    pp = ", ".join(f"{v:.4g}" for v in th["plateaus_mse"])
    op = ", ".join(fmt(v) for v in ob["plateaus_mse"])
    print(f"  predicted plateaus: {pp}")
    print(f"  observed plateaus:  {op}")
    if s.get("error"):
        print(f"  error: {s['error']}")
    if s.get("run_dir"):
        print(f"  run folder: {s['run_dir']}  (figures/loss.png, figures/power.png, summary.json)")


def _cmd_arith(args: argparse.Namespace) -> int:
    from groupcomp.config.arith import ArithConfig

    return _cmd_run(args, ArithConfig)


def _cmd_plot(args: argparse.Namespace) -> int:
    from groupcomp.api import plot

    for p in plot(args.run):
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
    if summary.get("error"):
        lines.append(f"  error: {summary['error']}")
    if summary.get("run_dir"):
        lines.append(f"  run folder: {summary['run_dir']}")
    return "\n".join(lines)


def _cmd_scaling(args: argparse.Namespace, overrides: list[str]) -> int:
    from groupcomp.analysis import scaling_experiment
    from groupcomp.viz import save_figure, scaling_figure

    group, K, template = "D3", 5, []
    for item in overrides:
        key, _, value = item.partition("=")
        if key == "group":
            group = value
        elif key == "K":
            K = int(value)
        elif key.startswith("template."):
            template.append(item)
        else:
            raise GroupcompError(
                f"theory scaling: unknown key {key!r}; allowed: group=SPEC, K=INT, template.*=..."
            )
    res = scaling_experiment(group, template or None, K, train=args.train)
    if args.json:
        print(json.dumps(res.to_dict(), indent=2))
    else:
        cols = ["k", "two_layer_width", "two_layer_width_ratio", "rnn_width", "rnn_steps"]
        cols += ["tree_width", "tree_depth", "two_layer_params", "rnn_params", "tree_params"]
        print(res.table[[c for c in cols if c in res.table]].to_string(index=False))
        fit = res.table.attrs.get("two_layer_width_fit", {})
        if fit:
            print(f"two-layer width grows ≈ {fit['base']:.3g}× per unit k (fit r² {fit['r2']:.4f})")
        if res.trained is not None:
            print("\nsmallest trained two-layer width reaching the target:")
            print(res.trained.to_string(index=False))
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "scaling.json").write_text(json.dumps(res.to_dict(), indent=2))
        for p in save_figure(scaling_figure(res.table, res.trained, title=group), out / "scaling"):
            print(p)
    return 0


def _cmd_theory(args: argparse.Namespace) -> int:
    from groupcomp.config import load_config
    from groupcomp.groups import parse
    from groupcomp.runs import build_template
    from groupcomp.theory import predict_staircase
    from groupcomp.theory.timing import predict_drop_times

    if args.preset == "scaling":
        return _cmd_scaling(args, list(args.overrides))
    preset, overrides = _preset_and_overrides(args)
    cfg = load_config(preset, overrides)
    G = parse(cfg.group)
    x = build_template(cfg, G)
    s = predict_staircase(G, x, int(cfg.task.k))
    opt = {"auto": "per_neuron", "per_neuron_sgd": "per_neuron", "sgd": "gd"}.get(cfg.optim.name)
    if cfg.model.name != "two_layer":
        opt = None
    init_norm = math.sqrt(2) * cfg.model.init_scale  # ‖θ_i(0)‖ ≈ √2·init_scale
    times = predict_drop_times(
        s,
        lr=cfg.optim.lr,
        init_norm=init_norm if 0 < init_norm < 1 else None,
        optimizer=opt,
        momentum=cfg.optim.momentum,
    )
    if args.json:
        d = s.to_dict()
        d["drop_times"] = times.to_dict()
        print(json.dumps(d, indent=2))
        return 0
    print(f"{G.name}, k={s.k}: predicted staircase of a two-layer z^k network (mean-MSE)")
    where = (
        f"{opt} optimiser, lr={cfg.optim.lr:g}, ‖θ0‖≈{init_norm:.3g}" if opt else "no closed form"
    )
    print(f"  initial plateau {s.plateaus_mse[0]:.6g}; drop steps for {where}")
    head = f"  {'#':>2}  {'irreps':<16} {'D':>3} {'type':>4} {'U*':>11} {'U*1/U*':>8}"
    print(head + f" {'plateau after':>14} {'tau':>10} {'steps':>10}  tie")
    for i, row in enumerate(s.table()):
        st = times.steps[i]
        print(
            f"  {row['step']:>2}  {row['irreps']:<16} {row['dims']:>3} {row['types']:>4} "
            f"{row['utility']:>11.5g} {row['utility_ratio']:>8.4g} "
            f"{row['plateau_after_mse']:>14.6g} {times.tau[i]:>10.4g} "
            f"{'-' if st is None else f'{st:.4g}':>10}  {'yes' if row['tie'] else ''}"
        )
    if s.absent:
        print("  never learned (no power): " + ", ".join(s.irrep_labels[i] for i in s.absent))
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
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
    t.add_argument("--name", default=None, help="exact run-folder name (never overwritten)")
    t.add_argument("--resume", metavar="RUN", default=None, help="continue an interrupted run")
    t.add_argument("--list", action="store_true", help="list the presets")
    t.add_argument("--quiet", action="store_true", help="no progress bar and no summary")
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
    a.add_argument("--name", default=None, help="exact run-folder name (never overwritten)")
    a.add_argument("--resume", metavar="RUN", default=None, help="continue an interrupted run")
    a.add_argument("--list", action="store_true", help="list the arith presets")
    a.add_argument("--quiet", action="store_true", help="no progress bar and no summary")
    a.set_defaults(func=_cmd_arith)

    pl = sub.add_parser("plot", help="redraw a run folder's figures")
    pl.add_argument("run", help="run folder")
    pl.set_defaults(func=_cmd_plot)

    th = sub.add_parser(
        "theory",
        help="predicted staircase (order, plateaus, U*, drop steps); `theory scaling` for sizes",
        description="groupcomp theory d3 | groupcomp theory group=A5 template=onehot k=3 | "
        "groupcomp theory scaling group=D3 K=5 [--train] [--out DIR]",
    )
    th.add_argument("preset", nargs="?", help="preset name or YAML (optional), or 'scaling'")
    th.add_argument("overrides", nargs="*", help="dotted key=value overrides")
    th.add_argument("--json", action="store_true", help="print JSON")
    th.add_argument("--train", action="store_true", help="scaling: also search trained widths")
    th.add_argument("--out", default=None, help="scaling: folder for scaling.json and figure")
    th.set_defaults(func=_cmd_theory)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except DivergenceError as exc:
        print(f"groupcomp: {exc}", file=sys.stderr)
        return 1
    except GroupcompError as exc:
        print(f"groupcomp: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("groupcomp: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
