"""Tests for groupcomp.groups.constructors: orders, conventions, invariants, errors."""

from __future__ import annotations

import functools
import itertools
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from groupcomp.errors import GroupError
from groupcomp.groups.constructors import (
    MAX_ORDER,
    alternating,
    close_permutations,
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
from groupcomp.groups.core import FiniteGroup, validate_table


def order_counts(G: FiniteGroup) -> dict[int, int]:
    """Multiset of element orders as {order: count}."""
    vals, counts = np.unique(G.element_orders, return_counts=True)
    return dict(zip(vals.tolist(), counts.tolist(), strict=True))


# ---------------------------------------------------------------------- orders and basic facts
@pytest.mark.parametrize(
    ("build", "order", "name", "abelian"),
    [
        (lambda: cyclic(1), 1, "C1", True),
        (lambda: cyclic(12), 12, "C12", True),
        (lambda: dihedral(1), 2, "D1", True),
        (lambda: dihedral(2), 4, "D2", True),
        (lambda: dihedral(3), 6, "D3", False),
        (lambda: dihedral(7), 14, "D7", False),
        (lambda: dicyclic(1), 4, "Dic1", True),
        (lambda: dicyclic(3), 12, "Dic3", False),
        (lambda: quaternion(), 8, "Q8", False),
        (lambda: symmetric(1), 1, "S1", True),
        (lambda: symmetric(3), 6, "S3", False),
        (lambda: symmetric(5), 120, "S5", False),
        (lambda: alternating(3), 3, "A3", True),
        (lambda: alternating(4), 12, "A4", False),
        (lambda: alternating(5), 60, "A5", False),
        (lambda: octahedral(), 24, "O", False),
        (lambda: icosahedral(), 60, "I", False),
        (lambda: product(cyclic(4), cyclic(4)), 16, "C4xC4", True),
        (lambda: product(dihedral(3), cyclic(2)), 12, "D3xC2", False),
    ],
)
def test_order_name_abelian_and_axioms(build, order, name, abelian):
    G = build()
    assert G.order == order
    assert G.name == name
    assert G.is_abelian is abelian
    assert len(G.labels) == order
    assert len(set(G.labels)) == order  # labels identify elements
    validate_table(G.table)  # constructors skip validation; check it here


def test_element_order_multisets():
    assert order_counts(quaternion()) == {1: 1, 2: 1, 4: 6}
    assert order_counts(symmetric(4)) == {1: 1, 2: 9, 3: 8, 4: 6}
    assert order_counts(alternating(5)) == {1: 1, 2: 15, 3: 20, 5: 24}
    assert order_counts(octahedral()) == order_counts(symmetric(4))
    assert order_counts(icosahedral()) == order_counts(alternating(5))
    assert order_counts(dihedral(4)) == {1: 1, 2: 5, 4: 2}
    assert order_counts(dicyclic(3)) == {1: 1, 2: 1, 3: 2, 4: 6, 6: 2}
    assert order_counts(cyclic(6)) == {1: 1, 2: 1, 3: 2, 6: 2}


@pytest.mark.parametrize(
    ("build", "classes"),
    [
        (lambda: symmetric(4), 5),
        (lambda: alternating(5), 5),
        (lambda: quaternion(), 5),
        (lambda: dicyclic(3), 6),
        (lambda: octahedral(), 5),
        (lambda: icosahedral(), 5),
        (lambda: symmetric(5), 7),
        (lambda: alternating(4), 4),
    ],
)
def test_num_classes(build, classes):
    assert build().num_classes == classes


@pytest.mark.parametrize("n", range(3, 11))
def test_dihedral_num_classes(n):
    expected = (n + 3) // 2 if n % 2 else n // 2 + 3
    assert dihedral(n).num_classes == expected


def test_polyhedral_groups_match_permutation_groups_by_class_sizes():
    assert sorted(octahedral().class_sizes.tolist()) == sorted(symmetric(4).class_sizes.tolist())
    assert sorted(octahedral().class_sizes.tolist()) == [1, 3, 6, 6, 8]
    assert sorted(icosahedral().class_sizes.tolist()) == [1, 12, 12, 15, 20]
    assert sorted(alternating(5).class_sizes.tolist()) == [1, 12, 12, 15, 20]


def cycle_lengths(label: str) -> list[int]:
    return sorted(len(c.split()) for c in label.strip("()").split(")(")) if label != "e" else []


def test_polyhedral_groups_act_as_rotations():
    # A rotation fixes exactly the points on its axis: O acts on the 6 face centres, so a quarter
    # turn is a 4-cycle fixing 2 faces; I acts on the 12 vertices, so a 1/5 turn is two 5-cycles.
    O, I = octahedral(), icosahedral()
    for g in np.flatnonzero(O.element_orders == 4):
        assert cycle_lengths(O.labels[g]) == [4]
    for g in np.flatnonzero(I.element_orders == 5):
        assert cycle_lengths(I.labels[g]) == [5, 5]
    for g in np.flatnonzero(I.element_orders == 2):
        assert cycle_lengths(I.labels[g]) == [2] * 6  # half turns about edge midpoints


# ---------------------------------------------------------------------- conventions
def test_cyclic_convention():
    G = cyclic(7)
    i, j = np.meshgrid(np.arange(7), np.arange(7), indexing="ij")
    np.testing.assert_array_equal(G.table, (i + j) % 7)
    assert G.structure == ("cyclic", 7)
    assert G.cyclic_factors == (7,)
    np.testing.assert_array_equal(G.inverse, (-np.arange(7)) % 7)


@pytest.mark.parametrize("n", [1, 2, 5, 6])
def test_dihedral_convention(n):
    G = dihedral(n)
    assert G.structure == ("dihedral", n)
    for x, y in itertools.product(range(2 * n), repeat=2):
        a, b = x % n, x // n
        c, d = y % n, y // n
        expected = (a + (-1) ** b * c) % n + n * ((b + d) % 2)
        assert G.table[x, y] == expected
    if n >= 3:
        assert G.labels[:3] == ("e", "r", "r2")
        assert G.labels[n : n + 3] == ("s", "rs", "r2s")


@pytest.mark.parametrize("n", [1, 2, 3, 5])
def test_dicyclic_relations(n):
    G = dicyclic(n)
    a, x = 1, 2 * n  # generators a and x
    T = G.table
    assert G.element_orders[a] == 2 * n
    assert T[x, x] == n  # x² = a^n
    assert T[T[x, a], G.inverse[x]] == G.inverse[a]  # x a x⁻¹ = a⁻¹
    for k, b in itertools.product(range(2 * n), range(2)):  # element k + 2n b is a^k x^b
        elem = 0
        for _ in range(k):
            elem = T[elem, a]
        if b:
            elem = T[elem, x]
        assert elem == k + 2 * n * b


def test_quaternion_is_dic2_and_multiplies_like_quaternions():
    Q = quaternion()
    np.testing.assert_array_equal(Q.table, dicyclic(2).table)
    idx = {lab: i for i, lab in enumerate(Q.labels)}

    def mul(p, q):
        return Q.labels[Q.table[idx[p], idx[q]]]

    assert mul("i", "j") == "k" and mul("j", "k") == "i" and mul("k", "i") == "j"
    assert mul("j", "i") == "-k"
    assert mul("i", "i") == mul("j", "j") == mul("k", "k") == "-1"
    assert mul("-1", "-1") == "1"


def test_product_index_convention():
    G1, G2, G3 = dihedral(3), cyclic(2), quaternion()
    P = product(G1, G2, G3)
    shape = (G1.order, G2.order, G3.order)
    assert P.structure == ("product", (G1, G2, G3))
    assert P.name == "D3xC2xQ8"
    for x, y in itertools.product(range(P.order), repeat=2):
        i = np.unravel_index(x, shape)
        j = np.unravel_index(y, shape)
        k = (G1.table[i[0], j[0]], G2.table[i[1], j[1]], G3.table[i[2], j[2]])
        assert P.table[x, y] == np.ravel_multi_index(k, shape)
    assert P.labels[np.ravel_multi_index((1, 1, 4), shape)] == "(r,1,j)"


def test_product_of_cyclics_reports_cyclic_factors():
    P = product(cyclic(2), product(cyclic(3), cyclic(4)))
    assert P.cyclic_factors == (2, 3, 4)
    assert product(cyclic(3), dihedral(3)).cyclic_factors is None


def test_product_of_one_group_is_equivalent():
    G = dihedral(4)
    P = product(G)
    np.testing.assert_array_equal(P.table, G.table)
    assert P.name == G.name


def test_from_permutations_composition_convention():
    # (p·q)[i] = p[q[i]]: apply q first.
    p, q = [1, 0, 2], [0, 2, 1]  # (0 1), (1 2); they do not commute
    G = from_permutations([p, q], name="S3")
    perms = close_permutations([p, q])
    assert G.order == 6
    rows = {tuple(r): i for i, r in enumerate(perms.tolist())}
    ip, iq = rows[tuple(p)], rows[tuple(q)]
    pq = [p[q[i]] for i in range(3)]
    assert perms[G.table[ip, iq]].tolist() == pq
    assert perms[G.table[iq, ip]].tolist() != pq
    for a, b in itertools.product(range(6), repeat=2):
        np.testing.assert_array_equal(perms[G.table[a, b]], perms[a][perms[b]])


def test_from_permutations_order_is_lexicographic_and_generator_independent():
    perms = close_permutations([[1, 0, 2, 3], [1, 2, 3, 0]])
    assert perms[0].tolist() == [0, 1, 2, 3]
    assert [tuple(r) for r in perms.tolist()] == sorted(itertools.permutations(range(4)))
    adjacent = from_permutations([[1, 0, 2, 3], [0, 2, 1, 3], [0, 1, 3, 2]])
    np.testing.assert_array_equal(adjacent.table, symmetric(4).table)
    assert symmetric(4).labels[:3] == ("e", "(2 3)", "(1 2)")


def test_from_permutations_cyclic_subgroup():
    G = from_permutations([[1, 2, 3, 4, 0]], name="C5")
    assert G.order == 5 and G.is_abelian
    assert order_counts(G) == {1: 1, 5: 4}


# ---------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: cyclic(0), r"cyclic: argument n must be an integer >= 1, got 0"),
        (lambda: cyclic(-3), r"argument n must be an integer >= 1"),
        (lambda: cyclic(2.5), r"argument n must be an integer >= 1, got 2.5"),
        (lambda: cyclic(True), r"argument n must be an integer"),
        (lambda: dihedral(0), r"dihedral: argument n"),
        (lambda: dicyclic(0), r"dicyclic: argument n"),
        (lambda: symmetric(0), r"symmetric: argument n"),
        (lambda: alternating("5"), r"alternating: argument n"),
        (lambda: cyclic(MAX_ORDER + 1), r"order 10001, more than the supported maximum"),
        (lambda: symmetric(8), r"symmetric\(8\) would have order 40320"),
        (lambda: alternating(8), r"order 20160"),
        (lambda: dihedral(MAX_ORDER), r"supported maximum of 10000"),
        (lambda: product(cyclic(101), cyclic(100)), r"product C101xC100 would have order 10100"),
        (lambda: product(), r"at least one group"),
        (lambda: product(cyclic(2), [[0]]), r"argument 1 must be a FiniteGroup"),
        (lambda: from_permutations([]), r"at least one permutation"),
        (lambda: from_permutations([[0, 0, 1]]), r"generator 0 = \[0, 0, 1\] is not a permutation"),
        (lambda: from_permutations([[0, 1], [1, 2, 0]]), r"generator 1 has length 3"),
        (lambda: from_permutations([[0.0, 1.0]]), r"not a permutation of 0..1"),
        (lambda: from_permutations([[[0, 1]]]), r"1-D sequence"),
        (lambda: from_permutations(5), r"sequence of permutations"),
        (
            lambda: from_permutations([[1, 0, 2, 3, 4, 5, 6, 7], [1, 2, 3, 4, 5, 6, 7, 0]]),
            r"more than 10000 elements",
        ),
    ],
)
def test_invalid_arguments_raise_group_error(call, match):
    with pytest.raises(GroupError, match=match):
        call()


