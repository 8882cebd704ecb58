"""Commands import only what they need; ``--format``; overrides after options."""

from __future__ import annotations

import subprocess
import sys

import pytest

from groupcomp.cli import _place_overrides as place
from groupcomp.cli import build_parser, main

HEAVY = ("torch", "matplotlib", "pandas", "hydra", "numba", "torch._dynamo")


def _modules_after(argv: list[str]) -> set[str]:
    """The heavy modules imported by ``groupcomp argv`` in a fresh interpreter."""
    code = (
        "import sys\nfrom groupcomp.cli import main\n"
        f"try:\n    main({argv!r})\nexcept SystemExit:\n    pass\n"
        f"print('HEAVY:' + ','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    last = out.stdout.strip().splitlines()[-1]
    assert last.startswith("HEAVY:")
    return set(filter(None, last[len("HEAVY:") :].split(",")))


@pytest.mark.parametrize(
    "argv, allowed",
    [
        (["--help"], set()),
        (["train", "--help"], set()),
        (["groups", "list"], set()),
        (["groups", "show", "S4"], set()),
        (["theory", "d3"], {"torch"}),  # the model's initial norm: no pandas, plots, hydra
    ],
)
def test_commands_import_only_what_they_need(argv, allowed) -> None:
    assert _modules_after(argv) <= allowed


def _parse(argv: list[str]):
    p = build_parser()
    args, extra = p.parse_known_args(argv)
    place(p, args, extra)
    return args


def test_overrides_after_options_are_overrides() -> None:
    a = _parse(["train", "d3", "--out", "/tmp/x", "train.threads=1"])
    assert (a.preset, a.overrides, a.out) == ("d3", ["train.threads=1"], "/tmp/x")
    a = _parse(["train", "d3", "task.k=3", "--format", "png", "pdf", "model.hidden=5"])
    assert a.overrides == ["task.k=3", "model.hidden=5"] and a.format == ["png", "pdf"]
    a = _parse(["theory", "d3", "--json", "task.k=3"])
    assert a.overrides == ["task.k=3"] and a.json
    assert _parse(["plot", "RUN"]).format is None


def test_unknown_arguments_are_still_usage_errors(capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        _parse(["groups", "list", "x=1"])
    assert exc.value.code == 2
    with pytest.raises(SystemExit):
        _parse(["train", "d3", "--bogus"])
    assert "unrecognized arguments: --bogus" in capsys.readouterr().err


def test_bad_format_is_refused_before_training(tmp_path, capsys) -> None:
    out = tmp_path / "runs"
    rc = main(["train", "d3", "train.steps=10", "--out", str(out), "--format", "png", "jpgg"])
    assert rc == 2
    err = capsys.readouterr().err
    assert "jpgg" in err and "allowed values" in err and "pdf" in err
    assert not out.exists()


def test_figure_modules_are_prefetched_in_a_thread() -> None:
    """``groupcomp.train`` with figures imports pandas, pyarrow and the figure stack in a
    (non-daemon) background thread; with everything imported already, it starts none."""
    code = """
import sys, threading
import groupcomp.api as api
assert "matplotlib" not in sys.modules and "groupcomp.viz" not in sys.modules
api._prefetch_figure_modules()
(t,) = [t for t in threading.enumerate() if t.name == "groupcomp-prefetch"]
assert not t.daemon
t.join()
print(all(m in sys.modules for m in ("pandas", "pyarrow.parquet", "groupcomp.viz", "matplotlib")))
api._prefetch_figure_modules()
print([t.name for t in threading.enumerate() if t.name == "groupcomp-prefetch"])
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "[]"]
