"""Input limits of issue 12 at the layer that sets them: group specs sized before anything is
built, the irreps' cost and their cheaper (still exact) verification, expression limits, value
ranges at their boundaries, run names, and ``--resume`` falling back past unusable checkpoints."""

from __future__ import annotations

import numpy as np
import pytest

from groupcomp.config import load_config
from groupcomp.errors import ConfigError, GroupSpecError, IrrepError, ResourceLimitError
from groupcomp.groups import dihedral, parse, product, quaternion, symmetric
from groupcomp.groups.irreps import (
    MAX_GENERIC_ORDER,
    MAX_IRREP_ORDER,
    _check_inequivalent,
    generating_set,
)
from groupcomp.groups.parse import _build
from groupcomp.tasks.arithmetic import MAX_NESTING, parse_expression


@pytest.mark.parametrize(
    ("spec", "error", "text"),
    [
        ("C9973", ResourceLimitError, "~5.928 GiB"),
        (f"C{MAX_IRREP_ORDER + 1}", ResourceLimitError, f"order <= {MAX_IRREP_ORDER}"),
        ("C100xC100", ResourceLimitError, "order 10000"),
        ("S7", ResourceLimitError, f"the limit is order {MAX_GENERIC_ORDER}"),
        ("A7xC2", ResourceLimitError, "group of order 2520"),
        ("Dic300", ResourceLimitError, "order 1200"),
        ("S99999999", GroupSpecError, "more than 1000000000000"),
        ("C" + "9" * 5000, GroupSpecError, "5000 digits"),
        ("x".join(["C1"] * 33), GroupSpecError, "33 factors"),
        ("C٣", GroupSpecError, "not a known group name"),  # Arabic-Indic 3: ASCII digits only
    ],
)
def test_group_specs_are_sized_before_anything_is_built(spec, error, text) -> None:
    misses = _build.cache_info().misses
    with pytest.raises(error) as err:
        parse(spec)
    assert text in str(err.value) and "\n" not in str(err.value)
    assert len(str(err.value)) < 600
    assert _build.cache_info().misses == misses  # nothing was built


def test_largest_closed_form_and_generic_groups_are_accepted() -> None:
    G = parse("D6xC5")  # a product of closed forms: no numerical decomposition
    assert sum(r.dim**2 / r.commutant_dim for r in G.irreps()) == pytest.approx(G.order)


@pytest.mark.parametrize(
    "G",
    [dihedral(7), product(quaternion(), dihedral(3)), symmetric(4), parse("C6xC10"), parse("A5")],
    ids=lambda g: g.name,
)
def test_generating_set_generates_the_group(G) -> None:
    gens = generating_set(G)
    assert len(gens) <= max(1, int(np.log2(G.order)))
    # closure of {e} under right multiplication by the generators, independently of the function
    seen, frontier = {0}, [0]
    while frontier:
        new = {int(G.table[a, s]) for a in frontier for s in gens} - seen
        seen |= new
        frontier = list(new)
    assert seen == set(range(G.order))


def test_inequivalence_check_is_exact() -> None:
    G = parse("C12xD4")
    chars = np.stack([r.character for r in G.irreps()])
    _check_inequivalent(G, chars)  # the true characters pass
    with pytest.raises(IrrepError, match="equivalent"):
        _check_inequivalent(G, np.concatenate([chars, chars[5:6]]))
    # a character that merely resembles another (two entries swapped) is not flagged
    fake = chars[7].copy()
    fake[[1, 2]] = fake[[2, 1]]
    if not np.allclose(fake, chars[7]):
        _check_inequivalent(G, np.concatenate([chars, fake[None]]))