def test_from_table_accepts_valid_table_and_labels():
    G = from_table([[0, 1, 2], [1, 2, 0], [2, 0, 1]], name="Z3", labels=["e", "a", "b"])
    assert G.order == 3 and G.name == "Z3" and G.labels == ("e", "a", "b")
    np.testing.assert_array_equal(G.table, cyclic(3).table)
    np.testing.assert_array_equal(from_table(symmetric(3).table).table, symmetric(3).table)


@pytest.mark.parametrize(
    ("table", "match"),
    [
        ([[0, 1]], r"square"),
        ([[0, 1], [1, 2]], r"not closed"),
        ([[1, 0], [0, 1]], r"no identity"),
        ([[0, 1, 2], [1, 1, 1], [2, 1, 2]], r"missing inverse"),
        ([[0, 1, 2], [1, 0, 0], [2, 0, 0]], r"non-associative"),
    ],
)
def test_from_table_rejects_invalid_tables(table, match):
    with pytest.raises(GroupError, match=match):
        from_table(table)


def test_from_table_rejects_wrong_label_count():
    with pytest.raises(GroupError, match=r"expected 2 labels, got 3"):
        from_table([[0, 1], [1, 0]], labels=["e", "a", "b"])


# ---------------------------------------------------------------------- large groups
@pytest.mark.parametrize(
    "build",
    [
        lambda: symmetric(7),
        lambda: alternating(7),
        lambda: dihedral(2500),
        lambda: dicyclic(1250),
        lambda: product(cyclic(50), cyclic(100)),
    ],
)
def test_large_groups_have_valid_inverses(build):
    # (speed is measured in benchmarks/, never asserted in tests)
    G = build()
    assert G.order >= 2520
    assert (G.table[G.inverse, np.arange(G.order)] == 0).all()


