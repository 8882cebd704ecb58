"""The shared progress helper (groupcomp.runs.progress) under a fake clock, and its callers:
the training loop's duck-typed bar, the AGF simulation's callback, the sweep's job count."""

from __future__ import annotations

import io

import numpy as np
import pytest

from groupcomp.runs.progress import Progress, format_duration


class FakeClock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def _lines(stream: io.StringIO) -> list[str]:
    return [ln for ln in stream.getvalue().splitlines() if ln]


def test_status_lines_every_interval_with_rate_loss_and_eta() -> None:
    clock, out = FakeClock(), io.StringIO()
    p = Progress(120_000, desc="train", stream=out, tty=False, interval=10.0, clock=clock)
    assert p.mode == "lines"
    clock.t += 5.0
    p.update(12_000)  # 5 s after the start: no line yet
    assert _lines(out) == []
    clock.t += 5.0
    p.set_postfix_str("loss 5.01")
    p.update(12_000)  # 10 s: 24000 steps at 2400 steps/s, 96000 left -> 40 s
    assert _lines(out) == ["groupcomp: train step 24000/120000  loss 5.01  2400 steps/s  ETA 40 s"]
    clock.t += 9.0
    p.update(1_000)  # 9 s after the last line: nothing
    assert len(_lines(out)) == 1
    clock.t += 1.0
    p.set_loss(0.123456)
    p.update(11_000)  # rate since the previous line: 12000 steps in 10 s
    assert _lines(out)[-1] == (
        "groupcomp: train step 36000/120000  loss 0.1235  1200 steps/s  ETA 1 min 10 s"
    )
    p.close()
    assert len(_lines(out)) == 2  # close prints nothing


def test_unknown_total_has_no_eta_and_slow_units_show_seconds_per_unit() -> None:
    clock, out = FakeClock(), io.StringIO()
    p = Progress(None, unit="run", stream=out, tty=False, interval=10.0, clock=clock)
    clock.t += 40.0
    p.update(1)
    assert _lines(out) == ["groupcomp: run 1  40 s/run"]


def test_off_and_short_work_print_nothing() -> None:
    clock, out = FakeClock(), io.StringIO()
    off = Progress(10, stream=out, tty=False, enabled=False, clock=clock)
    clock.t += 100.0
    off.update(10)
    quick = Progress(10, stream=out, tty=False, clock=clock)
    clock.t += 9.9
    quick.update(10)
    quick.close()
    assert out.getvalue() == ""
    assert off.mode == "off" and quick.lines_written == 0


def test_advance_to_is_absolute_and_never_moves_back() -> None:
    clock, out = FakeClock(), io.StringIO()
    p = Progress(1000.0, desc="AGF", stream=out, tty=False, clock=clock)
    p.advance_to(250.5, 3.0)
    p.advance_to(100.0, 2.0)  # not backwards; the loss is still shown
    assert p.n == 250.5 and p.postfix == "loss 2"
    clock.t += 10.0
    p.advance_to(500.5)
    assert _lines(out) == ["groupcomp: AGF step 500/1000  loss 2  50 steps/s  ETA 10 s"]


def test_bar_mode_counts_whole_units(monkeypatch) -> None:
    out = io.StringIO()
    p = Progress(10, stream=out, tty=True)
    assert p.mode == "bar"
    p.update(0.4)
    p.update(0.4)
    assert p._bar.n == 0
    p.update(0.4)
    assert p._bar.n == 1 and abs(p.n - 1.2) < 1e-12
    p.close()


def test_format_duration() -> None:
    assert format_duration(0.2) == "0 s"
    assert format_duration(59.4) == "59 s"
    assert format_duration(61) == "1 min 01 s"
    assert format_duration(3 * 3600 + 5 * 60 + 7) == "3 h 05 min"
    assert format_duration(float("inf")) == "?"


def test_fit_drives_the_progress_with_loss() -> None:
    """The training loop's bar interface: every step counted, the last loss shown."""
    from groupcomp.config import load_config
    from groupcomp.runs import build
    from groupcomp.training import FitHooks, fit

    cfg = load_config("d3", ["train.steps=40", "train.threads=1", "train.log_points=3"])
    exp = build(cfg)
    clock, out = FakeClock(), io.StringIO()
    p = Progress(exp.schedule.steps, stream=out, tty=False, clock=clock)
    st = fit(
        exp.model,
        exp.objective,
        exp.optimizer,
        exp.data,
        exp.schedule,
        settings=exp.settings,
        probe=exp.probe,
        hooks=FitHooks(progress=p),
    )
    assert p.n == exp.schedule.steps == 40
    last = float(exp.metrics_frame(st).query("step == step.max()")["loss"].mean())
    assert p.postfix.startswith("loss ")
    # the postfix is the loss of a recent step: within the run's range, close to the last one
    assert abs(float(p.postfix.split()[1]) - last) <= 0.05 * last + 1e-9


def test_agf_reports_progress_up_to_its_last_step() -> None:
    from groupcomp.groups import parse
    from groupcomp.templates import fourier_template
    from groupcomp.theory.agf import simulate

    G = parse("C5")
    x = fourier_template(G, [0, 10, 3])
    seen: list[tuple[float, float]] = []
    res = simulate(
        G, x, 2, hidden=8, lr=0.05, max_steps=2e5, progress=lambda s, L: seen.append((s, L))
    )
    steps = np.array([s for s, _ in seen])
    assert len(seen) >= res.integration_steps  # one call per integration step, one per jump
    assert np.all(np.diff(steps) >= 0)  # time only moves forward
    assert steps[-1] == pytest.approx(res.final_time / res.step_time)
    # the loss shown is the level after the last jump
    assert seen[-1][1] == pytest.approx(res.levels_mse[-1])


def test_count_jobs_as_hydra_expands_them() -> None:
    from groupcomp.runs.sweep import count_jobs

    assert count_jobs(["model.hidden=60,120,180", "train.seeds=[0],[1]", "task.k=2"]) == 6
    assert count_jobs(["task.k=range(2,6)"]) == 4
    assert count_jobs(["a=1,2", "a=3,4,5"]) == 3  # a key given twice: the last one counts
    assert count_jobs(["model.hidden=(("]) is None


@pytest.mark.slow
def test_a_sweep_counts_its_jobs_on_the_given_progress(tmp_path) -> None:
    from groupcomp.config import RunConfig
    from groupcomp.runs.sweep import multirun

    clock, out = FakeClock(), io.StringIO()
    p = Progress(2, unit="job", stream=out, tty=False, clock=clock)
    keys = ["train.steps=20", "train.progress=false", "train.engine=torch", "train.threads=1"]
    res = multirun(
        RunConfig, "d3", ["model.hidden=10,20", *keys], out=tmp_path, quiet=True, progress=p
    )
    assert [j.status for j in res.jobs] == ["completed", "completed"]
    assert p.n == 2  # one update per job, in this process (basic launcher)
    assert p.postfix == f"last: completed, loss {res.jobs[-1].final_loss:.4g}"
