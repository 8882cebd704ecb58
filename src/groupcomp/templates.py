"""Template signals ``x ∈ R^n`` on a finite group (the "encodings" of P1, docs/theory.md §1.1).

Every builder returns a float64 array of shape ``(n,)`` indexed by group element. The encoding of
an element ``g`` is its translate ``x_g(h) = x(g·h)`` (see :mod:`groupcomp.tasks.sequence`).

Builders, all with the signature ``(G, ..., rng) -> np.ndarray``:

* :func:`one_hot` — centred one-hot ``scale·(e_identity − 1/n)``;
* :func:`fourier_template` — prescribed power per real irrep, ``x̂[π] ∝ I`` (a class function);
* :func:`random_fourier_template` — the same powers with random orthogonal coefficients;
* :func:`gaussian_template` — i.i.d. Gaussian values;
* :func:`bump_template` — periodic Gaussian bumps on ``C_n1 × C_n2 × ⋯`` viewed as a torus;
* :func:`digits_template` — a handwritten-digit image on ``C_n × C_m``.

:func:`make_template` dispatches by name (``TEMPLATE_KINDS``) and is what configs use.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from functools import lru_cache

import numpy as np

from groupcomp import fourier
from groupcomp.errors import ConfigError, TemplateError
from groupcomp.groups.core import FiniteGroup

__all__ = [
    "TEMPLATE_KINDS",
    "bump_template",
    "check_template",
    "digits_template",
    "fourier_template",
    "gaussian_template",
    "make_template",
    "one_hot",
    "random_fourier_template",
    "template_power",
]


# --------------------------------------------------------------------------- helpers
def check_template(G: FiniteGroup, template: object, *, nonzero: bool = False) -> np.ndarray:
    """``template`` as a float64 ``(n,)`` array; raise :class:`~groupcomp.errors.TemplateError`
    if its shape is not ``(|G|,)`` or it holds NaN/inf (and, with ``nonzero``, if it is zero).

    The one template check used by tasks and theory functions alike."""
    x = np.array(template, dtype=np.float64)
    if x.shape != (G.order,):
        raise TemplateError(
            f"template: expected a template of shape ({G.order},) for {G.name}, got {x.shape}"
        )
    if not np.all(np.isfinite(x)):
        raise TemplateError("template: the template contains NaN or inf")
    if nonzero and not np.any(x):
        raise TemplateError("template: the template is zero; there is nothing to learn or build")
    return x


def _irrep_summary(G: FiniteGroup) -> str:
    return ", ".join(f"{r.label} (dim {r.dim}, type {r.type})" for r in G.irreps())


def _check_powers(G: FiniteGroup, powers: Sequence[float] | np.ndarray, what: str) -> np.ndarray:
    """Validate a list of per-irrep powers against ``G.irreps()`` and return it as float64
    (``what``: the calling function, named in the error)."""
    irreps = G.irreps()
    try:
        p = np.asarray(powers, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ConfigError(
            f"{what}: powers must be a list of {len(irreps)} non-negative numbers, one per real "
            f"irrep of {G.name} in order [{_irrep_summary(G)}]; got {powers!r}"
        ) from exc
    if p.ndim != 1 or p.shape[0] != len(irreps):
        got = p.shape[0] if p.ndim == 1 else f"shape {p.shape}"
        raise ConfigError(
            f"{what}: powers must have {len(irreps)} values, one per real irrep of {G.name} "
            f"in order [{_irrep_summary(G)}]; got {got}"
        )
    if not np.all(np.isfinite(p)) or np.any(p < 0):
        raise ConfigError(f"{what}: powers must be finite and >= 0, got {p.tolist()}")
    return p


def _coefficient_scales(G: FiniteGroup, p: np.ndarray) -> list[float]:
    """``c_π = sqrt(e·n·P_π)/D``: the multiple of an orthogonal ``D×D`` coefficient with power
    ``P_π`` (because ``P = D‖c·O‖_F²/(e n) = D·c²·D/(e n)``)."""
    n = G.order
    return [
        float(np.sqrt(r.commutant_dim * n * pi) / r.dim)
        for r, pi in zip(G.irreps(), p, strict=True)
    ]


def _as_rng(rng: np.random.Generator | None, what: str) -> np.random.Generator:
    if rng is None:
        raise ConfigError(
            f"{what} needs a numpy.random.Generator (library code never seeds globally); "
            "pass rng=np.random.default_rng(seed)"
        )
    return rng


def _cyclic_factors(G: FiniteGroup, what: str) -> tuple[int, ...]:
    factors = G.cyclic_factors
    if factors is None:
        raise ConfigError(
            f"{what}: G must be a cyclic group or a product of cyclic groups (e.g. C12, C8xC8), "
            f"got {G.name}. Templates of kind 'powers', 'powers_random', 'onehot' or "
            "'gaussian' work on any group"
        )
    return factors


# --------------------------------------------------------------------------- builders
def one_hot(
    G: FiniteGroup, scale: float = 1.0, rng: np.random.Generator | None = None
) -> np.ndarray:
    """Centred one-hot template ``scale·(e_identity − 1/n)``.

    Its Fourier coefficients are ``scale·I`` on every non-trivial real irrep and 0 on the trivial
    one, so ``P(π) = scale²·D²/(e n)`` and ``‖x‖² = scale²(1 − 1/n)``. ``rng`` is unused (kept for a
    uniform signature).

    >>> from groupcomp.groups import dihedral
    >>> x = one_hot(dihedral(3), scale=6.0)
    >>> x.tolist(), template_power(dihedral(3), x).round(6).tolist()
    ([5.0, -1.0, -1.0, -1.0, -1.0, -1.0], [0.0, 6.0, 24.0])
    """
    n = G.order
    x = np.full(n, -float(scale) / n)
    x[0] += float(scale)
    return x


def fourier_template(
    G: FiniteGroup,
    powers: Sequence[float] | np.ndarray,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """Template with a prescribed power ``P_π`` on every real irrep π (``G.irreps()`` order).

    Sets ``x̂[π] = c_π I_D`` with ``c_π = sqrt(e·n·P_π)/D`` and inverts, so that
    ``fourier.power(G, x)[π] == P_π`` exactly and ``‖x̂[π]‖_op = c_π``. A zero trivial power gives a
    mean-centred template. This is the real-irrep version of P1 / group-agf ``custom_fourier``
    (docs/theory.md §2.1), whose complex ``c_ρ = sqrt(n P_ρ/d_ρ²)`` it reproduces for real-type
    irreps.

    Because every coefficient is a multiple of the identity, ``x(g) = Σ_π (D/(e n)) c_π χ_π(g)`` is
    a combination of characters, i.e. a **class function** (constant on conjugacy classes). Use
    :func:`random_fourier_template` for a template with the same powers that is not.

    >>> from groupcomp.groups import dihedral
    >>> G = dihedral(3)
    >>> x = fourier_template(G, [0, 30, 3000])
    >>> template_power(G, x).round(9).tolist(), round(float(x @ x), 9), bool(abs(x.sum()) < 1e-9)
    ([0.0, 30.0, 3000.0], 3030.0, True)
    >>> bool(np.allclose(x[1], x[2]) and np.allclose(x[3:], x[3]))  # r~r², s~rs~r²s
    True

    Raises:
        ConfigError: ``powers`` has the wrong length (the message lists the expected
            irreps) or negative / non-finite entries.
    """
    p = _check_powers(G, powers, "fourier_template")
    coefs = [c * np.eye(r.dim) for r, c in zip(G.irreps(), _coefficient_scales(G, p), strict=True)]
    return np.ascontiguousarray(fourier.inverse(G, coefs), dtype=np.float64)


def random_fourier_template(
    G: FiniteGroup,
    powers: Sequence[float] | np.ndarray,
    rng: np.random.Generator | None,
) -> np.ndarray:
    """Template with prescribed powers ``P_π`` and random orthogonal coefficients.

    Sets ``x̂[π] = c_π O_π`` (``c_π`` as in :func:`fourier_template`) where ``O_π`` is a random
    orthogonal matrix *inside the algebra* ``A_π = span{π(g)^T}`` of valid coefficients of real
    functions. For real-type irreps ``A_π`` is all ``D×D`` matrices, but for C/H types it is a
    proper subalgebra (matrices commuting with the complex/quaternionic structure), so a generic
    orthogonal matrix would not be the coefficient of any real function. Construction: draw a
    Gaussian ``D×D`` matrix per irrep, project it onto ``A_π`` with ``transform(inverse(·))`` (the
    orthogonal projection, by Schur orthogonality), and take its polar factor — ``A_π`` is a
    ``*``-algebra, hence closed under polar decomposition. Every singular value of ``x̂[π]`` is then
    ``c_π`` (same operator norms as the class-function template), but for non-abelian groups ``x``
    is generally not constant on conjugacy classes.
    """
    rng = _as_rng(rng, "random_fourier_template")
    p = _check_powers(G, powers, "random_fourier_template")
    gauss = [rng.standard_normal((r.dim, r.dim)) for r in G.irreps()]
    projected = fourier.transform(G, fourier.inverse(G, gauss))
    coefs = []
    for a, c in zip(projected, _coefficient_scales(G, p), strict=True):
        coefs.append(c * _polar_factor(np.asarray(a, dtype=np.float64)))
    return np.ascontiguousarray(fourier.inverse(G, coefs), dtype=np.float64)


def _polar_factor(a: np.ndarray) -> np.ndarray:
    """Orthogonal polar factor ``U`` of ``a = U P`` (``U = W V^T`` from the SVD ``a = W S V^T``)."""
    from scipy.linalg import polar

    u, _ = polar(a)
    return u


def gaussian_template(
    G: FiniteGroup, rng: np.random.Generator | None, std: float = 1.0, centred: bool = True
) -> np.ndarray:
    """I.i.d. ``N(0, std²)`` values, mean-centred when ``centred`` (the default)."""
    rng = _as_rng(rng, "gaussian_template")
    x = float(std) * rng.standard_normal(G.order)
    if centred:
        x -= x.mean()
    return x


def bump_template(
    G: FiniteGroup,
    centers: int | Sequence[int] | Sequence[Sequence[int]] | None = None,
    sigma: float | Sequence[float] = 1.0,
    amplitudes: Sequence[float] | None = None,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """Periodic Gaussian bumps on ``C_n1 × C_n2 × ⋯`` seen as a discrete torus; mean-centred.

    ``x(g) = Σ_b a_b exp(−Σ_axis d_axis(g, c_b)² / (2 σ_axis²))`` − mean, where ``d_axis`` is the
    circular distance ``min(|i − c| mod n, n − |i − c| mod n)`` along each cyclic factor.

    Args:
        centers: ``None`` → one bump at the identity; an ``int`` ``m`` → ``m`` uniformly random
            centres drawn with ``rng``; otherwise a list of centres, each a tuple of coordinates
            (one per cyclic factor; a plain int is accepted for a single cyclic group).
        sigma: width, a scalar or one value per cyclic factor (> 0).
        amplitudes: one per bump (default all 1).

    Raises:
        ConfigError: the group is not a product of cyclic groups, or a parameter is malformed.
    """
    factors = _cyclic_factors(G, "bump_template")
    m = len(factors)
    if centers is None:
        cs = np.zeros((1, m), dtype=np.int64)
    elif isinstance(centers, int | np.integer):
        if int(centers) < 1:
            raise ConfigError(
                f"bump_template: centers (a number of random bumps) must be >= 1, got {centers}"
            )
        r = _as_rng(rng, "bump_template with a number of random centres")
        cs = np.stack([r.integers(0, nf, size=int(centers)) for nf in factors], axis=1)
    else:
        rows = []
        for c in centers:
            c_arr = np.atleast_1d(np.asarray(c, dtype=np.int64))
            if c_arr.shape != (m,):
                raise ConfigError(
                    f"bump_template: each centre in centers needs {m} coordinate(s) for factors "
                    f"{factors}, got {c!r}"
                )
            rows.append(c_arr % np.asarray(factors))
        if not rows:
            raise ConfigError("bump_template: centers must not be an empty list")
        cs = np.stack(rows)
    sig = np.asarray(sigma, dtype=np.float64)
    if sig.ndim == 0:
        sig = np.full(m, float(sig))
    if sig.shape != (m,) or not np.all(sig > 0):
        raise ConfigError(
            f"bump_template: sigma must be a positive scalar or {m} positive values, got {sigma!r}"
        )
    if amplitudes is None:
        amps = np.ones(cs.shape[0])
    else:
        amps = np.asarray(amplitudes, dtype=np.float64)
        if amps.shape != (cs.shape[0],):
            raise ConfigError(
                f"bump_template: amplitudes must have one value per bump ({cs.shape[0]}), "
                f"got {amplitudes!r}"
            )
    coords = np.stack(np.unravel_index(np.arange(G.order), factors), axis=1)  # (n, m)
    nf = np.asarray(factors)
    diff = np.abs(coords[:, None, :] - cs[None, :, :]) % nf  # (n, bumps, m)
    dist = np.minimum(diff, nf - diff).astype(np.float64)
    x = (amps[None, :] * np.exp(-0.5 * np.sum((dist / sig) ** 2, axis=-1))).sum(axis=1)
    return x - x.mean()


@lru_cache(maxsize=1)
def _digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    d = load_digits()
    images = np.asarray(d.images, dtype=np.float64)
    images.setflags(write=False)
    return images, np.asarray(d.target)


def digits_template(
    G: FiniteGroup,
    digit: int = 0,
    index: int = 0,
    scale: float = 1.0,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """A real 8×8 handwritten digit (``sklearn.datasets.load_digits``, offline) on ``C_n × C_m``.

    Picks the ``index``-th image of class ``digit`` (pixel values 0–16), resizes it to ``n × m`` by
    linear interpolation when ``(n, m) != (8, 8)``, multiplies by ``scale`` and mean-centres it.
    Pixel ``(i, j)`` sits at element ``np.ravel_multi_index((i, j), (n, m))``.

    Raises:
        ConfigError: ``G`` is not a product of exactly two cyclic groups, or ``digit`` / ``index``
            is out of range.
    """
    factors = _cyclic_factors(G, "digits_template")
    if len(factors) != 2:
        raise ConfigError(
            f"digits_template: G must be a product of exactly two cyclic groups (C_n x C_m), "
            f"got {G.name} with cyclic factors {factors}"
        )
    if not (isinstance(digit, int | np.integer) and 0 <= int(digit) <= 9):
        raise ConfigError(f"digits_template: digit must be an integer in 0..9, got {digit!r}")
    images, target = _digits()
    pool = np.flatnonzero(target == int(digit))
    if not (isinstance(index, int | np.integer) and 0 <= int(index) < pool.size):
        raise ConfigError(
            f"digits_template: index must be an integer in 0..{pool.size - 1} for digit "
            f"{digit}, got {index!r}"
        )
    img = images[pool[int(index)]]
    if factors != (8, 8):
        from scipy.ndimage import zoom

        img = zoom(img, (factors[0] / 8, factors[1] / 8), order=1, mode="nearest", grid_mode=True)
        if img.shape != factors:  # pragma: no cover - zoom rounds the output shape
            raise ConfigError(f"digits_template: could not resize the digit to {factors}")
    x = float(scale) * np.asarray(img, dtype=np.float64).reshape(-1)
    return x - x.mean()


# --------------------------------------------------------------------------- dispatcher
_BUILDERS: dict[str, Callable[..., np.ndarray]] = {
    "onehot": one_hot,
    "powers": fourier_template,
    "powers_random": random_fourier_template,
    "gaussian": gaussian_template,
    "bumps": bump_template,
    "digits": digits_template,
}

TEMPLATE_KINDS: tuple[str, ...] = tuple(_BUILDERS)
"""Names accepted by :func:`make_template` (``template.kind`` in configs)."""


def make_template(
    G: FiniteGroup, kind: str, rng: np.random.Generator | None = None, **params
) -> np.ndarray:
    """Build a template by name: ``kind`` ∈ :data:`TEMPLATE_KINDS`; ``params`` go to the builder.

    ============== ============================== ==========================================
    kind           builder                        params
    ============== ============================== ==========================================
    onehot         :func:`one_hot`                scale
    powers         :func:`fourier_template`       powers
    powers_random  :func:`random_fourier_template` powers
    gaussian       :func:`gaussian_template`      std, centred
    bumps          :func:`bump_template`          centers, sigma, amplitudes
    digits         :func:`digits_template`        digit, index, scale
    ============== ============================== ==========================================

    Raises:
        ConfigError: unknown ``kind`` or parameter (the message lists the allowed values), or
            an invalid parameter value.
    """
    if kind not in _BUILDERS:
        raise ConfigError(
            f"make_template: kind must be one of {', '.join(TEMPLATE_KINDS)}; got {kind!r}"
        )
    builder = _BUILDERS[kind]
    allowed = [p for p in inspect.signature(builder).parameters if p not in ("G", "rng")]
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise ConfigError(
            f"make_template: {unknown[0]} is not a parameter of template kind {kind!r}; "
            f"allowed: {', '.join(allowed)}"
        )
    required = [
        name
        for name, p in inspect.signature(builder).parameters.items()
        if name in allowed and p.default is inspect.Parameter.empty
    ]
    missing = [name for name in required if name not in params]
    if missing:
        raise ConfigError(f"make_template: {missing[0]} is required for template kind {kind!r}")
    x = builder(G, rng=rng, **params)
    return np.ascontiguousarray(x, dtype=np.float64)


def template_power(G: FiniteGroup, x: np.ndarray) -> np.ndarray:
    """Power per real irrep (``G.irreps()`` order), ``P(π) = D‖x̂[π]‖_F²/(e n)``; sums to ``‖x‖²``.

    Thin wrapper of :func:`groupcomp.fourier.power`.
    """
    return np.asarray(fourier.power(G, np.asarray(x, dtype=np.float64)), dtype=np.float64)
