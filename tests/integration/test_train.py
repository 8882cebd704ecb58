"""End-to-end training on tiny configs: staircase numbers, run folder, reproducibility, resume,
divergence handling, and the CLI."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from groupcomp import __version__
from groupcomp.api import resume, train
from groupcomp.cli import main
from groupcomp.config import load_config
from groupcomp.errors import DivergenceError, RunFolderError
from groupcomp.runs import RunFolder

# D3 with powers (trivial, sign, rot1) = (0, 1000, 3000): Theorem 4.1 ranks the sign irrep first
# (docs/theory.md §2.3) although rot1 has more power; plateaus 4000/6 -> 3000/6 -> 0.
TINY = [
    "group=D3",
    "template.powers=[0,1000,3000]",
    "model.hidden=60",
    "optim.lr=2e-5",
    "train.steps=500",
    "train.log_points=60",
    "train.checkpoints=6",
    "train.progress=false",
]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    return train(load_config("d3", TINY), out, quiet=True)


def test_tiny_staircase_numbers(tiny_run) -> None:
    s = tiny_run.summary
    th, ob = s["theory"], s["observed"]
    assert th["irrep_labels"] == ["trivial", "sign", "rot1"]
    assert th["order"] == [[1], [2]]  # sign before rot1 (ranking by U*, not by power)
    assert ob["order"] == [["sign"], ["rot1"]]
    assert th["plateaus_mse"] == pytest.approx([4000 / 6, 3000 / 6, 0.0])
    assert ob["plateaus_mse"][0] == pytest.approx(4000 / 6, rel=1e-3)
    assert ob["plateaus_mse"][1] == pytest.approx(3000 / 6, rel=0.03)
    assert s["final_loss"] < 0.01 * s["initial_loss"]
    assert s["status"] == "completed" and s["steps_done"] == 500
    # closed-form first-drop step (per-neuron SGD, docs/theory.md §2.5) within 15 % of the run
    first = s["drops"][0]
    assert first["observed_step"] == pytest.approx(first["predicted_step"], rel=0.15)


def test_run_folder_contents(tiny_run) -> None:
    d = tiny_run.run_dir
    for rel in [
        "config.yaml",
        "metrics.parquet",
        "summary.json",
        "checkpoints/step_000000000.pt",
        "checkpoints/step_000000500.pt",
        "figures/loss.png",
        "figures/power.png",
    ]:
        assert (d / rel).stat().st_size > 0, rel
    assert not list(d.rglob("*.pdf"))  # PDFs only on request (--format png pdf)
    assert not list(d.rglob("*.tmp"))  # atomic writes leave no temporaries
    cfg = yaml.safe_load((d / "config.yaml").read_text())
    assert cfg["template"]["powers"] == [0, 1000, 3000] and cfg["model"]["hidden"] == 60
    summary = json.loads((d / "summary.json").read_text())
    assert summary["groupcomp"] == __version__
    assert summary["git_commit"]
    assert summary["torch"] == torch.__version__
    assert summary["kind"] == "sequence" and summary["schema_version"] == 2
    steps = RunFolder(d).checkpoint_steps()
    assert steps[0] == 0 and steps[-1] == 500 and 3 <= len(steps) <= 6  # log-spaced
    for t in steps:  # every checkpoint loads without unpickling code
        ck = torch.load(RunFolder(d).checkpoint_path(t), weights_only=True)
        assert ck["step"] == t and ck["fit"]["step"] == t


def test_metrics_parseval_and_units(tiny_run) -> None:
    m = pd.read_parquet(tiny_run.run_dir / "metrics.parquet")
    assert m["step"].max() == 500 and len(m) == 501
    assert np.allclose(m["loss_p1"], m["loss"] * 6 / 2, equal_nan=True)
    logged = m.dropna(subset=["eval_loss"])
    parts = logged[[f"irrep_loss/{lab}" for lab in ("trivial", "sign", "rot1")]].sum(axis=1)
    # per-irrep residuals sum to the loss (Parseval)
    assert np.allclose(parts, logged["eval_loss"], rtol=1e-4, atol=1e-6)
    # at initialisation the training loss equals ||x||^2 / n (the zero predictor, tiny init)
    assert m.loc[0, "loss"] == pytest.approx(4000 / 6, rel=1e-4)
    final = logged.iloc[-1]
    # learned power approaches the template's power per irrep
    assert final["power/sign"] == pytest.approx(1000, rel=0.02)
    assert final["power/rot1"] == pytest.approx(3000, rel=0.02)


def test_reproducible_and_batched_seeds_equal_single(tmp_path) -> None:
    base = [*TINY, "train.steps=120"]
    a = train(load_config("d3", [*base, "train.seeds=[3]"]), None, quiet=True)
    b = train(load_config("d3", [*base, "train.seeds=[3]"]), None, quiet=True)
    assert np.array_equal(a.metrics["loss"].to_numpy(), b.metrics["loss"].to_numpy())
    both = train(load_config("d3", [*base, "train.seeds=[5,3]"]), None, quiet=True)
    seed3 = both.metrics[both.metrics.seed == 3]["loss"].to_numpy()
    assert np.allclose(seed3, a.metrics["loss"].to_numpy(), rtol=1e-5, atol=1e-6)
    seed5 = both.metrics[both.metrics.seed == 5]["loss"].to_numpy()
    assert not np.allclose(seed5, seed3)


@pytest.mark.parametrize("extra", [[], ["train.batch_size=16"]], ids=["full", "minibatch"])
def test_resume_equals_uninterrupted(tmp_path, extra) -> None:
    cfg = load_config("d3", [*TINY, "train.steps=200", *extra])
    full = train(cfg, tmp_path / "a", quiet=True)
    part = train(cfg, tmp_path / "b", quiet=True, stop_after=77)
    assert part.summary["status"] == "interrupted" and part.state.step == 77
    done = resume(part.run_dir, quiet=True)
    assert done.summary["status"] == "completed"
    for p, q in zip(full.model.parameters(), done.model.parameters(), strict=True):
        assert torch.equal(p, q)
    assert np.array_equal(full.metrics["loss"].to_numpy(), done.metrics["loss"].to_numpy())
    with pytest.raises(RunFolderError, match="already complete"):
        resume(part.run_dir, quiet=True)


def test_divergence_stops_and_keeps_last_good_checkpoint(tmp_path) -> None:
    cfg = load_config("d3", [*TINY, "optim.lr=5", "train.steps=300", "train.checkpoints=300"])
    with pytest.raises(DivergenceError, match="diverged.*Run folder"):
        train(cfg, tmp_path, quiet=True)
    (run,) = tmp_path.iterdir()
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "diverged"
    folder = RunFolder(run)
    last = folder.load_checkpoint(folder.checkpoint_steps()[-1])
    assert last["step"] <= summary["steps_done"]
    assert all(bool(torch.isfinite(v).all()) for v in last["model"].values())


def test_never_overwrites_a_named_run(tmp_path) -> None:
    cfg = load_config("d3", [*TINY, "train.steps=5"])
    train(cfg, tmp_path, name="mine", quiet=True)
    before = (tmp_path / "mine" / "summary.json").read_bytes()
    with pytest.raises(RunFolderError, match="already exists"):
        train(cfg, tmp_path, name="mine", quiet=True)
    assert (tmp_path / "mine" / "summary.json").read_bytes() == before


def test_cli_train_plot_and_errors(tmp_path, capsys) -> None:
    rc = main(["train", "d3", *TINY, "train.steps=30", "--out", str(tmp_path), "--name", "r"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "predicted order: sign -> rot1" in out
    png = tmp_path / "r" / "figures" / "loss.png"
    png.unlink()
    assert main(["plot", str(tmp_path / "r")]) == 0
    assert png.exists()
    assert main(["train", "d3", "model.hiden=3"]) == 2
    err = capsys.readouterr().err
    assert "model.hiden: unknown config key" in err and "model.hidden" in err
    assert "Traceback" not in err


def test_cli_groups_and_theory(capsys) -> None:
    assert main(["groups", "show", "D3"]) == 0
    out = capsys.readouterr().out
    assert "rot1" in out and "FS +1" in out
    assert main(["theory", "d3", "--json"]) == 0
    th = json.loads(capsys.readouterr().out)
    assert th["plateaus_mse"] == pytest.approx([505, 5, 0])
    assert main(["groups", "show", "C0"]) == 2


def test_cli_theory_table_and_scaling(tmp_path, capsys) -> None:
    assert main(["theory", "d3"]) == 0
    out = capsys.readouterr().out
    assert "rot1" in out and "88.39" in out  # utility ratio U*_rot1 / U*_sign
    assert main(["theory", "scaling", "group=D3", "K=4", "--json", "--out", str(tmp_path)]) == 0
    doc = json.loads(capsys.readouterr().out.split("\n/")[0])
    widths = [row["two_layer_width"] for row in doc["table"]]
    assert widths == [18, 68, 264]  # 2^{k-1} (2^{k+1} + 1), docs/theory.md §3.2
    assert (tmp_path / "scaling.png").exists() and (tmp_path / "scaling.json").exists()


def test_agf_overlay_in_summary(tmp_path) -> None:
    cfg = load_config("d3", [*TINY, "train.steps=300", "theory.agf=true", "model.hidden=24"])
    s = train(cfg, tmp_path, quiet=True).summary
    agf = s["agf"]
    assert "error" not in agf
    # AGF's loss levels start at ||x||^2/n and pass through the predicted plateau after the
    # first learned irrep (sign, 3000/6 = 500) within 1 %
    assert agf["levels_mse"][0] == pytest.approx(4000 / 6)
    assert min(abs(v - 500) for v in agf["levels_mse"]) < 5
    assert agf["curve_steps"][0] == 0 and len(agf["curve_steps"]) == len(agf["curve_loss"])


@pytest.mark.parametrize(
    "extra", [["train.batch_size=16"], ["task.data=online", "train.batch_size=16"]]
)
def test_resume_from_a_periodic_checkpoint(extra) -> None:
    """A run that dies after a periodic checkpoint continues on exactly the same batches."""
    import copy

    from groupcomp.runs import build
    from groupcomp.training import FitHooks, FitState, Schedule, fit

    cfg = load_config("d3", [*TINY, *extra])
    steps, at = 120, 47
    full = build(cfg)
    saved: dict = {}

    def keep(t: int, st: FitState) -> None:
        if t == at:
            saved.update(
                model=copy.deepcopy(full.model.state_dict()),
                opt=copy.deepcopy(full.optimizer.state_dict()),
                data=copy.deepcopy(full.data.state_dict()),
                fit=copy.deepcopy(st.to_dict()),
            )

    sched = Schedule(steps=steps, checkpoint_steps=(at, 90))
    fit(full.model, full.objective, full.optimizer, full.data, sched, hooks=FitHooks(keep))
    again = build(cfg)
    again.model.load_state_dict(saved["model"])
    again.optimizer.load_state_dict(saved["opt"])
    again.data.load_state_dict(saved["data"])
    start = FitState.from_dict(saved["fit"])
    st = fit(again.model, again.objective, again.optimizer, again.data, sched, start=start)
    assert st.step == steps and st.losses.shape[0] == steps
    for p, q in zip(full.model.parameters(), again.model.parameters(), strict=True):
        assert torch.equal(p, q)
