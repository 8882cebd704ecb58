"""Finite groups, their conjugacy classes and irreducible representations."""

from __future__ import annotations

from groupcomp.groups.constructors import (
    alternating,
    cyclic,
    dicyclic,
    dihedral,
    from_permutations,
    from_table,
    icosahedral,
    octahedral,
    product,
    quaternion,
    symmetric,
)
from groupcomp.groups.core import FiniteGroup
from groupcomp.groups.irreps import Irrep
from groupcomp.groups.parse import FAMILIES, parse

__all__ = [
    "FAMILIES",
    "FiniteGroup",
    "Irrep",
    "alternating",
    "cyclic",
    "dicyclic",
    "dihedral",
    "from_permutations",
    "from_table",
    "icosahedral",
    "octahedral",
    "parse",
    "product",
    "quaternion",
    "symmetric",
]
