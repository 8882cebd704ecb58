"""Sweeps through Hydra's multirun and the results table: tiny C3 jobs (each well under a
second once torch is warm), the basic launcher in this process; the joblib and submitit_local
launchers in other processes (slow: their processes import torch)."""

from __future__ import annotations

import json
import os

import pandas as pd
import pytest

import groupcomp
from groupcomp.cli import main
from groupcomp.config import RunConfig, load_config
from groupcomp.runs import execute, load_run
from groupcomp.runs.collect import CollectWarning, collect_runs
from groupcomp.runs.sweep import ERROR_FILE, multirun

#: a job trains in well under a second: C3, width 4–8, 30 full-batch steps on the torch engine
BASE = [
    "group=C3",
    "template.powers=[0,1]",
    "model.init_scale=0.3",
    "optim.lr=0.05",
    "train.steps=30",
    "train.engine=torch",
    "train.log_points=8",
    "train.checkpoints=3",
]


def _sweep(out, *extra, **kw):
    return multirun(RunConfig, "d3", [*BASE, *extra], out=out, quiet=True, **kw)


def _mtime(path) -> int:
    return os.stat(path / "summary.json").st_mtime_ns


@pytest.mark.slow
def test_grid_failure_isolation_rerun_skips_and_collect(tmp_path, capsys) -> None:
    res = _sweep(tmp_path, "model.hidden=4,0", "train.seeds=[0],[1]")
    assert len(res.jobs) == 4
    bad = res.unsuccessful
    assert sorted(j.name for j in bad) == [
        "model.hidden=0,train.seeds=0",
        "model.hidden=0,train.seeds=1",
    ]
    for j in bad:
        assert j.status == "failed" and j.error.startswith("model.hidden:")
        assert j.error.endswith("got 0")
        text = (res.sweep_dir / j.name / ERROR_FILE).read_text()
        assert text.splitlines()[0] == j.error
    good = [j for j in res.jobs if j.ok]
    assert len(good) == 2 and all(j.status == "completed" and not j.skipped for j in good)
    for j in good:  # each job is a complete run folder of its own config
        run = load_run(res.sweep_dir / j.name)
        assert j.name == f"model.hidden=4,train.seeds={run.config.train.seeds[0]}"
        assert run.config.model.hidden == 4 and len(run.config.train.seeds) == 1
        assert run.summary["status"] == "completed" and run.summary["steps_done"] == 30

    # the same command line through the CLI: the same sweep folder, finished jobs skipped (their
    # folders untouched), the failed ones tried again and listed; exit code 1
    before = {j.name: _mtime(res.sweep_dir / j.name) for j in good}
    argv = ["train", "-m", "d3", *BASE, "model.hidden=4,0", "train.seeds=[0],[1]"]
    assert main([*argv, "--out", str(tmp_path)]) == 1
    cap = capsys.readouterr()
    assert f"sweep folder {res.sweep_dir}" in cap.out
    assert "model.hidden=4,train.seeds=1: already completed" in cap.out
    assert "2 finished (2 of them earlier, skipped), 2 unsuccessful" in cap.out
    assert "job model.hidden=0,train.seeds=1 failed: model.hidden: " in cap.err
    assert all(_mtime(res.sweep_dir / n) == t for n, t in before.items())

    # the table: one row per run and seed, config columns, summary values equal
    assert main(["collect", str(res.sweep_dir), "--x", "train.seeds"]) == 0
    cap = capsys.readouterr()
    assert "2 rows (runs × seeds) from 2 run folders" in cap.out
    assert "warning:" in cap.err and "model.hidden=0,train.seeds=0: skipped (failed job" in cap.err
    assert "Traceback" not in cap.err
    df = pd.read_parquet(res.sweep_dir / "results.parquet")
    pd.testing.assert_frame_equal(
        pd.read_csv(res.sweep_dir / "results.csv")[["model.hidden", "seed"]],
        df[["model.hidden", "seed"]],
    )
    assert (res.sweep_dir / "results_final_loss.png").is_file()
    assert sorted(zip(df["model.hidden"], df["seed"], strict=True)) == [(4, 0), (4, 1)]
    assert (df["group"] == "C3").all() and (df["task.k"] == 2).all()
    assert (df["train.steps"] == 30).all() and (df["status"] == "completed").all()
    for _, row in df.iterrows():
        run = load_run(row["run_dir"])
        assert row["final_loss_per_seed"] == run.summary["final_loss_per_seed"][0]
        assert row["final_loss"] == run.summary["final_loss"]
        assert row["initial_loss"] == run.summary["initial_loss"]
        assert row["drops.0.predicted_step"] == run.summary["drops"][0]["predicted_step"]
        last = run.metrics[run.metrics["step"] == run.metrics["step"].max()]
        assert row["final_loss_per_seed"] == pytest.approx(float(last["loss"].iloc[0]), rel=1e-6)


