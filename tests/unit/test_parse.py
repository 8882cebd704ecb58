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
