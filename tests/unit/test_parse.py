"""Tests for groupcomp.groups.parse: accepted specs, names, errors, FAMILIES."""

from __future__ import annotations

import importlib.util
import re

import numpy as np
import pytest

from groupcomp.errors import GroupError, GroupSpecError
from groupcomp.groups.constructors import (
    alternating,
    cyclic,
    dicyclic,
    dihedral,
    product,
    quaternion,
    symmetric,
)
from groupcomp.groups.parse import FAMILIES, Family, parse

HAS_CATALOGUE = importlib.util.find_spec("groupcomp.groups.catalogue") is not None


@pytest.mark.parametrize(
    ("spec", "order", "name"),
    [
        ("C10", 10, "C10"),
        ("Z7", 7, "C7"),
        ("C4xC4", 16, "C4xC4"),
        ("Z2xZ3xZ4", 24, "C2xC3xC4"),
        ("C4 x C4", 16, "C4xC4"),
        ("C4×C4", 16, "C4xC4"),
        ("C4 × C4", 16, "C4xC4"),
        ("  C6  ", 6, "C6"),
        ("D3", 6, "D3"),
        ("D5", 10, "D5"),
        ("D_4", 8, "D4"),
        ("S4", 24, "S4"),
        ("A5", 60, "A5"),
        ("Q8", 8, "Q8"),
        ("Dic3", 12, "Dic3"),
        ("O", 24, "O"),
        ("octahedral", 24, "O"),
        ("I", 60, "I"),
        ("icosahedral", 60, "I"),
        ("D3xC2", 12, "D3xC2"),
        ("Q8xS3xC2", 96, "Q8xS3xC2"),
        ("c10", 10, "C10"),
        ("z3xd4", 24, "C3xD4"),
        ("DIC2", 8, "Dic2"),
        ("q8", 8, "Q8"),
        ("Octahedral", 24, "O"),
        ("i", 60, "I"),
    ],
)
def test_valid_specs(spec, order, name):
    G = parse(spec)
    assert G.order == order
    assert G.name == name


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("C5", lambda: cyclic(5)),
        ("Z5", lambda: cyclic(5)),
        ("D3", lambda: dihedral(3)),
        ("Dic3", lambda: dicyclic(3)),
        ("S4", lambda: symmetric(4)),
        ("A4", lambda: alternating(4)),
        ("Q8", lambda: quaternion()),
        ("D3xC2", lambda: product(dihedral(3), cyclic(2))),
        ("C2xC3xC4", lambda: product(cyclic(2), cyclic(3), cyclic(4))),
    ],
)
def test_specs_build_the_constructor_groups(spec, expected):
    G, H = parse(spec), expected()
    np.testing.assert_array_equal(G.table, H.table)
    assert G.structure == H.structure


def test_d3_is_the_order_6_dihedral_group():
    G = parse("D3")
    assert G.order == 6 and not G.is_abelian
    assert G.structure == ("dihedral", 3)


def test_finite_group_is_returned_as_is():
    G = dihedral(4)
    assert parse(G) is G


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ("C0", "the cyclic family needs n >= 1, got 0"),
        ("D0", "the dihedral family needs n >= 1"),
        ("X5", "factor 1 'X5' is not a known group name"),
        ("C4xx", "factor 2 is empty"),
        ("xC4", "factor 1 is empty"),
        ("C4x", "factor 2 is empty"),
        ("D", "names the dihedral family but gives no number n"),
        ("Dic", "names the dicyclic family but gives no number n"),
        ("import os", "'import os' is not a known group name"),
        ("__import__('os')", "is not a known group name"),
        ("", "the spec is empty"),
        ("   ", "the spec is empty"),
        ("C4XC4", "lowercase 'x'"),
        ("C-3", "is not a known group name"),
        ("C3.5", "is not a known group name"),
        ("Q4", "the only quaternion group is Q8"),
        ("S9", "order 362880, more than the supported maximum"),
        ("C101xC100", "order 10100"),
        ("SmallGroup(24)", "SmallGroup(<order>,<id>)"),
        ("smallgroup(a,b)", "SmallGroup(<order>,<id>)"),
    ],
)
def test_bad_specs_raise_helpful_errors(spec, problem):
    with pytest.raises(GroupSpecError) as info:
        parse(spec)
    msg = str(info.value)
    assert f"cannot parse group spec {spec!r}" in msg  # quotes the spec
    assert problem in msg  # says what failed
    assert "Accepted forms:" in msg and "C<n>" in msg and "D<n>" in msg  # lists the forms


@pytest.mark.parametrize("bad", [None, 5, ["C4"]])
def test_non_string_spec(bad):
    with pytest.raises(GroupSpecError, match="must be a string or a FiniteGroup"):
        parse(bad)


def test_spec_error_is_not_a_group_error():
    # callers can tell "could not parse" apart from "invalid table"
    with pytest.raises(GroupSpecError) as info:
        parse("C0")
    assert not isinstance(info.value, GroupError)


@pytest.mark.skipif(HAS_CATALOGUE, reason="small-groups catalogue present")
def test_smallgroup_without_catalogue():
    with pytest.raises(GroupSpecError, match=re.escape("small-groups catalogue")):
        parse("SmallGroup(24,12)")


