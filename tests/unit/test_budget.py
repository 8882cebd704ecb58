"""Resource limits decided up front (issue 12): the estimate of ``groupcomp.runs.budget`` against
the arrays a built experiment really holds, and the refusals with their numbers and keys."""

from __future__ import annotations

import math

import pytest
import torch

from groupcomp.config import load_config
from groupcomp.config.arith import ArithConfig
from groupcomp.errors import ResourceLimitError
from groupcomp.runs import budget, build
from groupcomp.runs.experiment import experiment_resources


def _param_bytes(model: torch.nn.Module) -> int:
    return sum(p.numel() * p.element_size() for p in model.parameters())


@pytest.mark.parametrize(
    "overrides",
    [
        ["group=D3", "template=onehot", "model.hidden=7", "train.steps=10"],
        ["group=C5", "template=onehot", "k=3", "model.hidden=9", "train.seeds=[0,1]"],
        ["group=D4", "template=onehot", "model=rnn", "k=3", "model.hidden=6", "optim.lr=1e-3"],
        ["group=C4", "template=onehot", "model=tree", "k=4", "model.hidden=5", "optim.lr=1e-3"],
        ["group=C6", "template=onehot", "train.dtype=float64", "model.hidden=3"],
    ],
)
def test_sequence_estimate_matches_the_built_arrays(overrides: list[str]) -> None:
    cfg = load_config(None, [*overrides, "train.steps=10"])
    exp = build(cfg)
    est = experiment_resources(exp)
    n, k, S = exp.group.order, exp.task.k, len(exp.seeds)
    b = 8 if "float64" in " ".join(overrides) else 4
    # model part: parameters, gradients and two optimiser states, plus the two n x n encodings
    assert est.memory["model"] == 4 * _param_bytes(exp.model) + 2 * n * n * 8
    # data part: the exhaustive set (int64 indices) and its cached targets
    seq = exp.data.train_seq
    assert seq.shape[0] == n**k
    targets = exp.data.targets(seq, exp.model.encoding.dtype)
    assert est.memory["data"] == seq.numel() * 8 + targets.numel() * targets.element_size()
    assert targets.element_size() == b
    # records: one float per step, seed and record (twice) + copies of the metrics table, whose
    # columns are those of the run's real metrics table (+ the final row)
    m = len(exp.group.irreps())
    T = int(exp.cfg.train.steps)
    cols = 6 + 2 * m + (1 if exp.cfg.model.name == "rnn" else 0)  # RNN: mix_block_fraction
    assert est.memory["records"] == T * S * (b + 4) + budget.FRAME_COPIES * (T + 1) * S * cols * 8
    from groupcomp.training import fit

    state = fit(exp.model, exp.objective, exp.optimizer, exp.data, exp.schedule, probe=exp.probe)
    frame = exp.metrics_frame(state)
    assert frame.shape == ((T + 1) * S, cols)


def test_arith_estimate_matches_the_built_arrays() -> None:
    cfg = load_config(None, ["group=Z11", "model.hidden=13", "train.epochs=5"], schema=ArithConfig)
    exp = build(cfg)
    est = experiment_resources(exp)
    M = exp.task.M
    buffers = sum(x.numel() * x.element_size() for x in exp.model.buffers() if x.dim() == 3)
    assert est.memory["model"] == 4 * _param_bytes(exp.model) + buffers
    assert est.notes["what"].startswith(f"{M**2} tuples")
    from groupcomp.training import fit

    state = fit(exp.model, exp.objective, exp.optimizer, exp.data, exp.schedule, probe=exp.probe)
    frame = exp.metrics_frame(state)
    T, m = exp.schedule.steps, len(exp.group.irreps())
    assert frame.shape == (T + 1, 9 + m)
    assert est.memory["records"] == T * 5 * 8 + budget.FRAME_COPIES * (T + 1) * (9 + m) * 8


