"""Tests for groupcomp.groups.catalogue: the groups of order <= 128 of GAP's SmallGroups library.

Three independent sources are compared: the catalogue's stored GAP metadata, the group that
groupcomp rebuilds from the stored generators (classes and irreps computed by groupcomp), and the
GAP reference file tests/data/small_groups_reference.jsonl (built separately from the catalogue).
"""

from __future__ import annotations

import math
from importlib import resources

import numpy as np
import pytest

from groupcomp.errors import GroupcompError, GroupSpecError
from groupcomp.groups import catalogue
from groupcomp.groups.catalogue import (
    MAX_CATALOGUE_ORDER,
    catalogue_info,
    catalogue_source,
    num_small_groups,
    small_group,
    small_groups,
)
from groupcomp.groups.constructors import from_permutations
from groupcomp.groups.core import FiniteGroup
from groupcomp.groups.parse import parse

from conftest import REFERENCE

# Number of groups of order n = 1..128 (OEIS A000001), written out independently of GAP.
A000001 = [
    1, 1, 1, 2, 1, 2, 1, 5, 2, 2, 1, 5, 1, 2, 1, 14, 1, 5, 1, 5, 2, 2, 1, 15, 2, 2, 5, 4, 1, 4,
    1, 51, 1, 2, 1, 14, 1, 2, 2, 14, 1, 6, 1, 4, 2, 2, 1, 52, 2, 5, 1, 5, 1, 15, 2, 13, 2, 2, 1,
    13, 1, 2, 4, 267, 1, 4, 1, 5, 1, 4, 1, 50, 1, 2, 3, 4, 1, 6, 1, 52, 15, 2, 1, 15, 1, 2, 1,
    12, 1, 10, 1, 4, 2, 2, 1, 231, 1, 5, 2, 16, 1, 4, 1, 14, 2, 2, 1, 45, 1, 6, 2, 43, 1, 6, 1,
    5, 4, 2, 1, 47, 2, 2, 1, 4, 5, 16, 1, 2328,
]  # fmt: skip


def _partitions(k: int) -> int:
    """Number of integer partitions of k."""
    p = [1] + [0] * k
    for part in range(1, k + 1):
        for m in range(part, k + 1):
            p[m] += p[m - part]
    return p[k]


def _num_abelian(n: int) -> int:
    """Number of abelian groups of order n: product of p(e) over the prime powers p^e || n."""
    out, m, q = 1, n, 2
    while m > 1:
        e = 0
        while m % q == 0:
            m //= q
            e += 1
        out *= _partitions(e)
        q += 1
    return out


def _sorted_irreps(G: FiniteGroup) -> list[tuple[int, int]]:
    """Sorted ``(complex degree, Frobenius–Schur indicator)`` of groupcomp's complex irreps."""
    return sorted((r.complex_dim, r.frobenius_schur) for r in G.complex_irreps())


def _exponent(G: FiniteGroup) -> int:
    return math.lcm(*(int(x) for x in G.element_orders))


# ---------------------------------------------------------------------- counts and data file
def test_counts_per_order_match_oeis():
    assert [num_small_groups(n) for n in range(1, 129)] == A000001
    assert num_small_groups(16) == 14
    assert num_small_groups(24) == 15
    assert num_small_groups(32) == 51
    assert num_small_groups(64) == 267
    assert num_small_groups(96) == 231
    assert num_small_groups(128) == 2328


def test_totals_and_abelian_counts():
    everything = small_groups()
    assert len(everything) == 3596
    assert everything[0] == (1, 1) and everything[-1] == (128, 2328)
    abelian = small_groups(abelian=True)
    assert len(abelian) == 247
    assert len(small_groups(abelian=False)) == 3349
    per_order = {n: 0 for n in range(1, 129)}
    for n, _ in abelian:
        per_order[n] += 1
    assert per_order == {n: _num_abelian(n) for n in range(1, 129)}


def test_data_file_ships_in_package():
    path = resources.files("groupcomp") / "data" / "small_groups.json.gz"
    assert path.is_file()
    assert len(path.read_bytes()) < 5_000_000
    src = catalogue_source()
    assert src["max_order"] == MAX_CATALOGUE_ORDER == 128
    assert src["num_groups"] == 3596
    assert src["gap"].startswith("4.")