@pytest.mark.slow
def test_resume_interrupted_job_refuse_other_config_and_force(tmp_path) -> None:
    name = "s"
    # a job killed half-way: its folder holds an interrupted run
    cfg6 = load_config("d3", [*BASE, "model.hidden=6"])
    execute(cfg6, tmp_path / name, name="model.hidden=6", quiet=True, stop_after=12)
    assert load_run(tmp_path / name / "model.hidden=6").summary["status"] == "interrupted"
    # a folder holding a run of another config (another lr) under a job's name
    other = load_config("d3", [*BASE, "model.hidden=4", "optim.lr=0.01"])
    execute(other, tmp_path / name, name="model.hidden=4", quiet=True)
    before = _mtime(tmp_path / name / "model.hidden=4")

    res = _sweep(tmp_path, "model.hidden=4,6", name=name)
    by = {j.name: j for j in res.jobs}
    assert by["model.hidden=6"].resumed and by["model.hidden=6"].status == "completed"
    resumed = load_run(tmp_path / name / "model.hidden=6")
    alone = execute(cfg6, None, quiet=True)  # the same run, uninterrupted
    assert resumed.summary["final_loss_per_seed"] == alone.summary["final_loss_per_seed"]
    assert by["model.hidden=4"].status == "failed"
    assert (
        "another config" in by["model.hidden=4"].error and "optim.lr" in by["model.hidden=4"].error
    )
    assert _mtime(tmp_path / name / "model.hidden=4") == before

    # force: every job again, in a new sweep folder; the old one is untouched
    forced = _sweep(tmp_path, "model.hidden=4,6", name=name, force=True)
    assert forced.sweep_dir.name == "s-2"
    assert [j.status for j in forced.jobs] == ["completed", "completed"]
    assert not any(j.skipped or j.resumed for j in forced.jobs)
    assert _mtime(tmp_path / name / "model.hidden=4") == before


def test_unknown_launcher_or_key_stops_before_any_job(tmp_path, capsys) -> None:
    rc = main(["train", "-m", "d3", *BASE, "model.hidden=4,8", "hydra/launcher=nope",
               "--out", str(tmp_path), "--quiet"])  # fmt: skip
    err = capsys.readouterr().err
    assert rc == 2 and "hydra/launcher=nope: unknown launcher" in err and "groupcomp[sweep]" in err
    assert not any(tmp_path.iterdir())  # no sweep folder left behind
    assert main(["train", "-m", "d3", *BASE, "model.hiden=4,8", "--out", str(tmp_path)]) == 2
    assert "model.hiden: unknown config key" in capsys.readouterr().err


def test_comma_list_without_multirun_says_add_m(tmp_path, capsys) -> None:
    assert main(["train", "d3", *BASE, "model.hidden=4,8", "--out", str(tmp_path)]) == 2
    assert "(to sweep over model.hidden=4,8, add -m)" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_collect_mixes_kinds_batched_seeds_and_skips_a_corrupt_folder(tmp_path, capsys) -> None:
    seq = groupcomp.train(
        load_config("d3", [*BASE, "model.hidden=4", "train.seeds=[3,5]"]),
        tmp_path,
        quiet=True,
        figures=False,
    )
    ar = groupcomp.train(
        load_config(None, ["group=Z5", "train.epochs=3", "model.hidden=8"], schema=_arith()),
        tmp_path / "nested" / "deeper",
        quiet=True,
        figures=False,
    )
    broken = groupcomp.train(
        load_config("d3", [*BASE, "model.hidden=5"]), tmp_path, quiet=True, figures=False
    )
    (broken.run_dir / "summary.json").write_text("{not json")
    with pytest.warns(CollectWarning, match=str(broken.run_dir.name)):
        df = groupcomp.collect(tmp_path)
    assert len(df) == 3  # two batched seeds + one arithmetic seed
    s = df[df["kind"] == "sequence"].sort_values("seed")
    assert list(s["seed"]) == [3, 5]
    assert list(s["final_loss_per_seed"]) == seq.summary["final_loss_per_seed"]
    a = df[df["kind"] == "arith"].iloc[0]
    assert a["arith.final.test_acc"] == ar.summary["arith"]["final"]["test_acc"][0]
    assert a["loss"] == "mse" and (s["task.data"] == "exhaustive").all()
    assert pd.isna(a["template.kind"])  # a key the other kind lacks: missing
    assert json.loads(s["train.seeds"].iloc[0]) == [3, 5]
    # the CLI names the folder in a one-line warning, no traceback
    assert main(["collect", str(tmp_path), "--no-figures", "--out", str(tmp_path / "t.csv")]) == 0
    err = capsys.readouterr().err
    assert f"{broken.run_dir}: skipped" in err and "Traceback" not in err
    assert len(pd.read_csv(tmp_path / "t.csv")) == 3 and (tmp_path / "t.parquet").is_file()


