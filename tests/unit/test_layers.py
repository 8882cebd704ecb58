"""The package's layers (docs/architecture.md): no module imports a module of a higher layer,
not even inside a function. Also: the repository cites no file outside itself."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "groupcomp"
ROOT = SRC.parents[1]

#: layer of each top-level part of the package, lowest first
LAYERS: dict[str, int] = {
    "errors": 0,
    "groups": 0,
    "fourier": 0,
    "templates": 0,
    "tasks": 0,
    "models": 0,
    "optim": 0,
    "theory": 0,
    "training": 1,
    "config": 2,
    "runs": 3,
    "analysis": 4,
    "viz": 5,
    "api": 6,
    "cli": 7,
    "__main__": 8,
}


def _part(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "groupcomp" or len(parts) < 2:
        return None
    return parts[1]


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append((node.lineno, node.module))
            # ``from groupcomp import x`` imports the submodule x
            if node.module == "groupcomp":
                out += [(node.lineno, f"groupcomp.{a.name}") for a in node.names]
    return out


def _modules() -> list[Path]:
    return sorted(p for p in SRC.rglob("*.py"))


def test_every_part_has_a_layer() -> None:
    parts = {p.relative_to(SRC).parts[0].removesuffix(".py") for p in _modules()}
    parts.discard("__init__")
    assert parts <= set(LAYERS), parts - set(LAYERS)


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(SRC)))
def test_no_module_imports_a_higher_layer(path: Path) -> None:
    own = path.relative_to(SRC).parts[0].removesuffix(".py")
    if own == "__init__":
        return  # the package root only re-exports lazily (see groupcomp/__init__.py)
    bad = []
    for line, mod in _imports(path):
        part = _part(mod)
        if part is None or part == "__version__":
            continue
        if part in ("__init__",) or part not in LAYERS:
            continue
        if LAYERS[part] > LAYERS[own]:
            bad.append(f"line {line}: {mod} (layer {LAYERS[part]} > {own}'s {LAYERS[own]})")
    assert not bad, f"{path.relative_to(SRC)} imports a higher layer:\n" + "\n".join(bad)


def test_the_layer_test_catches_an_upward_import(tmp_path) -> None:
    """The check itself can fail: an upward import inside a function is found."""
    f = tmp_path / "x.py"
    f.write_text("def f():\n    from groupcomp.viz import loss_figure\n")
    assert (2, "groupcomp.viz") in _imports(f)


def test_repository_cites_no_outside_file() -> None:
    """No code, test or doc depends on a folder beside the repository."""
    hits = []
    for folder in ("src", "tests", "docs", "benchmarks", "scripts"):
        for p in (ROOT / folder).rglob("*"):
            if p.suffix not in (".py", ".md", ".yaml", ".txt", ".toml") or not p.is_file():
                continue
            text = p.read_text(errors="replace")
            for needle in ("THEORY" + ".md", "DESIGN" + ".md", "shared" + "/data"):
                if needle in text:
                    hits.append(f"{p.relative_to(ROOT)}: {needle}")
    assert not hits, hits


def test_python_dash_m_groupcomp_is_the_cli() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "groupcomp", "train", "--list"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert "d3" in out.stdout and "arith_z23" not in out.stdout
