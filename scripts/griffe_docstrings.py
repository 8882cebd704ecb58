"""griffe extension (mkdocs.yml → mkdocstrings ``extensions``): docstrings as Markdown.

The docstrings are written for reading in the source and for ``help()``, with two habits that
Markdown renders badly, so both are rewritten before mkdocstrings renders a docstring:

* doctest examples are bare ``>>>`` lines (the test suite runs them). Markdown would read them
  as text — ``run.summary["observed"]["plateaus_mse"]`` as a reference link, ``[[1.0, ...]]`` as
  a broken one —, so each block of ``>>>`` / ``...`` lines and the output lines that follow (up
  to a blank line) is wrapped in a ```` ```pycon ```` fence;
* Sphinx roles (``:func:`fit```, ``:class:`~groupcomp.models.TwoLayerNet```) become code spans
  (``fit``, ``TwoLayerNet``: ``~`` keeps the last dotted part, as in Sphinx).

Fenced blocks already in a docstring are left alone.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

ROLE = re.compile(r":(?:py:)?(?:class|func|meth|mod|attr|data|exc|obj|const):`(~?)([^`]+)`")


def _role(match: re.Match[str]) -> str:
    target = match.group(2)
    return f"`{target.rsplit('.', 1)[-1] if match.group(1) else target}`"


def to_markdown(text: str) -> str:
    """``text`` with every doctest block fenced and every Sphinx role turned into code."""
    lines = text.split("\n")
    out: list[str] = []
    in_fence = False
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.lstrip()
        if stripped.startswith("```"):
            in_fence = not in_fence
        elif not in_fence and stripped.startswith(">>>"):
            indent = line[: len(line) - len(stripped)]
            block = []
            while i < len(lines) and lines[i].strip() and lines[i].startswith(indent):
                block.append(lines[i])
                i += 1
            out += [f"{indent}```pycon", *block, f"{indent}```"]
            continue
        elif not in_fence:
            line = ROLE.sub(_role, line)
        out.append(line)
        i += 1
    return "\n".join(out)


class DocstringMarkdown(griffe.Extension):
    """Rewrite every docstring griffe loads with :func:`to_markdown`."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = to_markdown(obj.docstring.value)
