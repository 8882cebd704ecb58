"""Templates: prescribed powers, class-function structure, one-hot spectrum, image templates."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from groupcomp import fourier
from groupcomp.errors import ConfigError
from groupcomp.groups import alternating, cyclic, dihedral, product, quaternion, symmetric
from groupcomp.tasks import SequenceTask
from groupcomp.templates import (
    TEMPLATE_KINDS,
    bump_template,
    digits_template,
    fourier_template,
    gaussian_template,
    make_template,
    one_hot,
    random_fourier_template,
    template_power,
)

GROUPS = {
    "D3": lambda: dihedral(3),
    "D5": lambda: dihedral(5),
    "S4": lambda: symmetric(4),
    "A5": lambda: alternating(5),
    "C10": lambda: cyclic(10),
    "C5": lambda: cyclic(5),
    "Q8": quaternion,
    "C3xC4": lambda: product(cyclic(3), cyclic(4)),
}


@pytest.fixture(scope="module", params=list(GROUPS))
def group(request):
    return GROUPS[request.param]()


def _random_powers(G, seed: int) -> np.ndarray:
    p = np.random.default_rng(seed).uniform(0.5, 20.0, size=len(G.irreps()))
    p[0] = 0.0
    return p


def _is_class_function(G, x: np.ndarray, atol: float = 1e-9) -> bool:
    # x(h g h^-1) == x(g) for all h, g
    return bool(np.allclose(x[G.conjugation], x[None, :], atol=atol))


def test_group_fixture_has_expected_irrep_types():
    assert {r.type for r in quaternion().irreps()} == {"R", "H"}
    assert {r.type for r in cyclic(5).irreps()} == {"R", "C"}


# --------------------------------------------------------------------------- fourier_template
def test_fourier_template_powers_exact_and_class_function(group):
    p = _random_powers(group, 1)
    x = fourier_template(group, p)
    assert x.shape == (group.order,) and x.dtype == np.float64
    np.testing.assert_allclose(fourier.power(group, x), p, rtol=0, atol=1e-10)
    np.testing.assert_allclose(template_power(group, x), p, rtol=0, atol=1e-10)
    assert abs(x.mean()) < 1e-12  # trivial power 0 ⇒ mean-centred
    assert _is_class_function(group, x)
    # coefficients are c_π I with c_π = sqrt(e n P)/D
    for r, c, pi in zip(group.irreps(), fourier.transform(group, x), p, strict=True):
        expected = np.sqrt(r.commutant_dim * group.order * pi) / r.dim
        np.testing.assert_allclose(c, expected * np.eye(r.dim), atol=1e-10)


def test_fourier_template_nonzero_trivial_power_sets_mean():
    G = dihedral(4)
    p = np.zeros(len(G.irreps()))
    p[0] = 8.0 * 4.0  # P = n·mean² ⇒ mean = 2
    x = fourier_template(G, p)
    np.testing.assert_allclose(x, 2.0, atol=1e-12)


def test_fourier_template_d3_worked_numbers():
    G = dihedral(3)
    assert [r.dim for r in G.irreps()] == [1, 1, 2]
    x = fourier_template(G, [0, 30, 3000])
    np.testing.assert_allclose(np.sum(x**2), 3030.0, rtol=1e-12)
    task = SequenceTask(G, x, k=2)
    seq = task.exhaustive()
    # mean-MSE of the zero predictor over all sequences
    zero_loss = float(task.targets(seq, dtype=torch.float64).pow(2).mean())
    np.testing.assert_allclose(zero_loss, 505.0, rtol=1e-12)
    np.testing.assert_allclose(task.initial_loss, 505.0, rtol=1e-12)


def test_fourier_template_wrong_length_names_key_and_irreps():
    G = dihedral(3)
    with pytest.raises(ConfigError, match=r"^fourier_template: powers must have 3 values") as info:
        fourier_template(G, [1.0, 2.0])
    for r in G.irreps():
        assert r.label in str(info.value)
    with pytest.raises(ConfigError, match=r"^fourier_template: powers must be finite and >= 0"):
        fourier_template(G, [0.0, -1.0, 2.0])
    with pytest.raises(ConfigError, match=r"^fourier_template: powers must be finite"):
        fourier_template(G, [0.0, np.nan, 2.0])
    with pytest.raises(ConfigError, match=r"^random_fourier_template: powers must have 3 values"):
        random_fourier_template(G, [1.0], np.random.default_rng(0))


# --------------------------------------------------------------------------- one-hot
def test_one_hot_spectrum(group):
    n = group.order
    x = one_hot(group)
    np.testing.assert_allclose(x, np.eye(n)[0] - 1.0 / n)
    expected = np.array([r.dim**2 / (r.commutant_dim * n) for r in group.irreps()])
    expected[0] = 0.0
    p = template_power(group, x)
    np.testing.assert_allclose(p, expected, atol=1e-12)
    np.testing.assert_allclose(p.sum(), 1.0 - 1.0 / n, atol=1e-12)
    np.testing.assert_allclose(
        template_power(group, one_hot(group, scale=3.0)), 9 * expected, atol=1e-12
    )


def test_one_hot_d3_plateaus():
    # docs/theory.md §0 worked numbers: mean-MSE plateaus 0.1389 -> 0.1111 (sign learned first)
    G = dihedral(3)
    p = template_power(G, one_hot(G))
    np.testing.assert_allclose(p.sum() / 6, 5 / 36, atol=1e-12)
    np.testing.assert_allclose(p[2] / 6, 1 / 9, atol=1e-12)


# --------------------------------------------------------------------------- random fourier
def test_random_fourier_template_exact_powers_and_orthogonal_coefficients(group):
    p = _random_powers(group, 2)
    x = random_fourier_template(group, p, np.random.default_rng(0))
    np.testing.assert_allclose(template_power(group, x), p, rtol=0, atol=1e-10)
    assert abs(x.mean()) < 1e-12
    for r, c, pi in zip(group.irreps(), fourier.transform(group, x), p, strict=True):
        scale = np.sqrt(r.commutant_dim * group.order * pi) / r.dim
        # every singular value equals c_π: x̂ = c_π · O with O orthogonal
        np.testing.assert_allclose(c @ c.T, scale**2 * np.eye(r.dim), atol=1e-9)


def test_random_fourier_template_is_reproducible_and_seed_dependent():
    G = symmetric(4)
    p = _random_powers(G, 3)
    a = random_fourier_template(G, p, np.random.default_rng(5))
    b = random_fourier_template(G, p, np.random.default_rng(5))
    c = random_fourier_template(G, p, np.random.default_rng(6))
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


@pytest.mark.parametrize("make", [lambda: dihedral(3), lambda: symmetric(4), quaternion])
def test_random_fourier_template_not_class_function(make):
    G = make()
    p = np.ones(len(G.irreps()))
    p[0] = 0.0
    x = random_fourier_template(G, p, np.random.default_rng(11))
    assert not _is_class_function(G, x, atol=1e-6)
    assert _is_class_function(G, fourier_template(G, p))


def test_random_fourier_template_needs_rng():
    with pytest.raises(ConfigError, match="Generator"):
        random_fourier_template(dihedral(3), [0, 1, 1], None)


# --------------------------------------------------------------------------- gaussian
def test_gaussian_template():
    G = dihedral(5)
    x = gaussian_template(G, np.random.default_rng(0), std=2.0)
    assert x.shape == (10,) and abs(x.mean()) < 1e-12
    y = gaussian_template(G, np.random.default_rng(0), std=2.0, centred=False)
    np.testing.assert_allclose(x, y - y.mean())
    z = gaussian_template(cyclic(2500), np.random.default_rng(1), std=2.0, centred=False)
    assert 1.9 < z.std() < 2.1


# --------------------------------------------------------------------------- bumps
def test_bump_template_cyclic_is_periodic_and_peaked():
    G = cyclic(12)
    x = bump_template(G, sigma=1.5)
    assert abs(x.mean()) < 1e-12
    assert int(np.argmax(x)) == 0
    np.testing.assert_allclose(x[1:], x[1:][::-1])  # x(i) == x(-i): circular distance
    expected = np.exp(-0.5 * (np.minimum(np.arange(12), 12 - np.arange(12)) / 1.5) ** 2)
    np.testing.assert_allclose(x, expected - expected.mean())


def test_bump_template_torus():
    G = product(cyclic(6), cyclic(5))
    x = bump_template(G, centers=[(1, 4), (4, 0)], sigma=[1.0, 0.7], amplitudes=[2.0, 1.0])
    assert x.shape == (30,) and abs(x.mean()) < 1e-12
    assert int(np.argmax(x)) == np.ravel_multi_index((1, 4), (6, 5))
    # explicit formula with circular distances
    expected = np.zeros((6, 5))
    for (c0, c1), amp in (((1, 4), 2.0), ((4, 0), 1.0)):
        for i in range(6):
            for j in range(5):
                d0 = min(abs(i - c0), 6 - abs(i - c0))
                d1 = min(abs(j - c1), 5 - abs(j - c1))
                expected[i, j] += amp * np.exp(-0.5 * ((d0 / 1.0) ** 2 + (d1 / 0.7) ** 2))
    np.testing.assert_allclose(x, expected.reshape(-1) - expected.mean(), atol=1e-12)
    # a single bump at (1, 4): (1, 0) and (1, 3) are both neighbours (distance wraps)
    img = bump_template(G, centers=[(1, 4)]).reshape(6, 5)
    np.testing.assert_allclose(img[1, 0], img[1, 3], atol=1e-12)
    np.testing.assert_allclose(img[0, 4], img[2, 4], atol=1e-12)
    # random centres are drawn with the generator
    a = bump_template(G, centers=3, rng=np.random.default_rng(0))
    b = bump_template(G, centers=3, rng=np.random.default_rng(0))
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("make", [lambda: dihedral(3), quaternion, lambda: symmetric(3)])
def test_bump_and_digits_reject_non_cyclic(make):
    G = make()
    with pytest.raises(ConfigError, match="^bump_template: G must be a cyclic group or a product"):
        bump_template(G)
    with pytest.raises(ConfigError, match="^digits_template: G must be a cyclic group or a prod"):
        digits_template(G)


def test_bump_template_bad_params():
    G = product(cyclic(4), cyclic(4))
    with pytest.raises(ConfigError, match=r"^bump_template: each centre in centers needs 2"):
        bump_template(G, centers=[(1, 2, 3)])
    with pytest.raises(ConfigError, match=r"^bump_template: centers .* must be >= 1, got 0"):
        bump_template(G, centers=0)
    with pytest.raises(ConfigError, match=r"^bump_template: centers must not be an empty list"):
        bump_template(G, centers=[])
    with pytest.raises(ConfigError, match=r"^bump_template: sigma must be a positive scalar"):
        bump_template(G, sigma=0.0)
    with pytest.raises(ConfigError, match=r"^bump_template: amplitudes must have one value"):
        bump_template(G, centers=[(0, 0)], amplitudes=[1.0, 2.0])


# --------------------------------------------------------------------------- digits
def test_digits_template_c8xc8_is_the_image():
    from sklearn.datasets import load_digits

    d = load_digits()
    img = d.images[np.flatnonzero(d.target == 3)[2]].astype(np.float64)
    G = product(cyclic(8), cyclic(8))
    x = digits_template(G, digit=3, index=2)
    assert x.shape == (64,) and x.dtype == np.float64
    assert abs(x.mean()) < 1e-12
    np.testing.assert_allclose(x, img.reshape(-1) - img.mean())


def test_digits_template_resized():
    G = product(cyclic(5), cyclic(5))
    x = digits_template(G, digit=0)
    assert x.shape == (25,) and abs(x.mean()) < 1e-12
    assert np.all(np.isfinite(x)) and x.std() > 1.0
    y = digits_template(product(cyclic(12), cyclic(10)), digit=7, index=1)
    assert y.shape == (120,) and abs(y.mean()) < 1e-12


def test_digits_template_errors():
    with pytest.raises(ConfigError, match="^digits_template: G must be .* exactly two cyclic"):
        digits_template(cyclic(64))
    with pytest.raises(ConfigError, match="^digits_template: G must be .* exactly two cyclic"):
        digits_template(product(cyclic(2), cyclic(2), cyclic(2)))
    G = product(cyclic(8), cyclic(8))
    with pytest.raises(ConfigError, match=r"^digits_template: digit must be an integer in 0\.\.9"):
        digits_template(G, digit=10)
    with pytest.raises(ConfigError, match=r"^digits_template: index must be an integer in 0\.\."):
        digits_template(G, digit=1, index=100_000)


# --------------------------------------------------------------------------- dispatcher
def test_make_template_dispatches_every_kind():
    G = product(cyclic(8), cyclic(8))
    rng = np.random.default_rng(0)
    n_irreps = len(G.irreps())
    params = {
        "onehot": {"scale": 2.0},
        "powers": {"powers": [0.0] + [1.0] * (n_irreps - 1)},
        "powers_random": {"powers": [0.0] + [1.0] * (n_irreps - 1)},
        "gaussian": {"std": 0.5},
        "bumps": {"sigma": 1.0},
        "digits": {"digit": 4},
    }
    assert set(params) == set(TEMPLATE_KINDS)
    for kind in TEMPLATE_KINDS:
        x = make_template(G, kind, rng, **params[kind])
        assert x.shape == (64,) and x.dtype == np.float64, kind
        assert abs(x.mean()) < 1e-9, kind
    np.testing.assert_array_equal(make_template(G, "onehot", scale=2.0), one_hot(G, 2.0))


def test_make_template_errors_name_the_parameter():
    G = dihedral(3)
    with pytest.raises(ConfigError, match=r"^make_template: kind must be one of onehot.*digits"):
        make_template(G, "sawtooth")
    with pytest.raises(ConfigError, match=r"^make_template: sigma is not a .*allowed: powers"):
        make_template(G, "powers", sigma=1.0, powers=[0, 1, 1])
    with pytest.raises(ConfigError, match=r"^make_template: powers is required"):
        make_template(G, "powers")
    with pytest.raises(ConfigError, match=r"^fourier_template: powers must have 3 values"):
        make_template(G, "powers", powers=[1, 2])


def test_template_power_sums_to_norm(group):
    x = gaussian_template(group, np.random.default_rng(4), centred=False)
    p = template_power(group, x)
    assert p.shape == (len(group.irreps()),)
    np.testing.assert_allclose(p.sum(), np.sum(x**2), rtol=1e-10)


def test_check_template_is_the_shared_check() -> None:
    from groupcomp.errors import ShapeError, TemplateError
    from groupcomp.templates import check_template

    G = dihedral(3)
    x = check_template(G, [1, 2, 3, 4, 5, 6])
    assert x.dtype == np.float64 and x.shape == (6,)
    with pytest.raises(TemplateError, match=r"shape \(6,\) for D3, got \(5,\)") as info:
        check_template(G, np.zeros(5))
    assert isinstance(info.value, ConfigError) and isinstance(info.value, ShapeError)
    with pytest.raises(TemplateError, match="NaN"):
        check_template(G, [0, 0, 0, 0, 0, np.nan])
    assert not check_template(G, np.zeros(6)).any()  # zero is fine unless nonzero=True
    with pytest.raises(TemplateError, match="zero"):
        check_template(G, np.zeros(6), nonzero=True)