def test_broken_irrep_is_caught_by_the_generator_check() -> None:
    from groupcomp.groups.irreps import Irrep, verify_irreps

    G = parse("C9xS3")
    irreps = list(G.irreps())
    for i, r in enumerate(irreps):
        if r.dim > 1:
            mats = r.matrices.copy()
            mats[G.order - 1] = np.eye(r.dim)  # one element's matrix wrong
            irreps[i] = Irrep(mats, r.type, r.complex_dim, "broken")
            break
    with pytest.raises(IrrepError, match="broken"):
        verify_irreps(G, irreps)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("x²+y", "unexpected character '²'"),
        ("x" + "+x" * 600, "longer than 1000 characters"),
        ("(" * (MAX_NESTING + 1) + "x" + ")" * (MAX_NESTING + 1), "nested more than"),
        ("-" * (MAX_NESTING + 1) + "x", "nested more than"),
        ("+".join(["x"] * 250), "more than 200 nested operations"),
        ("x^" + "9" * 40, "40 digits"),
    ],
)
def test_expression_limits(text: str, problem: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_expression(text, key="task.expression")
    msg = str(err.value)
    assert msg.startswith("task.expression:") and problem in msg and "\n" not in msg


def test_expressions_just_inside_the_limits_parse() -> None:
    deep = "(" * (MAX_NESTING - 2) + "x+y" + ")" * (MAX_NESTING - 2)
    assert parse_expression(deep).evaluate([3, 4], 7) == 0
    chain = "+".join(["x"] * 150)
    assert parse_expression(chain).evaluate([1, 0], 1000) == 150


@pytest.mark.parametrize(
    ("override", "ok"),
    [
        ("train.seeds=[9223372036854775807]", True),
        ("train.seeds=[9223372036854775808]", False),
        ("train.seeds=[0,-1]", False),
        ("template.seed=9223372036854775807", True),
        ("task.sample_seed=-1", False),
        ("task.k=100", True),
        ("task.k=101", False),
        ("train.log_points=100000", True),
        ("train.log_points=100001", False),
        ("optim.momentum=0.999", True),
        ("optim.momentum=1", False),
        ("optim.weight_decay=.inf", False),
        ("optim.grad_clip=.inf", False),
        ("optim.adam_lr=-1", False),
        ("template.scale=-2", True),
        ("template.scale=0", False),
        ("template.powers=[0,0,1e-300]", True),
        ("template.powers=[0,0,0]", False),
        ("theory.agf=1", False),
        ("theory.agf=true", True),
        ("model.output_every_step=0", False),
        ("model.hidden=true", False),
        ("task.val_fraction=0.99", False),  # round(0.99 x 36) = 36: nothing left to train on
        ("preset=my-run_1.v2", True),
        ("preset=../up", False),
        ("optim.weight_decay=0.1", False),  # per-neuron SGD has no weight decay
        ("model.hidden=???", False),
    ],
)
def test_value_ranges_at_their_boundaries(override: str, ok: bool) -> None:
    overrides = ["template=onehot", override] if "powers" not in override else [override]
    if ok:
        load_config("d3", overrides)
    else:
        key = override.split("=")[0]
        with pytest.raises(ConfigError, match=rf"^{key.replace('.', '[.]')}: "):
            load_config("d3", overrides)


def test_arith_values(tmp_path) -> None:
    from groupcomp.config.arith import ArithConfig

    with pytest.raises(ConfigError, match=r"^task\.k: must be an integer in 2\.\.32, got 33"):
        load_config(None, ["task.k=33"], schema=ArithConfig)
    with pytest.raises(ConfigError, match=r"^split\.seed: .* got -1"):
        load_config(None, ["split.seed=-1"], schema=ArithConfig)
    with pytest.raises(ConfigError, match=r"^model\.layers: .* got 1001"):
        load_config(None, ["model.layers=1001"], schema=ArithConfig)
    cfg = load_config(None, ["split.seed=0", "task.k=3", "group=Z5"], schema=ArithConfig)
    assert cfg.split.seed == 0


def test_name_rule_is_shared_by_names_and_presets() -> None:
    from groupcomp.config.loader import name_problem
    from groupcomp.errors import RunFolderError
    from groupcomp.runs.folder import validate_run_name

    for bad in ["", ".", "..", ".x", "a/b", "a\\b", "a b", "é", "x" * 121, "a\x00"]:
        assert name_problem(bad) is not None
        with pytest.raises(RunFolderError, match="^--name: "):
            validate_run_name(bad)
    for good in ["d3", "run-1_a.b+c=d,e@f", "x" * 120]:
        assert name_problem(good) is None and validate_run_name(good) == good


def test_resume_skips_unusable_checkpoints_and_keeps_them(tmp_path, capsys) -> None:
    from groupcomp.api import resume, train

    cfg = load_config(
        None,
        ["group=C4", "template=onehot", "model.hidden=8", "train.steps=30", "optim.lr=1e-3"],
    )
    run = train(cfg, tmp_path, name="r", quiet=True, stop_after=20, figures=False).run_dir
    ckpts = sorted((run / "checkpoints").glob("step_*.pt"))
    newest = ckpts[-1]
    newest.write_bytes(newest.read_bytes()[:50])  # truncated
    res = resume(run, quiet=True, figures=False)
    assert res.summary["status"] == "completed" and res.summary["steps_done"] == 30
    err = capsys.readouterr().err
    assert f"skipping checkpoint: {newest}" in err
    assert newest.with_name(newest.name + ".unusable").is_file()  # kept aside, not deleted
    # every checkpoint unusable: one line naming the folder and what was tried
    for p in (run / "checkpoints").glob("step_*.pt"):
        p.write_bytes(b"")
    (run / "summary.json").write_text('{"status": "interrupted"}')
    from groupcomp.errors import RunFolderError

    with pytest.raises(RunFolderError, match=r"no usable checkpoint \(tried \d+: "):
        resume(run, quiet=True, figures=False)
