"""mkdocs hook (mkdocs.yml → ``hooks``): the API reference pages, generated at build time.

One page per public subpackage of ``src/groupcomp`` (its docstring, then every module whose name
does not start with ``_``, rendered by mkdocstrings) and one per public top-level module, so a
new module is documented, and its docstrings checked by ``mkdocs build --strict``, without
editing the site. The pages fill the "API reference" section of the navigation, after its
hand-written ``reference/index.md``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

SRC = Path(__file__).resolve().parents[1] / "src" / "groupcomp"
SECTION = "API reference"
#: Layer order (docs/architecture.md); anything else follows alphabetically.
ORDER = [
    "groups",
    "fourier",
    "templates",
    "tasks",
    "models",
    "optim",
    "theory",
    "training",
    "config",
    "runs",
    "analysis",
    "viz",
    "errors",
]
#: Documented elsewhere: the top level and ``api`` on reference/index.md, the CLI in the README.
SKIP = {"__init__", "__main__", "api", "cli"}


def _public_modules(package: Path) -> list[str]:
    return sorted(p.stem for p in package.glob("*.py") if not p.stem.startswith("_"))


def reference_pages() -> dict[str, str]:
    """``{name: markdown}`` for every public subpackage and top-level module, in layer order."""
    names = [p.name for p in SRC.iterdir() if p.is_dir() and (p / "__init__.py").exists()]
    names += [p.stem for p in SRC.glob("*.py") if p.stem not in SKIP]
    names = [n for n in names if not n.startswith("_")]
    names.sort(key=lambda n: (ORDER.index(n) if n in ORDER else len(ORDER), n))
    pages = {}
    for name in names:
        lines = [f"# `groupcomp.{name}`", ""]
        package = SRC / name
        if package.is_dir():
            lines += [
                f"::: groupcomp.{name}",
                "    options:",
                "      members: false",
                "      show_root_heading: false",
                "",
            ]
            lines += [f"::: groupcomp.{name}.{m}\n" for m in _public_modules(package)]
        else:
            lines += [f"::: groupcomp.{name}", "    options:", "      show_root_heading: false", ""]
        pages[name] = "\n".join(lines)
    return pages


def on_config(config: Any) -> Any:
    nav = config["nav"] or []
    for i, item in enumerate(nav):
        if isinstance(item, dict) and SECTION in item:
            first = item[SECTION]
            entries = first if isinstance(first, list) else [first]
            entries = [
                *entries,
                *({f"groupcomp.{n}": f"reference/{n}.md"} for n in reference_pages()),
            ]
            nav[i] = {SECTION: entries}
    return config


def on_files(files: Files, config: Any) -> Files:
    for name, content in reference_pages().items():
        files.append(File.generated(config, f"reference/{name}.md", content=content))
    return files