def test_arith_multirun_with_shorthands(tmp_path) -> None:
    res = groupcomp.multirun(
        None,
        ["group=Z5", "train.epochs=3", "hidden=8,16", "train.engine=torch"],
        command="arith",
        out=tmp_path,
        quiet=True,
        figures=False,
    )
    assert [(j.name, j.status) for j in res.jobs] == [
        ("model.hidden=8", "completed"),
        ("model.hidden=16", "completed"),
    ]
    df = groupcomp.collect(res.sweep_dir)
    assert sorted(df["model.hidden"]) == [8, 16] and (df["kind"] == "arith").all()


def _arith():
    from groupcomp.config import ArithConfig

    return ArithConfig


def _grid_table(out, *launcher) -> pd.DataFrame:
    res = _sweep(out, "model.hidden=4,8", *launcher)
    assert [j.status for j in res.jobs] == ["completed", "completed"]
    df = collect_runs([res.sweep_dir])
    return df.assign(job=[os.path.basename(p) for p in df["run_dir"]]).set_index("job")


@pytest.fixture(scope="module")
def basic_table(tmp_path_factory) -> pd.DataFrame:
    return _grid_table(tmp_path_factory.mktemp("basic"))


@pytest.mark.slow
@pytest.mark.parametrize(
    "launcher",
    [
        ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"],
        ["hydra/launcher=submitit_local", "hydra.launcher.timeout_min=5"],
    ],
    ids=["joblib", "submitit_local"],
)
def test_process_launchers_give_the_same_table_as_the_basic_one(
    tmp_path, launcher, basic_table
) -> None:
    other = _grid_table(tmp_path, *launcher)
    assert sorted(other.index) == sorted(basic_table.index)
    assert sorted(other.index) == ["model.hidden=4", "model.hidden=8"]
    cols = ["model.hidden", "seed", "status", "steps_done", "final_loss_per_seed", "initial_loss"]
    pd.testing.assert_frame_equal(other.loc[basic_table.index, cols], basic_table[cols])


@pytest.mark.slow
def test_scaling_width_sweep_every_model_and_k_accounted_for(tmp_path, capsys) -> None:
    """``theory scaling --train``: a sweep per model and k; a k too large is reported, not
    dropped silently; relative losses come from the runs' own metrics."""
    from groupcomp.analysis.width_sweep import width_sweep

    res = width_sweep(
        "C3",
        None,
        K=3,
        widths=[2, 8],
        seeds=[0, 1],
        training={m: {"steps": 20} for m in ("two_layer", "rnn", "tree")},
        max_sequences=10,
        out=tmp_path,
    )
    out = capsys.readouterr().out
    w = res.widths.set_index(["model", "k"])
    assert sorted(w.index) == [(m, k) for m in ("rnn", "tree", "two_layer") for k in (2, 3)]
    for m in ("two_layer", "rnn", "tree"):
        assert w.loc[(m, 3), "skipped"] == "C3^3 = 27 sequences > max_sequences=10"
        assert f"{m} k=3: not trained (C3^3 = 27 sequences" in out
        assert w.loc[(m, 2), "n_runs"] == 2 and w.loc[(m, 2), "failed"] == 0
        assert (res.sweep_dir / f"{m}-k2" / "model.hidden=8" / "summary.json").is_file()
    assert out.count("groupcomp: job ") == 6  # a progress line per job
    assert len(res.runs) == 3 * 2 * 2  # models x widths x seeds
    for _, row in res.runs.iterrows():
        run = load_run(row["run_dir"])
        m = run.metrics[run.metrics["seed"] == row["seed"]]
        want = m[m["step"] == m["step"].max()]["loss"].iloc[0] / m[m["step"] == 0]["loss"].iloc[0]
        assert row["rel_loss"] == pytest.approx(want, rel=1e-6)
        assert row["model"] == run.config.model.name