def test_metadata_is_consistent_for_every_group():
    for n, i in small_groups():
        info = catalogue_info(n, i)
        assert info["gap_id"] == (n, i)
        assert sum(info["class_sizes"]) == n
        assert all(n % s == 0 for s in info["class_sizes"])
        assert sum(d * d for d in info["degrees"]) == n
        assert info["num_classes"] == len(info["degrees"]) == len(info["fs_indicators"])
        assert info["class_sizes"].count(1) == info["center_order"]
        assert info["abelian"] == (info["num_classes"] == n) == (info["max_irrep_dim"] == 1)
        assert set(info["fs_indicators"]) <= {-1, 0, 1}
        assert info["fs_indicators"].count(0) % 2 == 0  # complex-type characters come in pairs
        assert n % info["exponent"] == 0
        assert info["perm_degree"] <= max(n, 1)


# ---------------------------------------------------------------------- against the reference file
@pytest.mark.parametrize("ref", REFERENCE, ids=lambda r: f"SmallGroup{tuple(r['gap_id'])}")
def test_rebuilt_group_matches_reference(ref):
    n, i = ref["gap_id"]
    G = small_group(n, i)
    assert G.order == ref["order"] == n
    assert G.gap_id == (n, i)
    assert G.name == ref["name"]
    assert G.is_abelian == ref["abelian"]
    assert sorted(G.class_sizes.tolist()) == sorted(ref["class_sizes"])
    assert sorted(r.complex_dim for r in G.complex_irreps()) == sorted(ref["degrees"])
    assert _sorted_irreps(G) == sorted(zip(ref["degrees"], ref["fs_indicators"], strict=True))
    info = catalogue_info(n, i)
    assert info["name"] == ref["name"]
    assert info["abelian"] == ref["abelian"]
    assert info["class_sizes"] == sorted(ref["class_sizes"])
    assert info["degrees"] == sorted(ref["degrees"])
    assert list(zip(info["degrees"], info["fs_indicators"], strict=True)) == sorted(
        zip(ref["degrees"], ref["fs_indicators"], strict=True)
    )


def test_reference_file_is_present():
    assert len(REFERENCE) == 32  # tests/data/README.md


# ---------------------------------------------------------------------- rebuilt vs stored metadata
# Groups whose rebuilt classes and irreps are compared with the stored GAP metadata: special cases
# first, then a fixed random draw (numpy default_rng(1)) weighted towards orders 64..128.
_SAMPLE = [
    (1, 1),
    (2, 1),
    (21, 1),  # C7 : C3, complex-type irreps of degree 3
    (27, 3),
    (48, 29),  # GL(2,3)
    (60, 5),  # A5
    (64, 1),  # C64, permutation degree 64
    (64, 93),
    (64, 115),
    (64, 138),
    (64, 267),  # C2^6
    (72, 5),
    (72, 41),  # (C3 x C3) : Q8, an irrep of degree 8
    (81, 9),
    (84, 8),
    (96, 3),
    (96, 40),
    (96, 64),
    (96, 204),
    (100, 10),
    (105, 1),
    (108, 15),
    (110, 1),  # C11 : C10, an irrep of degree 10
    (120, 5),  # SL(2,5): quaternionic irreps
    (120, 19),
    (120, 34),  # S5
    (120, 35),  # C2 x A5
    (125, 3),
    (126, 16),
    (128, 1),  # C128, permutation degree 128
    (128, 32),
    (128, 154),
    (128, 161),  # D128
    (128, 162),  # QD128
    (128, 163),  # Q128 (generalised quaternion, permutation degree 128)
    (128, 463),
    (128, 656),
    (128, 928),
    (128, 1538),
    (128, 1751),  # irreps of degree 8
    (128, 1901),
    (128, 2149),
    (128, 2328),  # C2^7
]


@pytest.mark.parametrize("gid", _SAMPLE, ids=lambda g: f"SmallGroup{g}")
def test_rebuilt_group_matches_stored_gap_metadata(gid):
    info = catalogue_info(*gid)
    G = small_group(*gid)
    assert G.order == gid[0]
    assert G.name == info["name"]
    assert G.is_abelian == info["abelian"]
    assert sorted(G.class_sizes.tolist()) == info["class_sizes"]
    assert _exponent(G) == info["exponent"]
    assert int(np.sum(G.class_sizes == 1)) == info["center_order"]
    assert _sorted_irreps(G) == list(zip(info["degrees"], info["fs_indicators"], strict=True))


@pytest.mark.slow
def test_every_group_rebuilds_with_stored_classes():
    """All 3596 groups: order, abelian-ness, class sizes, exponent and centre (no irreps)."""
    for n, i in small_groups():
        info = catalogue_info(n, i)
        G = small_group(n, i)
        assert G.order == n, (n, i)
        assert G.is_abelian == info["abelian"], (n, i)
        assert sorted(G.class_sizes.tolist()) == info["class_sizes"], (n, i)
        assert _exponent(G) == info["exponent"], (n, i)


