"""The README's Python blocks run as written, in order and in one namespace (a later block may
continue an earlier one), with a shorter run and a temporary folder."""

from __future__ import annotations

import os
import re
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_python_block_runs(tmp_path, capsys) -> None:
    text = README.read_text()
    found = list(re.finditer(r"```python\n(.*?)```", text, flags=re.S))
    assert len(found) >= 2, "the README has lost its Python blocks (API, Figures)"
    # (first line in the README, code); tracebacks then point at README lines
    blocks = [(text[: m.start(1)].count("\n"), m.group(1)) for m in found]
    blocks[0] = (blocks[0][0], blocks[0][1].replace('"train.steps=3000"', '"train.steps=300"'))
    assert "load_run" in blocks[0][1] and "groupcomp.train" in blocks[0][1]
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        ns: dict = {}
        for line, code in blocks:
            exec(compile("\n" * line + code, str(README), "exec"), ns)  # noqa: S102
    finally:
        os.chdir(cwd)
    out = capsys.readouterr().out
    assert "[('trivial', 1, 'R'), ('sign', 1, 'R'), ('rot1', 2, 'R')]" in out
    run = ns["run"]
    # the loaded model's loss on its task equals the summary's final loss
    assert abs(run.loss()[0] - run.summary["final_loss_per_seed"][0]) < 1e-4 * (
        1 + abs(run.summary["final_loss_per_seed"][0])
    )
    assert (tmp_path / "runs").is_dir()
    # the "Figures" block: one figure with the trained loss and a predicted staircase
    fig = ns["fig"]
    left, right = fig.axes[:2]
    (mean,) = [ln for ln in left.get_lines() if ln.get_gid() == "loss-mean"]
    want = run.metrics.groupby("step")["loss"].mean()
    assert len(mean.get_ydata()) == len(want)
    (stairs,) = [ln for ln in right.get_lines() if ln.get_gid() == "theory-staircase"]
    levels = ns["theory"].predict_staircase(ns["G"], ns["x"], k=3).plateaus_mse
    assert list(stairs.get_ydata()[: len(levels)]) == levels
    assert (tmp_path / "d3_figure.png").read_bytes()[:4] == b"\x89PNG"
