"""Closed-form staircase (docs/theory.md §2.2–2.4, worked numbers of §0) and the
numerical check of the closed-form utilities against brute-force maximisation."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from groupcomp import fourier
from groupcomp.errors import ConfigError, ShapeError
from groupcomp.groups import (
    cyclic,
    dicyclic,
    dihedral,
    icosahedral,
    product,
    quaternion,
    symmetric,
)
from groupcomp.templates import fourier_template, one_hot
from groupcomp.theory import (
    Staircase,
    effective_dim,
    irrep_utilities,
    maximize_utility,
    predict_staircase,
)


def _gid(v) -> str:
    return getattr(v, "name", str(v))


def _label_index(G, label: str) -> int:
    return [r.label for r in G.irreps()].index(label)


# --------------------------------------------------------------------------- worked numbers
def test_d3_powers_0_30_3000() -> None:
    G = dihedral(3)
    s = predict_staircase(G, fourier_template(G, [0, 30, 3000]), 2)
    assert s.order == [[2], [1]]  # 2-dim first, then sign
    assert s.plateaus_mse == pytest.approx([505.0, 5.0, 0.0], abs=1e-9)
    assert s.utilities[2] / s.utilities[1] == pytest.approx(88.39, abs=0.01)
    assert s.utilities[2] / s.utilities[1] == pytest.approx(125 / math.sqrt(2), rel=1e-12)
    assert s.ties == [False, False]
    assert s.drop_sizes_mse == pytest.approx([500.0, 5.0])
    assert s.plateaus_p1 == pytest.approx([1515.0, 15.0, 0.0])
    assert s.table()[1]["utility_ratio"] == pytest.approx(88.39, abs=0.01)


def test_d3_one_hot() -> None:
    G = dihedral(3)
    s = predict_staircase(G, one_hot(G), 2)
    assert s.order == [[1], [2]]  # sign first, then the 2-dim irrep
    assert np.round(s.plateaus_mse, 4).tolist() == [0.1389, 0.1111, 0.0]
    assert s.op_norms[1:] == pytest.approx([1.0, 1.0])


def test_c20_three_frequencies() -> None:
    """|x̂[ξ]| = 10, 5, 2.5 at ξ = 1, 3, 5 with x̂[ξ] = Σ_g x(g) e^{-2πiξg/p}."""
    p = 20
    G = cyclic(p)
    g = np.arange(p)
    amps = {1: 10.0, 3: 5.0, 5: 2.5}
    # x = (1/p) Σ_ξ x̂[ξ] e^{2πiξg/p} over ξ and -ξ (real, positive coefficients)
    x = sum((2 / p) * a * np.cos(2 * np.pi * xi * g / p) for xi, a in amps.items())
    for xi, a in amps.items():
        assert abs(np.sum(x * np.exp(-2j * np.pi * xi * g / p))) == pytest.approx(a)
    s = predict_staircase(G, x, 2)
    labels = [[s.irrep_labels[i] for i in step] for step in s.order]
    assert labels == [["freq1"], ["freq3"], ["freq5"]]
    assert s.plateaus_mse == pytest.approx([0.65625, 0.15625, 0.03125, 0.0], abs=1e-12)
    assert sorted(s.op_norms[i] for step in s.order for i in step) == pytest.approx([2.5, 5, 10])
    # docs/theory.md §2.2: C_p, k=2 ⇒ U* = √2·3^{-3/2}·|x̂|³/p^{3/2}
    u1 = s.utilities[s.order[0][0]]
    assert u1 == pytest.approx(math.sqrt(2) * 3**-1.5 * 10**3 / p**1.5, rel=1e-12)


def test_rank_by_utility_not_power() -> None:
    """Counterexample of docs/theory.md §2.3: D3, (0, 1000, 3000) ⇒ the sign irrep (power 1000)
    first."""
    G = dihedral(3)
    s = predict_staircase(G, fourier_template(G, [0, 1000, 3000]), 2)
    assert s.powers[2] > s.powers[1]
    assert s.order == [[1], [2]]
    assert s.plateaus_mse == pytest.approx([4000 / 6, 3000 / 6, 0.0])


# --------------------------------------------------------------------------- ties
def test_one_hot_ties_d4() -> None:
    G = dihedral(4)
    s = predict_staircase(G, one_hot(G), 2)
    assert s.order == [[1, 2, 3], [4]]  # three 1-dim irreps (C·d = 1) together, then 2-dim
    assert s.ties == [True, False]
    assert s.plateaus_mse == pytest.approx([7 / 64, 4 / 64, 0.0])


def test_one_hot_ties_c3xc3() -> None:
    G = product(cyclic(3), cyclic(3))
    s = predict_staircase(G, one_hot(G), 3)
    assert len(s.order) == 1 and len(s.order[0]) == 4  # all four conjugate pairs at once
    assert s.ties == [True]
    assert s.plateaus_mse == pytest.approx([8 / 81, 0.0])


def test_near_tie_threshold() -> None:
    G = dihedral(4)
    x = one_hot(G)
    c = fourier.transform(G, x)
    c[1] = c[1] * (1 + 1e-9)  # relative gap ~ 3e-9 in U*: still a tie
    c[2] = c[2] * (1 + 1e-4)  # gap ~ 3e-4: separated
    s = predict_staircase(G, fourier.inverse(G, c), 2)
    assert s.order == [[2], [1, 3], [4]]
    assert s.ties == [False, True, False]


# --------------------------------------------------------------------------- invariants
@pytest.mark.parametrize(
    "G", [dihedral(4), symmetric(4), dicyclic(3), product(cyclic(2), cyclic(6))], ids=_gid
)
def test_plateau_invariants(G) -> None:
    x = np.random.default_rng(0).standard_normal(G.order)
    x -= x.mean()
    stairs = [predict_staircase(G, x, k) for k in (2, 3, 4, 5)]
    for s in stairs:
        pl = np.array(s.plateaus_mse)
        assert np.all(np.diff(pl) <= 0)
        assert pl[0] == pytest.approx(np.sum(x**2) / G.order, rel=1e-12)
        assert pl[-1] == 0.0
        assert sum(s.drop_sizes_mse) == pytest.approx(pl[0], rel=1e-12)
        assert np.allclose(-np.diff(pl), s.drop_sizes_mse, rtol=1e-9, atol=1e-15)
        assert np.allclose(s.plateaus_p1, np.array(s.plateaus_mse) * G.order / 2)
        u = [s.utilities[step[0]] for step in s.order]
        assert all(a > b for a, b in zip(u, u[1:], strict=False))
        assert sorted(i for step in s.order for i in step) == list(range(1, len(s.dims)))
    # the plateau levels (as a multiset of drops) do not depend on k, only their order does
    drops = [sorted(s.drop_sizes_mse) for s in stairs]
    for d in drops[1:]:
        assert d == pytest.approx(drops[0], rel=1e-12)


def test_order_depends_on_k_but_plateau_levels_do_not() -> None:
    """D3, x̂ ∝ I with ‖x̂[2-dim]‖_op/‖x̂[sign]‖_op = 1.2 ∈ (1, √2): the score ratio
    1.2^{k+1}·2^{-(k-1)/2} is 1.22, 1.04, 0.88, 0.75 for k = 2..5."""
    G = dihedral(3)
    x = fourier_template(G, [0, 1, 5.76])
    assert fourier.transform(G, x)[2][0, 0] / fourier.transform(G, x)[1][0, 0] == pytest.approx(1.2)
    orders = {k: predict_staircase(G, x, k).order for k in (2, 3, 4, 5)}
    assert orders == {2: [[2], [1]], 3: [[2], [1]], 4: [[1], [2]], 5: [[1], [2]]}
    assert predict_staircase(G, x, 2).plateaus_mse == pytest.approx([6.76 / 6, 1 / 6, 0])
    assert predict_staircase(G, x, 4).plateaus_mse == pytest.approx([6.76 / 6, 5.76 / 6, 0])


def test_absent_irreps_and_zero_template() -> None:
    G = dihedral(3)
    s = predict_staircase(G, fourier_template(G, [0, 0, 6]), 3)
    assert s.order == [[2]]
    assert s.absent == [0, 1]
    assert s.plateaus_mse == pytest.approx([1.0, 0.0])
    z = predict_staircase(G, np.zeros(6), 2)
    assert z.order == [] and z.plateaus_mse == [0.0] and z.table() == []


def test_nonzero_mean() -> None:
    G = dihedral(3)
    x = fourier_template(G, [0, 30, 3000])
    with pytest.raises(ConfigError, match="mean"):
        predict_staircase(G, x + 1.0, 2)
    s = predict_staircase(G, x + 1.0, 2, center=True)
    assert s.plateaus_mse == pytest.approx([505.0, 5.0, 0.0])
    assert irrep_utilities(G, x + 1.0, 2)[0] == 0.0
    assert irrep_utilities(G, x + 1.0, 2)[1:] == pytest.approx(irrep_utilities(G, x, 2)[1:])


def test_serialisation_and_table() -> None:
    G = dicyclic(3)
    x = fourier_template(G, [0, 1, 2, 3, 4])
    s = predict_staircase(G, x, 2)
    assert isinstance(s, Staircase)
    d = json.loads(json.dumps(s.to_dict()))
    assert d["order"] == s.order and d["drop_times"] is None
    assert d["types"] == ["R", "R", "R", "C", "H"]
    rows = s.table()
    assert [r["step"] for r in rows] == list(range(1, s.num_steps + 1))
    assert rows[0]["utility_ratio"] == 1.0
    assert [r["plateau_after_mse"] for r in rows] == s.plateaus_mse[1:]
    assert "Dic3" in str(s)


def test_input_errors() -> None:
    G = dihedral(3)
    with pytest.raises(ShapeError):
        predict_staircase(G, np.zeros(5), 2)
    with pytest.raises(ConfigError, match="k"):
        irrep_utilities(G, np.zeros(6), 0)


def test_effective_dim_is_real_dim() -> None:
    for G in (dicyclic(3), quaternion(), cyclic(6), symmetric(4)):
        for r in G.irreps():
            assert effective_dim(r) == r.dim


def test_a5_random_template_has_four_steps() -> None:
    # (speed of predict_staircase is measured in benchmarks/, never asserted here)
    G = icosahedral()
    x = np.random.default_rng(0).standard_normal(60)
    x -= x.mean()
    s = predict_staircase(G, x, 3)
    assert s.num_steps == 4
    assert sorted(i for g in s.order for i in g) == [1, 2, 3, 4]


# --------------------------------------------------------------------------- closed form = numerics
def _random_template(G, seed: int, boost: str | None = None, factor: float = 6.0) -> np.ndarray:
    """Mean-zero Gaussian template; optionally amplify the component of one irrep."""
    x = np.random.default_rng(seed).standard_normal(G.order)
    x -= x.mean()
    if boost is not None:
        i = _label_index(G, boost)
        x = x + (factor - 1.0) * fourier.projector(G, i) @ x
    return x


CASES = [
    # (group, k, boosted irrep or None, seed)
    (dihedral(3), 2, None, 0),
    (dihedral(3), 3, "sign", 1),
    (cyclic(5), 2, None, 2),
    (cyclic(5), 3, None, 3),
    (cyclic(6), 2, "freq3", 4),  # real Nyquist character (C = 1) wins
    (cyclic(6), 3, None, 5),
    (quaternion(), 2, "4a", 6),  # H type
    (quaternion(), 3, "4a", 7),
    (dicyclic(3), 2, "4a", 8),  # H type in SmallGroup(12, 1)
    (dicyclic(3), 3, "4a", 9),
    (dicyclic(3), 2, "2b", 10),  # C type
    (symmetric(4), 2, None, 11),
    (symmetric(4), 3, "3a", 12),
    (dihedral(4), 3, "rot1", 13),
    (dicyclic(3), 4, "4a", 14),
    (icosahedral(), 2, "5a", 15),
    (icosahedral(), 2, "4a", 16),
]


@pytest.mark.parametrize("G,k,boost,seed", CASES, ids=_gid)
def test_closed_form_matches_brute_force_maximum(G, k, boost, seed) -> None:
    x = _random_template(G, seed, boost)
    u = irrep_utilities(G, x, k)
    best = int(np.argmax(u))
    if boost is not None:
        assert G.irreps()[best].label == boost  # the case tests the intended irrep type
    res = maximize_utility(G, x, k, restarts=32, seed=seed)
    assert res.value == pytest.approx(u[best], rel=1e-6)


@pytest.mark.parametrize("G", [quaternion(), dicyclic(3)], ids=_gid)
@pytest.mark.parametrize("k", [2, 3])
def test_h_type_needs_real_dimension(G, k) -> None:
    """For the H-type irrep the factor is (2d)^{-(k-1)/2} = D^{-(k-1)/2}, not d^{-(k-1)/2}."""
    i = _label_index(G, "4a")
    r = G.irreps()[i]
    assert (r.type, r.complex_dim, r.dim) == ("H", 2, 4)
    x = fourier.projector(G, i) @ _random_template(G, 20 + k)  # only the H component
    res = maximize_utility(G, x, k, restarts=16, seed=k)
    u = irrep_utilities(G, x, k)[i]
    assert res.value == pytest.approx(u, rel=1e-6)
    naive = u * 2 ** ((k - 1) / 2)  # what C·d = d (real-type rule) would give
    assert not np.isclose(res.value, naive, rtol=1e-2)