def test_known_groups():
    assert small_group(24, 12).name == "S4"
    assert small_group(60, 5).name == "A5"
    assert small_group(8, 4).name == "Q8"
    assert small_group(1, 1).order == 1
    assert catalogue_info(120, 5)["name"] == "SL(2,5)"
    assert catalogue_info(128, 1)["name"] == "C128"
    assert catalogue_info(8, 3)["num_generators"] == 2
    assert catalogue_info(128, 2328)["num_generators"] == 7


def test_abelian_groups_are_products_of_their_stored_generators_group():
    """Abelian groups are built as products of cyclic groups named by GAP; the element-order
    histogram (which determines a finite abelian group) must match the stored generators'."""
    for n, i in small_groups(abelian=True):
        G = small_group(n, i)
        assert G.cyclic_factors is not None and math.prod(G.cyclic_factors) == n
        gens = catalogue._load()["by_order"][n][i - 1]["gens"]
        H = from_permutations(gens)
        assert H.order == n
        assert np.array_equal(
            np.bincount(G.element_orders, minlength=n + 1),
            np.bincount(H.element_orders, minlength=n + 1),
        ), (n, i)
    assert small_group(16, 5).cyclic_factors == (8, 2)
    assert small_group(1, 1).name == "1"


def test_rebuild_is_deterministic():
    a, b = small_group(96, 64), small_group(96, 64)
    assert a == b
    assert a is not b


# ---------------------------------------------------------------------- selection
def test_selection_filters():
    assert small_groups(order=8) == [(8, i) for i in range(1, 6)]
    assert small_groups(order=8, abelian=False) == [(8, 3), (8, 4)]
    assert small_groups(max_irrep_dim=1) == small_groups(abelian=True)
    assert small_groups(min_order=127, max_order=127) == [(127, 1)]
    assert len(small_groups(min_order=128)) == 2328
    assert small_groups(max_order=4) == [(1, 1), (2, 1), (3, 1), (4, 1), (4, 2)]
    assert small_groups(order=60, solvable=False) == [(60, 5)]
    # the non-solvable groups of order <= 128: A5, SL(2,5), S5, C2 x A5
    assert small_groups(solvable=False) == [(60, 5), (120, 5), (120, 34), (120, 35)]
    assert all(catalogue_info(*g)["max_irrep_dim"] <= 2 for g in small_groups(max_irrep_dim=2))
    nonabelian_p = small_groups(order=27, abelian=False)
    assert nonabelian_p == [(27, 3), (27, 4)]
    assert small_groups(order=27, nilpotent=False) == []
    assert small_groups(order=24, max_irrep_dim=2, abelian=False) == [
        g for g in small_groups(order=24, abelian=False) if catalogue_info(*g)["max_irrep_dim"] == 2
    ]


def test_parse_smallgroup():
    G = parse("SmallGroup(24,12)")
    assert G.order == 24 and G.name == "S4" and G.gap_id == (24, 12)
    assert parse("SmallGroup(8, 4)xC2").order == 16


# ---------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        ((0, 1), "order must be in 1..128"),
        ((129, 1), "order must be in 1..128"),
        ((12, 0), "SmallGroup(12, k) has k in 1..5"),
        ((12, 6), "SmallGroup(12, k) has k in 1..5"),
        ((7, 2), "there is 1 group of order 7"),
        (("12", 1), "SmallGroup order must be an integer"),
        ((12, 1.0), "the id must be an integer"),
        ((True, 1), "must be an integer"),
    ],
)
def test_bad_ids_fail_clearly(args, fragment):
    for func in (small_group, catalogue_info):
        with pytest.raises(GroupSpecError) as info:
            func(*args)
        assert fragment in str(info.value)
        assert isinstance(info.value, GroupcompError)


def test_bad_filters_fail_clearly():
    with pytest.raises(GroupSpecError, match="order must be in 1..128"):
        small_groups(order=200)
    with pytest.raises(GroupSpecError, match="abelian must be True, False or None"):
        small_groups(abelian="yes")
    with pytest.raises(GroupSpecError, match="max_irrep_dim must be an integer"):
        small_groups(max_irrep_dim=1.5)
    with pytest.raises(GroupSpecError, match=r"order must be in 1\.\.128"):
        num_small_groups(0)


def test_parse_bad_smallgroup_id():
    with pytest.raises(GroupSpecError, match=r"SmallGroup\(12, k\) has k in 1\.\.5"):
        parse("SmallGroup(12,6)")


def test_data_is_loaded_once():
    assert catalogue._load() is catalogue._load()