@pytest.mark.skipif(not HAS_CATALOGUE, reason="small-groups catalogue not yet available")
def test_smallgroup_with_catalogue():
    G = parse("SmallGroup(24, 12)")
    assert G.order == 24
    # SmallGroup(24,12) is S4
    assert sorted(G.class_sizes.tolist()) == sorted(symmetric(4).class_sizes.tolist())


def test_families_describe_every_form():
    assert {"C<n>", "D<n>", "Dic<n>", "S<n>", "A<n>", "Q8", "O", "I"} <= set(FAMILIES)
    assert any(p.startswith("SmallGroup") for p in FAMILIES)
    for pattern, fam in FAMILIES.items():
        assert isinstance(fam, Family)
        assert fam.pattern == pattern
        assert fam.description and fam.order and fam.example
    assert "Z<n>" in FAMILIES["C<n>"].notes
    assert "order 6" in FAMILIES["D<n>"].notes


@pytest.mark.parametrize("fam", [f for f in FAMILIES.values() if "SmallGroup" not in f.pattern])
def test_family_examples_parse_with_stated_order(fam):
    G = parse(fam.example)
    # check the order formula on the example by substituting its number n
    m = re.search(r"\d+", fam.example)
    n = int(m.group()) if m and "<n>" in fam.pattern else None
    expected = {
        "n": lambda: n,
        "2n": lambda: 2 * n,
        "4n": lambda: 4 * n,
        "n!": lambda: np.prod(range(1, n + 1)),
        "n!/2": lambda: np.prod(range(1, n + 1)) // 2,
    }
    if fam.order in expected:
        assert G.order == expected[fam.order]()
    elif fam.order.isdigit():
        assert G.order == int(fam.order)
    else:  # the product family
        assert G.order == 16


# ------------------------------------------------------------------ caching
@pytest.fixture
def empty_cache():
    from groupcomp.groups.parse import _build

    _build.cache_clear()
    yield
    _build.cache_clear()


@pytest.mark.parametrize(
    "specs",
    [
        ["C4xC4", "c4xc4", " C4 x Z4 ", "Z_4×C_4", "C04xc_4"],
        ["D3", "d3", "D_3", "  d_3  "],
        ["O", "o", "octahedral", "Octahedral"],
        ["Q8", "q8"],
        ["Dic3xS3", "dic_3 × s3"],
    ],
)
def test_equivalent_specs_return_the_same_cached_group(specs):
    first = parse(specs[0])
    for spec in specs[1:]:
        assert parse(spec) is first, spec


@pytest.mark.skipif(not HAS_CATALOGUE, reason="small-groups catalogue not yet available")
def test_smallgroup_specs_are_cached():
    assert parse("SmallGroup(24,12)") is parse("smallgroup( 24 , 12 )")


def test_different_specs_give_different_groups():
    assert parse("C4") is not parse("C5")
    assert parse("C2xC3") is not parse("C3xC2")  # different element orderings
    assert parse("S3") is not parse("D3")  # isomorphic, built differently


def test_cache_does_not_hide_spec_errors():
    parse("c4xc4")
    with pytest.raises(GroupSpecError, match="lowercase 'x'"):
        parse("C4XC4")  # 'X' is not a separator even once c4xc4 is cached
    parse("C4")
    with pytest.raises(GroupSpecError, match="'C 4' is not a known group name"):
        parse("C 4")
    for _ in range(2):  # errors from the constructors are raised again, not cached
        with pytest.raises(GroupSpecError, match=r"cannot parse group spec 's9'.*order 362880"):
            parse("s9")


def test_cache_is_bounded():
    from groupcomp.groups.parse import CACHE_SIZE, _build

    assert _build.cache_info().maxsize == CACHE_SIZE > 0


def test_irreps_are_computed_once_per_spec(empty_cache, monkeypatch):
    import groupcomp.groups.irreps as irreps_mod

    calls = []
    compute = irreps_mod.compute_real_irreps

    def counting(G):
        calls.append(G.name)
        return compute(G)

    monkeypatch.setattr(irreps_mod, "compute_real_irreps", counting)
    a = parse("S4").irreps()
    b = parse(" s_4 ").irreps()
    assert a is b
    assert calls == ["S4"]


def test_cached_group_is_read_only():
    G = parse("D4")
    arrays = {
        "table": G.table,
        "inverse": G.inverse,
        "element_orders": G.element_orders,
        "conjugation": G.conjugation,
        "class_of": G.class_of,
        "class_sizes": G.class_sizes,
        "class_representatives": G.class_representatives,
    }
    arrays.update({f"irrep {r.label}": r.matrices for r in G.irreps()})
    arrays.update({f"complex irrep {r.label}": r.matrices for r in G.complex_irreps()})
    for what, arr in arrays.items():
        assert not arr.flags.writeable, what
        with pytest.raises(ValueError, match="read-only"):
            arr[(0,) * arr.ndim] = 1
    assert isinstance(G.irreps(), tuple) and isinstance(G.complex_irreps(), tuple)
    for attr in ("name", "structure", "table", "inverse", "order"):
        with pytest.raises(AttributeError):
            setattr(G, attr, None)
    assert parse("D4").name == "D4" and parse("D4").table[1, 1] == G.table[1, 1]
