"""The ``>>>`` examples in the docstrings of the public API run and print what they say.

One test per docstring (so a failure names it); every listed module must hold examples, so an
example deleted by accident fails here. Examples that train write only to a temporary folder.
Runs under the xdist ``--dist loadfile`` runner of dev.py like any other test file.
"""

from __future__ import annotations

import doctest
import importlib

import pytest

#: modules whose docstring examples are executed
MODULES = (
    "groupcomp.api",
    "groupcomp.fourier",
    "groupcomp.groups.constructors",
    "groupcomp.groups.parse",
    "groupcomp.runs.load",
    "groupcomp.runs.progress",
    "groupcomp.runs.sweep",
    "groupcomp.templates",
    "groupcomp.theory.staircase",
)

FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def _tests() -> list[doctest.DocTest]:
    finder = doctest.DocTestFinder(exclude_empty=True)
    out = []
    for name in MODULES:
        module = importlib.import_module(name)
        found = [
            t
            for t in finder.find(module, name)
            if any(not ex.options.get(doctest.SKIP, False) for ex in t.examples)
        ]
        # only the module's own docstrings (not those of names it imports)
        found = [t for t in found if t.name.startswith(name + ".") or t.name == name]
        out += sorted(found, key=lambda t: t.name)
    return out


TESTS = _tests()


def test_every_listed_module_has_examples() -> None:
    owners = {m for m in MODULES for t in TESTS if t.name == m or t.name.startswith(m + ".")}
    assert owners == set(MODULES), f"no docstring examples left in {set(MODULES) - owners}"


@pytest.mark.parametrize("test", TESTS, ids=lambda t: t.name)
def test_docstring_examples(test: doctest.DocTest) -> None:
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    report: list[str] = []
    runner.run(test, out=report.append)
    result = runner.summarize(verbose=False)
    assert result.attempted > 0
    assert result.failed == 0, "".join(report)
