"""Finite groups, their conjugacy classes and irreducible representations."""

from __future__ import annotations

from groupcomp.groups.catalogue import (
    catalogue_info,
    num_small_groups,
    small_group,
    small_groups,
)
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
    "catalogue_info",
    "cyclic",
    "dicyclic",
    "dihedral",
    "from_permutations",
    "from_table",
    "icosahedral",
    "num_small_groups",
    "octahedral",
    "parse",
    "product",
    "quaternion",
    "small_group",
    "small_groups",
    "symmetric",
]
