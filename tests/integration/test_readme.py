"""The README's Python block runs as written (with a shorter run and a temporary folder)."""

from __future__ import annotations

import os
import re
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_python_block_runs(tmp_path, capsys) -> None:
    text = README.read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert blocks, "the README has no Python block"
    code = blocks[0].replace('"train.steps=3000"', '"train.steps=300"')
    assert "load_run" in code and "groupcomp.train" in code
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        ns: dict = {}
        exec(compile(code, str(README), "exec"), ns)  # noqa: S102 - our own README
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