def test_records_grow_linearly_with_steps_and_checkpoints_are_counted() -> None:
    cfg = load_config(None, ["group=D3", "template=onehot", "train.steps=1000"])
    e1 = budget.estimate(cfg, order=6, num_irreps=3, steps=1000)
    e2 = budget.estimate(cfg, order=6, num_irreps=3, steps=2000)
    e3 = budget.estimate(cfg, order=6, num_irreps=3, steps=3000)
    d1 = e2.memory["records"] - e1.memory["records"]
    assert d1 > 0 and e3.memory["records"] - e2.memory["records"] == d1
    assert {p: v for p, v in e1.memory.items() if p != "records"} == {
        p: v for p, v in e2.memory.items() if p != "records"
    }
    every = load_config(None, ["group=D3", "template=onehot", "train.checkpoint_every=10"])
    est = budget.estimate(every, order=6, num_irreps=3, steps=1000)
    from groupcomp.training import Schedule

    schedule = Schedule.log_spaced(1000, 120, 12, 10)
    assert est.checkpoints == len(schedule.checkpoint_steps)  # the files the loop will write


def test_unknown_steps_leave_out_the_step_dependent_parts() -> None:
    cfg = load_config("d3")
    assert cfg.train.steps == "auto"
    est = budget.estimate(cfg, order=6, num_irreps=3)
    assert not est.steps_known and "records" not in est.memory and est.checkpoints == 0


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        (["group=C1000", "template=onehot"], "task.data"),
        (["group=D3", "template=onehot", "model.hidden=100000000"], "model.hidden"),
        (["group=D3", "template=onehot", "train.steps=100000000000"], "train.steps"),
        (["group=D3", "template=onehot", "k=10"], "task.data"),
        (
            ["group=D3", "template=onehot", "data=sampled", "task.num_samples=1000000000000"],
            "task.num_samples",
        ),
    ],
)
def test_refusals_name_the_key_the_numbers_and_the_way_out(overrides, key) -> None:
    cfg = load_config(None, [*overrides, "optim.lr=1e-3"])
    with pytest.raises(ResourceLimitError) as err:
        build(cfg)
    msg = str(err.value)
    assert msg.startswith(key + ":")
    assert "GiB of memory, more than the limit" in msg and "largest parts" in msg
    assert "\n" not in msg and len(msg) < 1000


def test_the_limit_is_the_environment_variable_when_set(monkeypatch) -> None:
    cfg = load_config(None, ["group=C50", "template=onehot", "train.steps=100"])
    est = budget.estimate(cfg, order=50, num_irreps=26)
    monkeypatch.setenv(budget.MEMORY_ENV, f"{est.total_memory / 2**30 * 0.99:.6f}")
    with pytest.raises(ResourceLimitError, match=budget.MEMORY_ENV):
        budget.check(est)
    monkeypatch.setenv(budget.MEMORY_ENV, f"{est.total_memory / 2**30 * 1.01:.6f}")
    assert budget.check(est) is est
    monkeypatch.setenv(budget.MEMORY_ENV, "lots")
    with pytest.raises(ResourceLimitError, match="GROUPCOMP_MEMORY_LIMIT_GB: must be"):
        budget.memory_limit()


def test_too_many_checkpoints_and_too_little_disk(tmp_path) -> None:
    cfg = load_config(
        None, ["group=D3", "template=onehot", "train.steps=100000", "train.checkpoint_every=1"]
    )
    est = budget.estimate(cfg, order=6, num_irreps=3)
    with pytest.raises(ResourceLimitError, match="train.checkpoint_every: .* 100001 checkpoints"):
        budget.check(est)
    big = budget.ResourceEstimate({}, {"checkpoints": 2**62}, 5)
    with pytest.raises(ResourceLimitError, match="train.checkpoints: .* free under"):
        budget.check_disk(big, tmp_path / "not" / "yet")
    budget.check_disk(budget.ResourceEstimate({}, {"checkpoints": 1}, 1), tmp_path)


def test_refused_before_the_model_is_built(monkeypatch) -> None:
    from groupcomp import models

    def boom(*a, **k):
        raise AssertionError("the model was built")

    monkeypatch.setattr(models.TwoLayerNet, "__init__", boom)
    cfg = load_config(None, ["group=C1000", "template=onehot", "optim.lr=1e-3"])
    with pytest.raises(ResourceLimitError):
        build(cfg)
    assert math.isfinite(budget.memory_limit())
