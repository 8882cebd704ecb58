"""The small-groups catalogue: every group of order <= 128 of GAP's SmallGroups library.

``small_group(n, i)`` is (a group isomorphic to) GAP's ``SmallGroup(n, i)``: the catalogue stores,
for each of the 3596 groups of order 1..128, a few permutation generators exported from GAP (see
``scripts/build_small_groups.py`` and ``docs/small_groups.md``) together with GAP-computed
metadata. A non-abelian group is rebuilt with
:func:`~groupcomp.groups.constructors.from_permutations` on the stored generators (elements in
lexicographic order of their permutations, identity ``0``); an abelian group as the product of
the cyclic groups in its GAP name (``"C4 x C2"``). Only the isomorphism class is promised: the
element numbering is deterministic but is not GAP's.

Metadata (:func:`catalogue_info`) is available without building any table, so groups can be
selected cheaply with :func:`small_groups`, e.g. ``small_groups(order=24, abelian=False)`` or
``small_groups(max_order=64, max_irrep_dim=2)``.

The data file ``groupcomp/data/small_groups.json.gz`` is read lazily on first use and cached.
"""

from __future__ import annotations

import gzip
import json
import math
import re
from functools import cache
from importlib import resources
from typing import Any

import numpy as np

from groupcomp.errors import GroupError, GroupSpecError
from groupcomp.groups.constructors import cyclic, from_permutations, product
from groupcomp.groups.core import FiniteGroup

__all__ = [
    "MAX_CATALOGUE_ORDER",
    "catalogue_info",
    "catalogue_source",
    "num_small_groups",
    "small_group",
    "small_groups",
]

#: Largest order in the catalogue.
MAX_CATALOGUE_ORDER = 128

_DATA_FILE = "small_groups.json.gz"
_FORMAT = "groupcomp-small-groups/1"
_ABELIAN_NAME = re.compile(r"C\d+( x C\d+)*")


# ---------------------------------------------------------------------- loading
@cache
def _load() -> dict[str, Any]:
    """The parsed data file plus an index ``by_order[n] = [record for ids 1..]``."""
    path = resources.files("groupcomp") / "data" / _DATA_FILE
    try:
        with path.open("rb") as fh:
            data = json.loads(gzip.decompress(fh.read()))
    except FileNotFoundError as exc:
        raise GroupError(
            f"the small-groups data file groupcomp/data/{_DATA_FILE} is missing; reinstall "
            "groupcomp or rebuild it with scripts/build_small_groups.py"
        ) from exc
    if data.get("format") != _FORMAT:
        raise GroupError(
            f"groupcomp/data/{_DATA_FILE} has format {data.get('format')!r}, expected {_FORMAT!r}"
        )
    by_order: dict[int, list[dict]] = {}
    for rec in data["groups"]:
        n, i = rec["id"]
        lst = by_order.setdefault(n, [])
        if i != len(lst) + 1:
            raise GroupError(f"groupcomp/data/{_DATA_FILE} is corrupt near SmallGroup({n},{i})")
        lst.append(rec)
    data["by_order"] = by_order
    return data


