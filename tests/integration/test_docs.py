"""The documentation site (mkdocs.yml) builds with warnings as errors, and has what it promises:
the README as its home page, the docs/ pages, the six tutorials and an API reference page for
every public module, rendered from the docstrings."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import jupytext
import pytest

ROOT = Path(__file__).resolve().parents[2]


def _reference_hook():
    spec = importlib.util.spec_from_file_location(
        "mkdocs_reference", ROOT / "scripts" / "mkdocs_reference.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_reference_covers_every_public_module() -> None:
    pages = _reference_hook().reference_pages()
    src = ROOT / "src" / "groupcomp"
    for path in src.rglob("*.py"):
        rel = path.relative_to(src).with_suffix("")
        parts = rel.parts
        if any(p.startswith("_") for p in parts) or parts[0] in ("api", "cli"):
            continue  # private, the package itself, or documented on reference/index.md / README
        page = pages[parts[0]]
        assert f"::: groupcomp.{'.'.join(parts)}" in page, f"{rel} has no reference entry"
    index = (ROOT / "docs" / "reference" / "index.md").read_text()
    assert "::: groupcomp.api" in index and "::: groupcomp\n" in index


@pytest.mark.slow
def test_site_builds_strict(tmp_path: Path) -> None:
    site = tmp_path / "site"
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "GROUPCOMP_DOCS_EXECUTE": "false"}
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "WARNING" not in proc.stderr, proc.stderr

    def page(rel: str) -> str:
        return (site / rel / "index.html").read_text(encoding="utf-8")

    home = (site / "index.html").read_text(encoding="utf-8")
    assert "python3 dev.py demo" in home and 'id="documentation"' in home  # the README
    for rel in ("theory", "architecture", "performance", "small_groups"):
        title = (ROOT / "docs" / f"{rel}.md").read_text(encoding="utf-8").splitlines()[0]
        assert title.lstrip("# ") in page(rel)
    for path in sorted((ROOT / "docs" / "tutorials").glob("t[0-9][0-9]_*.py")):
        title = jupytext.read(path).cells[0].source.splitlines()[0].lstrip("# ")
        assert f">{title}" in page(f"tutorials/{path.stem}"), path.name
    # every public module and the objects it exports have their rendered docstring
    for name, markdown in _reference_hook().reference_pages().items():
        html = page(f"reference/{name}")
        for line in markdown.splitlines():
            if line.startswith("::: "):
                assert f'id="{line[4:]}"' in html, f"{line[4:]} is not rendered"
    theory = page("reference/theory")
    assert 'id="groupcomp.theory.staircase.predict_staircase"' in theory
    assert 'id="groupcomp.api.train"' in page("reference")


def test_docstrings_are_made_markdown_for_the_site() -> None:
    spec = importlib.util.spec_from_file_location(
        "griffe_docstrings", ROOT / "scripts" / "griffe_docstrings.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    md = module.to_markdown
    text = 'Intro.\n\n>>> x = {"a": [1]}\n>>> x["a"][0]\n1\n\nAfter.\n\n```python\n>>> kept\n```'
    assert md(text) == (
        'Intro.\n\n```pycon\n>>> x = {"a": [1]}\n>>> x["a"][0]\n1\n```\n\nAfter.\n\n'
        "```python\n>>> kept\n```"
    )
    indented = "Args:\n    x: the value.\n\n        >>> f(1)\n        2\n"
    assert md(indented) == (
        "Args:\n    x: the value.\n\n        ```pycon\n        >>> f(1)\n        2\n        ```\n"
    )
    roles = "See :func:`fit` and :class:`~groupcomp.models.TwoLayerNet` (:py:meth:`a.b`)."
    assert md(roles) == "See `fit` and `TwoLayerNet` (`a.b`)."
