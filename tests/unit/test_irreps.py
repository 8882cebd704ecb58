"""Irreps against GAP ground truth (tests/data/small_groups_reference.jsonl) and closed forms."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from groupcomp.errors import IrrepError
from groupcomp.groups import (
    FiniteGroup,
    alternating,
    cyclic,
    dicyclic,
    dihedral,
    icosahedral,
    octahedral,
    parse,
    product,
    quaternion,
    symmetric,
)
from groupcomp.groups.irreps import Irrep, verify_irreps

from conftest import REFERENCE

IDS = [f"{d['gap_id'][0]}_{d['gap_id'][1]}" for d in REFERENCE]


def _ref_group(d: dict) -> FiniteGroup:
    return FiniteGroup(np.array(d["table"]), name=d["name"])


def _ref_chars(d: dict) -> np.ndarray:
    """GAP characters expanded to elements: (num_irreps, n) complex."""
    c = np.array(d["characters"], dtype=float)
    return (c[..., 0] + 1j * c[..., 1])[:, np.array(d["class_of"])]


def _expected_real(d: dict) -> Counter:
    """Multiset of (real dim, type) predicted from GAP degrees and Frobenius–Schur indicators."""
    out: Counter = Counter()
    for deg, fs in zip(d["degrees"], d["fs_indicators"], strict=True):
        if fs == 1:
            out[(deg, "R")] += 1
        elif fs == -1:
            out[(2 * deg, "H")] += 1
        else:
            out[(2 * deg, "C")] += 1  # counted twice (ρ and ρ̄), halved below
    return Counter({k: (v // 2 if k[1] == "C" else v) for k, v in out.items()})


@pytest.mark.parametrize("d", REFERENCE, ids=IDS)
def test_characters_match_gap(d: dict) -> None:
    G = _ref_group(d)
    ours = G.character_table()
    ref = _ref_chars(d)
    assert ours.shape == ref.shape
    # bijective matching of character rows, and FS indicator of each matched row
    fs_ours = [r.frobenius_schur for r in G.complex_irreps()]
    used = set()
    for i, row in enumerate(ref):
        dist = np.abs(ours - row).max(axis=1)
        j = int(np.argmin(dist))
        assert dist[j] < 1e-8, f"GAP character {i} of {d['name']} not found"
        assert j not in used
        used.add(j)
        assert fs_ours[j] == d["fs_indicators"][i]
    assert sorted(r.complex_dim for r in G.complex_irreps()) == sorted(d["degrees"])


@pytest.mark.parametrize("d", REFERENCE, ids=IDS)
def test_real_irreps_types_and_dims(d: dict) -> None:
    G = _ref_group(d)
    irreps = G.irreps()
    assert Counter((r.dim, r.type) for r in irreps) == _expected_real(d)
    # trivial first, then non-decreasing dimension
    assert np.allclose(irreps[0].matrices, 1.0)
    dims = [r.dim for r in irreps[1:]]
    assert dims == sorted(dims)
    # real orthogonal homomorphisms, checked independently of verify_irreps
    n = G.order
    for r in irreps:
        M = r.matrices
        assert M.dtype == np.float64
        assert np.allclose(np.einsum("aij,bjk->abik", M, M), M[G.table], atol=1e-9)
        assert np.allclose(M @ M.transpose(0, 2, 1), np.eye(r.dim), atol=1e-9)
        # commutant dimension e = ⟨χ, χ⟩ for a real irrep
        chi = r.character
        assert abs(chi @ chi / n - r.commutant_dim) < 1e-9
    assert sum(r.dim**2 / r.commutant_dim for r in irreps) == pytest.approx(n)
    assert len({r.label for r in irreps}) == len(irreps)


@pytest.mark.parametrize(
    ("G", "degrees"),
    [
        (symmetric(3), [1, 1, 2]),
        (symmetric(4), [1, 1, 2, 3, 3]),
        (octahedral(), [1, 1, 2, 3, 3]),
        (alternating(4), [1, 1, 1, 3]),
        (alternating(5), [1, 3, 3, 4, 5]),
        (icosahedral(), [1, 3, 3, 4, 5]),
        (quaternion(), [1, 1, 1, 1, 2]),
        (dicyclic(3), [1, 1, 1, 1, 2, 2]),
        (dihedral(5), [1, 1, 2, 2]),
        (dihedral(6), [1, 1, 1, 1, 2, 2]),
        (cyclic(7), [1] * 7),
        (product(cyclic(4), cyclic(4)), [1] * 16),
        (product(dihedral(3), cyclic(2)), [1, 1, 1, 1, 2, 2]),
        (symmetric(5), [1, 1, 4, 4, 5, 5, 6]),
    ],
    ids=lambda x: x.name if isinstance(x, FiniteGroup) else None,
)
def test_named_constructor_degrees(G: FiniteGroup, degrees: list[int]) -> None:
    assert sorted(r.complex_dim for r in G.complex_irreps()) == degrees
    assert sum(r.dim**2 / r.commutant_dim for r in G.irreps()) == pytest.approx(G.order)


def test_quaternionic_and_complex_types() -> None:
    # Q8: one 2-dim complex irrep of quaternionic type -> a 4-dim real irrep of type H
    assert [(r.dim, r.type) for r in quaternion().irreps()][-1] == (4, "H")
    # C5: two conjugate pairs of complex characters -> two 2-dim real irreps of type C
    assert [(r.dim, r.type) for r in cyclic(5).irreps()] == [(1, "R"), (2, "C"), (2, "C")]
    # C6 has a real Nyquist (sign) character
    assert [(r.dim, r.type) for r in cyclic(6).irreps()] == [
        (1, "R"),
        (1, "R"),
        (2, "C"),
        (2, "C"),
    ]


def test_dihedral_closed_form_order_and_labels() -> None:
    assert [r.label for r in dihedral(3).irreps()] == ["trivial", "sign", "rot1"]
    assert [r.label for r in dihedral(4).irreps()] == [
        "trivial",
        "sign",
        "sign_r",
        "sign_rs",
        "rot1",
    ]
    assert [r.label for r in cyclic(5).irreps()] == ["trivial", "freq1", "freq2"]


@pytest.mark.parametrize(
    "G",
    [cyclic(12), dihedral(6), product(cyclic(2), cyclic(6)), product(quaternion(), cyclic(3))],
    ids=lambda g: g.name,
)
def test_closed_forms_agree_with_generic(G: FiniteGroup) -> None:
    H = FiniteGroup(G.table, name="generic")  # same table, no structure: generic path
    assert H.structure is None

    def chars(g: FiniteGroup) -> np.ndarray:
        return np.array(sorted(map(tuple, np.round(np.real(g.character_table()), 8).tolist())))

    assert np.allclose(chars(G), chars(H))
    assert Counter((r.dim, r.type) for r in G.irreps()) == Counter(
        (r.dim, r.type) for r in H.irreps()
    )


def test_deterministic() -> None:
    a = FiniteGroup(symmetric(4).table).irreps()
    b = FiniteGroup(symmetric(4).table).irreps()
    for r, s in zip(a, b, strict=True):
        assert r.label == s.label
        assert np.array_equal(r.matrices, s.matrices)


@pytest.mark.parametrize(
    "G",
    [dihedral(64), dicyclic(32), product(quaternion(), cyclic(16)), parse("C2xC4xC16")],
    ids=lambda g: g.name,
)
def test_order_128_groups(G: FiniteGroup) -> None:
    assert G.order == 128
    H = FiniteGroup(G.table, name="generic128")  # force the generic decomposition
    for g in (G, H):
        irreps = g.irreps()
        assert sum(r.dim**2 / r.commutant_dim for r in irreps) == pytest.approx(128)
        assert len(g.complex_irreps()) == g.num_classes


def test_verify_rejects_wrong_matrices() -> None:
    G = dihedral(3)
    good = G.irreps()
    bad_mats = good[-1].matrices.copy()
    bad_mats[1] = bad_mats[2]  # break the homomorphism
    bad = [*good[:-1], Irrep(bad_mats, "R", 2, "broken")]
    with pytest.raises(IrrepError, match="broken"):
        verify_irreps(G, bad)
    with pytest.raises(IrrepError, match="Plancherel|reducible|equivalent"):
        verify_irreps(G, good[:-1])