def _as_int(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise GroupSpecError(f"{what} must be an integer, got {value!r} ({type(value).__name__})")
    return int(value)


def _check_order(order: object) -> int:
    n = _as_int(order, "SmallGroup order")
    if not 1 <= n <= MAX_CATALOGUE_ORDER:
        raise GroupSpecError(
            f"SmallGroup order must be in 1..{MAX_CATALOGUE_ORDER} (the catalogue holds the groups "
            f"of order <= {MAX_CATALOGUE_ORDER}), got {n}"
        )
    return n


def _record(order: object, ident: object) -> dict:
    n = _check_order(order)
    i = _as_int(ident, f"SmallGroup({n}, id): the id")
    count = len(_load()["by_order"][n])
    if not 1 <= i <= count:
        ids = "1" if count == 1 else f"1..{count}"
        raise GroupSpecError(
            f"SmallGroup({n}, {i}) does not exist: there {'is' if count == 1 else 'are'} {count} "
            f"group{'' if count == 1 else 's'} of order {n}, so SmallGroup({n}, k) has k in {ids}"
        )
    return _load()["by_order"][n][i - 1]


def _expand(runs: list[list[int]]) -> list[list[int]]:
    """Undo the run-length encoding ``[[v..., count], ...]`` of the data file."""
    return [r[:-1] for r in runs for _ in range(r[-1])]


def _abelian_factors(rec: dict) -> list[int] | None:
    """Cyclic factor orders of an abelian group from its GAP name (``"C4 x C2"`` -> ``[4, 2]``,
    the trivial group ``"1"`` -> ``[1]``); ``None`` for a non-abelian group or another name."""
    if not rec["abelian"]:
        return None
    if rec["name"] == "1":
        return [1]
    if _ABELIAN_NAME.fullmatch(rec["name"]) is None:  # pragma: no cover - GAP always says C.. x C..
        return None
    factors = [int(m) for m in re.findall(r"\d+", rec["name"])]
    return factors if math.prod(factors) == rec["id"][0] else None


def _info(rec: dict) -> dict[str, Any]:
    n, i = rec["id"]
    sizes = [v[0] for v in _expand(rec["class_sizes"])]
    irr = _expand(rec["irreps"])
    return {
        "gap_id": (n, i),
        "order": n,
        "id": i,
        "name": rec["name"],
        "abelian": rec["abelian"],
        "nilpotent": rec["nilpotent"],
        "solvable": rec["solvable"],
        "exponent": rec["exponent"],
        "center_order": rec["center_order"],
        "num_classes": len(sizes),
        "class_sizes": sizes,
        "degrees": [d for d, _ in irr],
        "fs_indicators": [s for _, s in irr],
        "max_irrep_dim": irr[-1][0],
        "perm_degree": len(rec["gens"][0]),
        "num_generators": 0 if n == 1 else len(rec["gens"]),
    }


# ---------------------------------------------------------------------- public API
def num_small_groups(order: int) -> int:
    """Number of groups of the given order (``1 <= order <= 128``), e.g. ``16 -> 14``."""
    return len(_load()["by_order"][_check_order(order)])


def catalogue_info(order: int, id: int) -> dict[str, Any]:
    """GAP-computed metadata of ``SmallGroup(order, id)``, without building its table.

    Keys: ``gap_id`` ``(order, id)``, ``order``, ``id``, ``name`` (GAP's
    ``StructureDescription``, e.g. ``"C3 : C4"``; ``:`` semidirect, ``.`` non-split extension),
    ``abelian``, ``nilpotent``, ``solvable``, ``exponent``, ``center_order``, ``num_classes``,
    ``class_sizes`` (sorted), ``degrees`` (sorted complex character degrees), ``fs_indicators``
    (Frobenius–Schur indicator of each of those characters, ``1`` real, ``0`` complex, ``-1``
    quaternionic type; characters sorted by ``(degree, indicator)``), ``max_irrep_dim`` (largest
    complex degree), ``perm_degree`` and ``num_generators`` (of the stored permutation
    representation; ``num_generators`` is the minimal number of generators of the group).
    Returns a new dict each call.
    """
    return _info(_record(order, id))


def small_group(order: int, id: int) -> FiniteGroup:
    """A group isomorphic to GAP's ``SmallGroup(order, id)``, ``1 <= order <= 128``.

    Its ``name`` is GAP's ``StructureDescription`` (e.g. ``"C3 : C4"``) and the attribute
    ``gap_id`` is ``(order, id)``. The element numbering is deterministic but is not GAP's:

    * an abelian group is built as ``product(cyclic(n1), cyclic(n2), ...)`` with the cyclic factors
      of its GAP name (``"C4 x C2"`` -> ``C4 × C2``, element ``2·a + b`` is ``(a, b)``), so it has
      ``cyclic_factors`` and closed-form irreps;
    * any other group is built by :func:`~groupcomp.groups.constructors.from_permutations` from the
      stored permutation generators (elements in lexicographic order of their permutations,
      labels in cycle notation).

    Raises :class:`~groupcomp.errors.GroupSpecError` for an order outside ``1..128`` or an id
    that does not exist (``SmallGroup(12, k)`` has ``k`` in ``1..5``).
    """
    rec = _record(order, id)
    n, i = rec["id"]
    factors = _abelian_factors(rec)
    if factors is not None:
        P = product(*(cyclic(m) for m in factors))
        G = FiniteGroup(
            P.table, name=rec["name"], labels=P.labels, validate=False, structure=P.structure
        )
    else:
        G = from_permutations(np.asarray(rec["gens"], dtype=np.int64), name=rec["name"])
    if G.order != n:  # pragma: no cover - guards against a corrupt data file
        raise GroupError(
            f"groupcomp/data/{_DATA_FILE}: the generators of SmallGroup({n},{i}) generate a group "
            f"of order {G.order}"
        )
    G.gap_id = (n, i)
    return G


def small_groups(
    order: int | None = None,
    abelian: bool | None = None,
    max_irrep_dim: int | None = None,
    min_order: int | None = None,
    max_order: int | None = None,
    *,
    nilpotent: bool | None = None,
    solvable: bool | None = None,
) -> list[tuple[int, int]]:
    """``(order, id)`` of the catalogue groups matching every given filter, in GAP order.

    Args:
        order: exactly this order.
        abelian, nilpotent, solvable: the property must have this value.
        max_irrep_dim: largest complex character degree at most this (``1`` = abelian groups).
        min_order, max_order: order range (inclusive).

    Nothing is built: the selection uses the stored metadata (see :func:`catalogue_info`).
    """
    lo, hi = 1, MAX_CATALOGUE_ORDER
    if order is not None:
        lo = hi = _check_order(order)
    if min_order is not None:
        lo = max(lo, _as_int(min_order, "min_order"))
    if max_order is not None:
        hi = min(hi, _as_int(max_order, "max_order"))
    if max_irrep_dim is not None:
        max_irrep_dim = _as_int(max_irrep_dim, "max_irrep_dim")
    flags = {"abelian": abelian, "nilpotent": nilpotent, "solvable": solvable}
    for key, val in flags.items():
        if val is not None and not isinstance(val, bool | np.bool_):
            raise GroupSpecError(f"{key} must be True, False or None, got {val!r}")
    by_order = _load()["by_order"]
    out: list[tuple[int, int]] = []
    for n in range(max(lo, 1), min(hi, MAX_CATALOGUE_ORDER) + 1):
        for rec in by_order[n]:
            if any(v is not None and rec[k] != bool(v) for k, v in flags.items()):
                continue
            # irreps are run-length encoded and sorted by degree: the last run has the largest
            if max_irrep_dim is not None and rec["irreps"][-1][0] > max_irrep_dim:
                continue
            out.append((n, rec["id"][1]))
    return out


def catalogue_source() -> dict[str, Any]:
    """Where the catalogue came from: ``{"gap": "4.16.1", "smallgrp": ..., "max_order": 128,
    "num_groups": 3596, ...}``."""
    data = _load()
    return {
        "format": data["format"],
        "source": data["source"],
        "gap": data["gap"],
        "smallgrp": data["smallgrp"],
        "max_order": data["max_order"],
        "num_groups": len(data["groups"]),
    }