# ---------------------------------------------------------------------- properties
FACTORS = {
    **{f"C{n}": functools.partial(cyclic, n) for n in range(1, 7)},
    **{f"D{n}": functools.partial(dihedral, n) for n in range(1, 6)},
    **{f"Dic{n}": functools.partial(dicyclic, n) for n in range(1, 3)},
    **{f"S{n}": functools.partial(symmetric, n) for n in range(1, 5)},
    "Q8": quaternion,
}


@functools.cache
def factor(name: str) -> FiniteGroup:
    return FACTORS[name]()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(st.lists(st.sampled_from(sorted(FACTORS)), min_size=1, max_size=3))
def test_random_products_are_groups(names):
    groups = [factor(n) for n in names]
    expected_order = math.prod(g.order for g in groups)
    assume(expected_order <= 200)
    P = product(*groups)
    assert P.order == expected_order
    validate_table(P.table)
    n = P.order
    assert (P.table[P.inverse, np.arange(n)] == 0).all()
    assert (P.table[np.arange(n), P.inverse] == 0).all()
    assert P.is_abelian == all(g.is_abelian for g in groups)
    # element order of a tuple is the lcm of the component orders
    shape = tuple(g.order for g in groups)
    comps = np.unravel_index(np.arange(n), shape)
    lcm = np.lcm.reduce([g.element_orders[c] for g, c in zip(groups, comps, strict=True)])
    np.testing.assert_array_equal(P.element_orders, lcm)
