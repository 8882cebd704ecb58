"""Parse group specs such as ``"C4xC4"``, ``"D3"`` or ``"SmallGroup(24,12)"`` (no ``eval``).

Grammar (names case-insensitive, whitespace around separators ignored)::

    spec   := factor (("x" | "×") factor)*
    factor := C<n> | Z<n> | D<n> | Dic<n> | S<n> | A<n> | Q8 | O | octahedral
              | I | icosahedral | SmallGroup(<order>,<id>)

An optional ``_`` may separate a family letter from its number (``D_3``). ``D<n>`` is the
dihedral group of the regular n-gon, of **order 2n** (``D3`` has 6 elements, ``D4`` has 8).
Several factors give the direct product (:func:`~groupcomp.groups.constructors.product`).

Limits, checked before anything is built: numbers have at most :data:`MAX_DIGITS` digits, a spec
has at most :data:`MAX_FACTORS` factors, and the group must be one whose irreps can be computed
(:func:`groupcomp.groups.irreps.check_cost`: order ≤ 4096 for cyclic / dihedral groups and
their products, order ≤ 1000 for a factor without a closed form); larger requests raise
:class:`~groupcomp.errors.GroupSpecError` (too large) or
:class:`~groupcomp.errors.ResourceLimitError` (irreps too costly) with the numbers.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from groupcomp.errors import GroupcompError, GroupSpecError
from groupcomp.groups import constructors as C
from groupcomp.groups.core import FiniteGroup

__all__ = ["FAMILIES", "Family", "parse"]


@dataclass(frozen=True)
class Family:
    """A named family of groups accepted by :func:`parse` (shown by ``groupcomp groups list``)."""

    pattern: str  #: spec pattern, e.g. ``"C<n>"``
    description: str  #: what the group is
    order: str  #: order formula, e.g. ``"n"``
    example: str  #: a valid spec
    notes: str = ""  #: aliases and caveats


#: Named families, keyed by spec pattern.
FAMILIES: dict[str, Family] = {
    f.pattern: f
    for f in (
        Family("C<n>", "cyclic group of order n", "n", "C10", "Z<n> also accepted; n >= 1"),
        Family(
            "D<n>",
            "dihedral group: symmetries of the regular n-gon",
            "2n",
            "D3",
            "D3 has order 6 (not the D_{2n} convention); n >= 1",
        ),
        Family(
            "Dic<n>",
            "dicyclic group <a, x | a^2n = 1, x^2 = a^n, x a x^-1 = a^-1>",
            "4n",
            "Dic3",
            "Dic2 = Q8; n >= 1",
        ),
        Family("S<n>", "symmetric group on n points", "n!", "S4", "1 <= n <= 7"),
        Family("A<n>", "alternating group on n points", "n!/2", "A5", "1 <= n <= 7"),
        Family("Q8", "quaternion group {±1, ±i, ±j, ±k}", "8", "Q8"),
        Family("O", "rotation group of the cube (≅ S4)", "24", "O", "'octahedral' also accepted"),
        Family(
            "I",
            "rotation group of the icosahedron (≅ A5)",
            "60",
            "I",
            "'icosahedral' also accepted",
        ),
        Family(
            "SmallGroup(<order>,<id>)",
            "group number <id> of the given order in the small-groups catalogue",
            "<order>",
            "SmallGroup(24,12)",
            "needs the small-groups catalogue",
        ),
        Family(
            "<G>x<H>x...",
            "direct product of any of the above",
            "|G|·|H|·…",
            "C4xC4",
            "'×' also accepted; spaces around the separator are ignored",
        ),
    )
}

_SEPARATOR = re.compile(r"\s*[x×]\s*")
_NUMBERED: dict[str, tuple[str, Callable[[int], FiniteGroup]]] = {
    "c": ("cyclic", C.cyclic),
    "z": ("cyclic", C.cyclic),
    "d": ("dihedral", C.dihedral),
    "dic": ("dicyclic", C.dicyclic),
    "s": ("symmetric", C.symmetric),
    "a": ("alternating", C.alternating),
}
_NUMBERED_RE = re.compile(r"(dic|c|z|d|s|a)_?(\d*)", re.IGNORECASE | re.ASCII)
_NAMED: dict[str, Callable[[], FiniteGroup]] = {
    "q8": C.quaternion,
    "o": C.octahedral,
    "octahedral": C.octahedral,
    "i": C.icosahedral,
    "icosahedral": C.icosahedral,
}
_SMALL_RE = re.compile(r"smallgroup\s*\(\s*(\d+)\s*,\s*(\d+)\s*\)", re.IGNORECASE | re.ASCII)


def _accepted_forms() -> str:
    return (
        ", ".join(f.pattern for f in FAMILIES.values()) + " (e.g. C4xC4, D3xC2, SmallGroup(24,12))"
    )


def _show(spec: str) -> str:
    """``repr`` of a spec for messages, shortened to 60 characters."""
    return repr(spec) if len(spec) <= 60 else repr(spec[:57] + "...")


def _fail(spec: str, problem: str) -> GroupSpecError:
    return GroupSpecError(
        f"cannot parse group spec {_show(spec)}: {problem}. Accepted forms: {_accepted_forms()}"
    )


#: A factor resolved to its constructor and integer arguments, e.g. ``(cyclic, (4,))`` for both
#: ``"C4"`` and ``"z_4"``: the canonical, hashable form of a spec's factor (the cache key).
_Factor = tuple[Callable[..., FiniteGroup], tuple[int, ...]]

#: Most distinct specs whose groups :func:`parse` keeps (least recently used are dropped).
CACHE_SIZE = 64
#: longest number in a spec (``C123456789``); longer ones are refused before conversion
MAX_DIGITS = 9
#: most factors in a product spec
MAX_FACTORS = 32


def _small_group_ctor(spec: str) -> Callable[[int, int], FiniteGroup]:
    try:
        from groupcomp.groups.catalogue import small_group
    except ModuleNotFoundError as exc:
        if exc.name != "groupcomp.groups.catalogue":
            raise
        raise _fail(
            spec, "the small-groups catalogue (groupcomp.groups.catalogue) is not available"
        ) from exc
    return small_group


def _parse_factor(spec: str, factor: str, position: int) -> _Factor:
    """Resolve one factor to its constructor and arguments (raises on bad syntax; builds
    nothing)."""
    where = f"factor {position + 1} {_show(factor)}"
    key = factor.lower()
    if key in _NAMED:
        return _NAMED[key], ()
    m = _SMALL_RE.fullmatch(factor)
    if m:
        for num in m.groups():
            _check_digits(spec, where, num)
        return _small_group_ctor(spec), (int(m.group(1)), int(m.group(2)))
    if key.startswith("smallgroup"):
        raise _fail(spec, f"{where} must look like SmallGroup(<order>,<id>) with integer arguments")
    if key.startswith("q"):
        raise _fail(spec, f"{where} is not supported; the only quaternion group is Q8")
    m = _NUMBERED_RE.fullmatch(factor)
    if m:
        family, ctor = _NUMBERED[m.group(1).lower()]
        if not m.group(2):
            raise _fail(spec, f"{where} names the {family} family but gives no number n")
        _check_digits(spec, where, m.group(2))
        n = int(m.group(2))
        if n < 1:
            raise _fail(spec, f"{where}: the {family} family needs n >= 1, got {n}")
        return ctor, (n,)
    hint = " (separate factors with a lowercase 'x' or '×')" if "X" in factor else ""
    raise _fail(spec, f"{where} is not a known group name{hint}")


def _check_digits(spec: str, where: str, digits: str) -> None:
    if len(digits) > MAX_DIGITS:
        raise _fail(spec, f"{where}: the number has {len(digits)} digits (at most {MAX_DIGITS})")


def _capped_factorial(n: int, cap: int) -> int:
    """``n!``, or ``cap + 1`` as soon as the product exceeds ``cap`` (no huge integers)."""
    out = 1
    for i in range(2, n + 1):
        out *= i
        if out > cap:
            return cap + 1
    return out


#: orders are computed exactly up to this, then reported as "more than" it
_ORDER_CAP = 10**12


def _factor_order(factor: _Factor) -> tuple[int, bool]:
    """``(order, closed_form)`` of one parsed factor, computed without building it (orders above
    :data:`_ORDER_CAP` are reported as ``_ORDER_CAP + 1``)."""
    ctor, args = factor
    if ctor is C.cyclic:
        return args[0], True
    if ctor is C.dihedral:
        return 2 * args[0], True
    if ctor is C.dicyclic:
        return 4 * args[0], False
    if ctor is C.symmetric:
        return _capped_factorial(args[0], _ORDER_CAP), False
    if ctor is C.alternating:
        return max(1, _capped_factorial(args[0], 2 * _ORDER_CAP) // 2), False
    if args:  # SmallGroup(order, id); the catalogue refuses orders above 128 itself
        return min(args[0], 128), False
    return {C.quaternion: 8, C.octahedral: 24, C.icosahedral: 60}.get(ctor, 1), False


def _check_size(spec: str, factors: tuple[_Factor, ...]) -> None:
    """Refuse, before building anything, a group above ``MAX_ORDER`` or one whose irreps would
    exceed the limits of :func:`groupcomp.groups.irreps.check_cost`."""
    from groupcomp.groups.irreps import check_cost

    order, generic = 1, []
    for f in factors:
        m, closed = _factor_order(f)
        order = min(order * m, _ORDER_CAP + 1)
        if not closed:
            generic.append(m)
    if order > C.MAX_ORDER:
        size = f"more than {_ORDER_CAP}" if order > _ORDER_CAP else str(order)
        raise _fail(
            spec,
            f"the group would have order {size}, more than the supported maximum of "
            f"{C.MAX_ORDER} (the Cayley table alone would hold order² entries)",
        )
    check_cost(f"group spec {_show(spec)}", order, generic)


@lru_cache(maxsize=CACHE_SIZE)
def _build(factors: tuple[_Factor, ...]) -> FiniteGroup:
    return C.product(*(ctor(*args) for ctor, args in factors))


def parse(spec: str | FiniteGroup) -> FiniteGroup:
    """Build the group described by ``spec`` (see the module docstring for the grammar).

    A :class:`FiniteGroup` is returned as-is. ``"D3"`` is the dihedral group of order 6.
    Raises :class:`~groupcomp.errors.GroupSpecError` quoting the spec and the failing part.

    Groups are cached: equivalent specs (``"C4xC4"``, ``" c4 × Z_4 "``) return the same
    immutable :class:`FiniteGroup` object, so its irreps are computed once per process. The
    cache keeps the :data:`CACHE_SIZE` most recently used groups.

    >>> G = parse("C4xC4")
    >>> G.name, G.order, G.is_abelian, parse(" c4 × Z_4 ") is G
    ('C4xC4', 16, True, True)
    >>> parse("D3").num_classes, parse("A5").order, parse("Q8").order
    (3, 60, 8)
    """
    if isinstance(spec, FiniteGroup):
        return spec
    if not isinstance(spec, str):
        raise GroupSpecError(
            f"group spec must be a string or a FiniteGroup, got {type(spec).__name__}. "
            f"Accepted forms: {_accepted_forms()}"
        )
    text = spec.strip()
    if not text:
        raise _fail(spec, "the spec is empty")
    factors = _SEPARATOR.split(text)
    if len(factors) > MAX_FACTORS:
        raise _fail(spec, f"{len(factors)} factors (at most {MAX_FACTORS})")
    for i, f in enumerate(factors):
        if not f:
            raise _fail(spec, f"factor {i + 1} is empty (misplaced 'x' separator?)")
    key = tuple(_parse_factor(spec, f, i) for i, f in enumerate(factors))
    _check_size(spec, key)
    try:
        return _build(key)
    except GroupSpecError:
        raise
    except GroupcompError as exc:
        raise _fail(spec, str(exc)) from exc
