"""The tutorials (docs/tutorials/tNN_*.py, jupytext percent scripts) run top to bottom in a real
Jupyter kernel: jupytext turns each into a notebook and nbclient executes it with ipykernel, in a
temporary folder. Every tutorial asserts the numbers it explains, so a change that breaks the
public API, or changes what a tutorial says, fails here."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import jupytext
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[2]
TUTORIALS = sorted((ROOT / "docs" / "tutorials").glob("t[0-9][0-9]_*.py"))


def test_six_tutorials_each_listed_and_checking_its_numbers() -> None:
    assert [p.stem[:3] for p in TUTORIALS] == ["t01", "t02", "t03", "t04", "t05", "t06"]
    nav = (ROOT / "mkdocs.yml").read_text()
    index = (ROOT / "docs" / "tutorials" / "index.md").read_text()
    for path in TUTORIALS:
        assert f"tutorials/{path.name}" in nav, f"{path.name} is not in the mkdocs nav"
        assert f"]({path.name})" in index, f"{path.name} is not linked from tutorials/index.md"
        nb = jupytext.read(path)
        kinds = [c.cell_type for c in nb.cells]
        assert kinds[0] == "markdown" and nb.cells[0].source.startswith("# "), path.name
        code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
        asserts = sum(isinstance(n, ast.Assert) for n in ast.walk(ast.parse(code)))
        assert asserts >= 3, f"{path.name} checks only {asserts} numbers"
        # the public API only: no private module or attribute of groupcomp
        private = re.findall(r"groupcomp(?:\.\w+)*\._\w+", code)
        assert not private, f"{path.name} uses private names {private}"


@pytest.mark.slow
@pytest.mark.parametrize("path", TUTORIALS, ids=lambda p: p.stem)
def test_tutorial_runs_in_a_kernel(path: Path, tmp_path: Path) -> None:
    nb = jupytext.read(path)
    client = NotebookClient(
        nb,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},  # the kernel's working folder
    )
    client.execute()  # raises CellExecutionError (with the cell and traceback) on any error
    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count for c in code_cells), "a code cell did not run"
    errors = [o for c in code_cells for o in c.outputs if o.output_type == "error"]
    assert not errors
    assert (tmp_path / "runs").is_dir() or "runs" not in "".join(c.source for c in code_cells)
