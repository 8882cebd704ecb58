"""Run the sequential-group-composition authors' own configs (``groupcomp train --from-upstream``).

The authors' code (github.com/geometric-intelligence/sequential-group-composition, formerly
``group-agf``) reads a YAML file with sections ``data``, ``model``, ``training``, ``analysis`` and
a ``device``. :func:`translate_upstream` maps every key of such a file to groupcomp config keys
and says, one line per key, what it did; :func:`load_upstream` reads the file and returns the
validated groupcomp config (``key=value`` overrides apply after the translation). No training
here; the run is an ordinary ``groupcomp train`` run of the translated config.

Facts about the authors' code this module relies on (read from their source, not copied):

* **Templates** (``data.template_type: custom_fourier``, ``data.powers``): a Fourier coefficient
  ``c·I`` per irrep with ``c = sqrt(|G| p / d²)``, inverted with ``x(g) = (1/|G|) Σ_ρ d_ρ
  tr(ρ(g) X_ρ)``, real part kept, mean subtracted, cast to float32. Hence ``‖x‖² = Σ_ρ p_ρ`` over
  the non-trivial irreps (their powers are normalised like groupcomp's ``P(π) = D‖x̂[π]‖²/(e n)``;
  the trivial power is removed by the mean subtraction).

  - ``cn`` / ``cnxcn``, current code: one power per *complex character* (``p`` entries for
    ``C_p``; ``p1·p2`` entries for ``C_p1×C_p2``, row-major ``(j1, j2)``), so a conjugate pair
    ``j, −j`` is listed twice. groupcomp's real irrep of the pair gets ``p_j + p_−j`` (in general
    ``(√p_j + √p_−j)²/2``, what the real part of their inverse transform keeps).
  - ``cn``, older code (``fixed_cn``): one power per frequency mode ``0 .. ⌊p/2⌋`` with
    coefficient ``sqrt(p_j·p/2)`` on ``j`` and ``−j``, so ``p_j`` is the power of the real irrep
    (the DC entry is ignored; the Nyquist mode of an even ``p`` gets half of its entry).
  - ``cnxcn``, older code (``fixed_cnxcn``): a list over the modes ``(1,0), (0,1), (1,1), (2,0),
    (0,2), (2,2), …`` with coefficient ``sqrt(pw·n/2)`` on the mode and its negative.
  - ``dihedral`` / ``octahedral`` / ``A5``: one power per irrep in escnn's order — ``D_N``:
    trivial, sign, the 2-dim ``ρ_1 … ρ_⌊(N−1)/2⌋``, then (even ``N``) the two 1-dim irreps
    ``(1, N/2)``, ``(0, N/2)``; octahedral (chiral, order 24): dims ``(1, 3, 3, 2, 1)`` = trivial,
    the 3-D rotation representation, the other 3-dim irrep, the 2-dim irrep, the sign; A5
    (icosahedral rotations): dims ``(1, 3, 5, 3, 4)``, the first 3-dim one the 3-D rotation
    representation. groupcomp irreps are matched to these by their characters.

  Which list form a file uses is read off its length (for ``C2`` both forms have two entries:
  the current one is assumed). The translated template is checked to be the authors' template
  (as a function on the group) to 1e-9, and is then given to groupcomp as ``template.powers``.
* **Loss**: ``torch.nn.MSELoss()`` (mean over samples and the ``n`` outputs), groupcomp's
  mean-MSE, factor 1; their epoch-0 loss is that of the initial model on one batch, i.e.
  ``‖x‖²/|G|`` up to the tiny initial output (every target is a permutation of the template).
* **Optimisers**: ``per_neuron`` is ``θ_i ← θ_i − lr·‖θ_i‖^{1−degree}·∇`` with ``degree =
  k`` by default, groupcomp's ``per_neuron_sgd`` (exponent ``2 − κ``) whenever the exponents
  agree; gradients are clipped (global norm) before the step, as in groupcomp.
* **Data**: ``mode: exhaustive`` is all ``|G|^k`` sequences, ``sampled`` ``num_samples`` i.i.d.
  uniform sequences drawn once; ``training.mode: offline`` trains ``epochs`` shuffled epochs of
  ``ceil(N / batch_size)`` mini-batches (so ``train.steps = epochs × ceil(N / batch_size)``),
  ``online`` ``num_steps`` fresh batches.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from groupcomp.errors import ConfigError

__all__ = [
    "IGNORED_KEYS",
    "KNOWN_KEYS",
    "load_upstream",
    "read_upstream",
    "translate_upstream",
    "upstream_template",
]

#: every key of the authors' configs (dotted), by section; ``analysis`` may hold anything
KNOWN_KEYS: dict[str, tuple[str, ...]] = {
    "data": (
        "group_name",
        "p",
        "p1",
        "p2",
        "group_n",
        "k",
        "batch_size",
        "seed",
        "template_type",
        "powers",
        "mode",
        "num_samples",
        "dataset_fraction",
        "mnist_label",
        "n_freqs",
    ),
    "model": (
        "model_type",
        "hidden_dim",
        "init_scale",
        "nonlinearity",
        "output_scale",
        "return_all_outputs",
        "transform_type",
    ),
    "training": (
        "mode",
        "epochs",
        "num_steps",
        "optimizer",
        "learning_rate",
        "betas",
        "weight_decay",
        "degree",
        "scaling_factor",
        "grad_clip",
        "verbose_interval",
        "save_param_interval",
        "save_param_snapshots",
        "dense_save_until",
        "reduction_threshold",
        "resume_from",
    ),
}

#: keys with no effect on the experiment (what is logged, plotted or saved, and where it runs)
IGNORED_KEYS: dict[str, str] = {
    "device": "hardware only (groupcomp: train.device, default cpu)",
    "description": "free text",
    "analysis": "their post-training plots (groupcomp draws its own figures)",
    "training.verbose_interval": "console logging",
    "training.save_param_interval": "parameter snapshots (groupcomp: train.log_points probes)",
    "training.save_param_snapshots": "parameter snapshots",
    "training.dense_save_until": "parameter snapshots",
}

_TOP = ("data", "model", "training", "device", "analysis", "description")
_GROUPS = ("cn", "cnxcn", "dihedral", "octahedral", "A5")
_MODELS = ("TwoLayerMLP", "TwoLayerNet", "SequentialMLP", "QuadraticRNN")
_OPTIMIZERS = ("per_neuron", "adam", "hybrid", "auto")
_NONLINEARITIES = {
    "square": "square",
    "power": "power",
    "relu": "relu",
    "linear": "linear",
    "tanh": "tanh",
    "gelu": "gelu",
}
_MISSING = object()


# ----------------------------------------------------------------------------- small helpers
def _short(value: Any, limit: int = 70) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _fmt(value: Any) -> str:
    """A value as a YAML literal for a ``key=value`` override and for the printed lines."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(float(f"{value:.12g}"))
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_fmt(v) for v in value) + "]"
    return str(value)


class _Reader:
    """The authors' mapping, with one printed line per key and the groupcomp settings."""

    def __init__(self, raw: Mapping[str, Any]) -> None:
        self.raw = raw
        self.settings: dict[str, Any] = {}
        self.lines: dict[str, str] = {}
        self.notes: list[str] = []

    def has(self, key: str) -> bool:
        return self.get(key) is not _MISSING

    def get(self, key: str, default: Any = _MISSING) -> Any:
        node: Any = self.raw
        for part in key.split("."):
            if not isinstance(node, Mapping) or part not in node:
                return default
            node = node[part]
        return node

    def set(self, key: str, value: Any) -> None:
        self.settings[key] = value

    def line(self, key: str, text: str) -> None:
        """Record what happened to the upstream ``key`` (first word of ``text``: the action)."""
        if self.has(key):
            self.lines.setdefault(key, f"{key} = {_fmt(self.get(key))} → {text}")

    def number(self, key: str, *, integer: bool = False, default: Any = _MISSING) -> Any:
        """A numeric value (numbers written as text, e.g. YAML 1.1's ``1e-5``, accepted)."""
        value = self.get(key, default)
        if value is _MISSING:
            raise ConfigError(f"upstream config: {key} is required")
        if value is None:
            return None
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                raise ConfigError(
                    f"upstream config: {key} must be a number, got {_short(value)}"
                ) from None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"upstream config: {key} must be a number, got {_short(value)}")
        if not math.isfinite(value):
            raise ConfigError(f"upstream config: {key} must be finite, got {_short(value)}")
        if integer:
            if float(value) != int(value):
                raise ConfigError(f"upstream config: {key} must be an integer, got {_short(value)}")
            return int(value)
        return float(value)

    def choice(self, key: str, allowed: Sequence[str], default: Any = _MISSING) -> str:
        value = self.get(key, default)
        if value is _MISSING:
            raise ConfigError(
                f"upstream config: {key} is required; allowed values: {', '.join(allowed)}"
            )
        if value not in allowed:
            raise ConfigError(
                f"upstream config: {key}: {_short(value)} is not supported; allowed values: "
                f"{', '.join(allowed)}"
            )
        return str(value)


def _check_keys(raw: Mapping[str, Any]) -> None:
    """Unknown sections or keys are errors naming them (a misspelt key would otherwise be
    silently dropped and the run would not be theirs)."""
    for top in raw:
        if top not in _TOP:
            raise ConfigError(
                f"upstream config: unknown key {str(top)!r}; the authors' configs have "
                f"{', '.join(_TOP)}"
            )
    for section, keys in KNOWN_KEYS.items():
        node = raw.get(section)
        if node is None:
            continue
        if not isinstance(node, Mapping):
            raise ConfigError(f"upstream config: {section} must be a mapping of keys to values")
        for key in node:
            if key not in keys:
                import difflib

                close = difflib.get_close_matches(str(key), keys, n=1)
                hint = f" Did you mean {section}.{close[0]}?" if close else ""
                raise ConfigError(
                    f"upstream config: unknown key {section}.{key}.{hint} Known keys in "
                    f"{section}: {', '.join(keys)}"
                )
    if not isinstance(raw.get("data"), Mapping) or not isinstance(raw.get("model"), Mapping):
        raise ConfigError("upstream config: the sections data and model are required")


# ----------------------------------------------------------------------------- group
def _group(r: _Reader) -> tuple[str, str]:
    """(group spec, their group_name)."""
    name = r.choice("data.group_name", _GROUPS)
    if name == "cn":
        p = r.number("data.p", integer=True)
        if p < 2:
            raise ConfigError(f"upstream config: data.p must be an integer >= 2, got {p}")
        spec = f"C{p}"
        r.line("data.p", f"group = {spec}")
    elif name == "cnxcn":
        p1 = r.number("data.p1", integer=True)
        p2 = r.number("data.p2", integer=True)
        if p1 < 1 or p2 < 1 or p1 * p2 < 2:
            raise ConfigError(
                f"upstream config: data.p1, data.p2 must be integers >= 1 (order >= 2), got "
                f"{p1}, {p2}"
            )
        spec = f"C{p1}xC{p2}"
        r.line("data.p1", f"group = {spec}")
        r.line("data.p2", f"group = {spec}")
    elif name == "dihedral":
        n = r.number("data.group_n", integer=True, default=3)  # their default
        if n < 2:
            raise ConfigError(f"upstream config: data.group_n must be an integer >= 2, got {n}")
        spec = f"D{n}"
        r.line("data.group_n", f"group = {spec}")
    elif name == "octahedral":
        spec = "O"  # the chiral octahedral (cube rotation) group, order 24
    else:
        spec = "A5"  # their A5 is escnn's Icosahedral rotation group
    r.set("group", spec)
    r.line("data.group_name", f"group = {spec}")
    for key in ("p", "p1", "p2", "group_n"):
        r.line(f"data.{key}", f"ignored (not used for group_name={name})")
    return spec, name


# ----------------------------------------------------------------------------- templates
def _sqrt_coef(powers: np.ndarray, scale: float) -> np.ndarray:
    return np.sqrt(np.clip(powers, 0.0, None) * scale)


def _class_function_template(G: Any, chars: np.ndarray, powers: np.ndarray) -> np.ndarray:
    """``x(g) = (1/n) Σ_ρ d_ρ c_ρ χ_ρ(g)`` with ``c_ρ = sqrt(n p_ρ)/d_ρ``, mean removed.
    ``chars``: ``(m, n)`` characters of the authors' irreps on groupcomp's elements."""
    n = G.order
    x = (np.sqrt(n * powers)[:, None] * chars).sum(0) / n
    return x - x.mean()


def _dihedral_chars(G: Any, N: int) -> tuple[np.ndarray, list[str]]:
    """escnn's irreps of ``D_N`` (trivial, sign, ρ_1 … ρ_⌊(N−1)/2⌋, then for even N the 1-dim
    ``(1, N/2)`` and ``(0, N/2)``) as characters on groupcomp's elements ``a + N·b = r^a s^b``."""
    a = np.arange(G.order) % N
    refl = np.arange(G.order) >= N
    rows, names = [np.ones(G.order), np.where(refl, -1.0, 1.0)], ["trivial", "sign"]
    for j in range(1, (N - 1) // 2 + 1):
        rows.append(np.where(refl, 0.0, 2 * np.cos(2 * np.pi * j * a / N)))
        names.append(f"2-dim rho_{j}")
    if N % 2 == 0:
        alt = (-1.0) ** a
        rows += [np.where(refl, -alt, alt), alt]
        names += [f"(1,{N // 2})", f"(0,{N // 2})"]
    return np.array(rows), names


# character tables on classes identified by (element order, class size)
_PHI = (1 + 5**0.5) / 2
#: octahedral O ≅ S4, classes (order, size): (1,1), (3,8), (2,3), (4,6), (2,6)
_O_CLASSES = ((1, 1), (3, 8), (2, 3), (4, 6), (2, 6))
_O_CHARS = (
    ("trivial", (1, 1, 1, 1, 1)),
    ("3-dim rotation", (3, 0, -1, 1, -1)),
    ("other 3-dim", (3, 0, -1, -1, 1)),
    ("2-dim", (2, -1, 2, 0, 0)),
    ("sign", (1, 1, 1, -1, -1)),
)
#: A5 ≅ icosahedral rotations, classes: e, order 2, order 3, order 5 (A), order 5 (B), where A is
#: the class of the 2π/5 rotations of the rotation representation (character φ on it)
_A5_CHARS = (
    ("trivial", (1, 1, 1, 1, 1)),
    ("3-dim rotation", (3, -1, 0, _PHI, 1 - _PHI)),
    ("5-dim", (5, 1, -1, 0, 0)),
    ("other 3-dim", (3, -1, 0, 1 - _PHI, _PHI)),
    ("4-dim", (4, 0, 1, -1, -1)),
)


def _class_index(G: Any, key_of_class: list[Any], keys: Sequence[Any]) -> np.ndarray:
    """For each element, the index in ``keys`` of its class's key."""
    pos = {k: i for i, k in enumerate(keys)}
    return np.array([pos[key_of_class[c]] for c in G.class_of])


def _octahedral_chars(G: Any) -> tuple[np.ndarray, list[str]]:
    orders = G.element_orders
    keys = [
        (int(orders[G.class_representatives[c]]), int(G.class_sizes[c]))
        for c in range(G.num_classes)
    ]
    idx = _class_index(G, keys, _O_CLASSES)
    return np.array([np.array(ch, float)[idx] for _, ch in _O_CHARS]), [n for n, _ in _O_CHARS]


def _a5_chars(G: Any) -> tuple[np.ndarray, list[str]]:
    orders = G.element_orders
    reps = G.class_representatives
    order_of = [int(orders[reps[c]]) for c in range(G.num_classes)]
    # the two classes of order 5 are exchanged by an outer automorphism of A5; call "A" the one
    # on which groupcomp's first 3-dim irrep has character φ (any choice is the same experiment,
    # relabelled)
    first3 = next(r for r in G.irreps() if r.dim == 3)
    keys: list[Any] = []
    for c in range(G.num_classes):
        if order_of[c] == 5:
            chi = float(np.trace(first3.matrices[reps[c]]))
            keys.append("5A" if abs(chi - _PHI) < 1e-6 else "5B")
        else:
            keys.append(order_of[c])
    idx = _class_index(G, keys, (1, 2, 3, "5A", "5B"))
    return np.array([np.array(ch, float)[idx] for _, ch in _A5_CHARS]), [n for n, _ in _A5_CHARS]


def _cyclic_modes_template(n: int, powers: np.ndarray) -> np.ndarray:
    """The older ``fixed_cn``: coefficient sqrt(p_j n/2) on j and −j (j ≥ 1; DC ignored)."""
    spec = np.zeros(n, dtype=complex)
    for j in range(1, len(powers)):
        mag = math.sqrt(powers[j] * n / 2.0) if powers[j] > 0 else 0.0
        spec[j] = mag
        spec[-j] = mag
    x = np.fft.ifft(spec).real
    return x - x.mean()


def _product_modes_template(p1: int, p2: int, powers: np.ndarray) -> tuple[np.ndarray, list]:
    """The older ``fixed_cnxcn``: modes (i,0), (0,i), (i,i) for i = 1, 2, …; a later entry that
    lands on the same coefficient overwrites an earlier one (as in their loop)."""
    n = p1 * p2
    spec = np.zeros((p1, p2), dtype=complex)
    modes = []
    for i, pw in enumerate(powers):
        m = 1 + i // 3
        a, b = ((m, 0), (0, m), (m, m))[i % 3]
        if a >= p1 or b >= p2:
            raise ConfigError(
                f"upstream config: data.powers entry {i} is the 2D mode ({a},{b}), which "
                f"C{p1}xC{p2} does not have (their fixed_cnxcn would fail); give at most "
                f"{3 * (min(p1, p2) - 1)} per-mode powers or {n} per-character powers"
            )
        mag = math.sqrt(pw * n / 2.0) if pw > 0 else 0.0
        spec[a, b] = mag
        spec[-a, -b] = mag
        modes.append((a, b))
    x = np.fft.ifft2(spec).real.ravel()
    return x - x.mean(), modes


def upstream_template(
    group_name: str, G: Any, powers: Sequence[float]
) -> tuple[np.ndarray, str, list[str]]:
    """The authors' ``custom_fourier`` template on groupcomp's group ``G`` (float64, before
    their float32 cast), labelled by groupcomp's elements: ``(x, form, notes)`` where ``form``
    says how ``powers`` was read.

    Raises:
        ConfigError: ``powers`` has a length no form of their code accepts, or negative /
            non-finite entries.
    """
    p = np.asarray(powers, dtype=np.float64)
    if p.ndim != 1 or not np.all(np.isfinite(p)) or np.any(p < 0):
        raise ConfigError(
            f"upstream config: data.powers must be a list of finite numbers >= 0, got "
            f"{_short(list(powers))}"
        )
    n = G.order
    notes: list[str] = []
    if group_name == "cn":
        modes = n // 2 + 1
        if len(p) == n:
            c = _sqrt_coef(p, n)  # per complex character j = 0..n-1: sqrt(n p_j)
            x = np.fft.ifft(c).real
            x = x - x.mean()
            form = f"one power per complex character j = 0..{n - 1} (current code)"
            if n == 2:
                notes.append(
                    "data.powers: for C2 both list forms have 2 entries; read as per "
                    "character (the current code); the older fixed_cn gives half the power"
                )
            pairs = [j for j in range(1, n) if j < n - j and p[j] != p[n - j]]
            if pairs:
                notes.append(
                    f"data.powers: unequal powers on conjugate characters {pairs[:3]}...: their "
                    "code keeps the real part, i.e. the pair's real power (√p_j + √p_−j)²/2"
                )
        elif len(p) == modes:
            x = _cyclic_modes_template(n, p)
            form = f"one power per frequency mode 0..{modes - 1} (older fixed_cn)"
            if n % 2 == 0 and p[-1] > 0:
                notes.append(
                    f"data.powers: the Nyquist mode {n // 2} gets half of its entry (fixed_cn "
                    "writes its coefficient once, not twice)"
                )
        else:
            raise ConfigError(
                f"upstream config: data.powers has {len(p)} entries; for cn with p = {n} give "
                f"{n} (one per complex character) or {modes} (one per frequency mode)"
            )
        if p[0] > 0:
            notes.append("data.powers: the DC entry is removed by their mean-centring")
        return x, form, notes
    if group_name == "cnxcn":
        p1, p2 = G.cyclic_factors
        if len(p) == n:
            c = _sqrt_coef(p, n).reshape(p1, p2)
            x = np.fft.ifft2(c).real.ravel()
            x = x - x.mean()
            form = f"one power per complex character (j1, j2), row-major, {n} entries"
            if p[0] > 0:
                notes.append("data.powers: the (0,0) entry is removed by their mean-centring")
            return x, form, notes
        x, used = _product_modes_template(p1, p2, p)
        form = "one power per 2D mode (1,0), (0,1), (1,1), (2,0), … (older fixed_cnxcn)"
        cells = [((a % p1), (b % p2)) for a, b in used] + [((-a) % p1, (-b) % p2) for a, b in used]
        if len(set(cells)) < len(cells) and len(used) > 0:
            notes.append(
                "data.powers: some modes share a coefficient (e.g. (m,0) and (−m,0)); as in "
                "their loop the later entry overwrites the earlier one"
            )
        return x, form, notes
    if group_name == "dihedral":
        chars, names = _dihedral_chars(G, n // 2)
    elif group_name == "octahedral":
        chars, names = _octahedral_chars(G)
    else:
        chars, names = _a5_chars(G)
    if len(p) != len(chars):
        raise ConfigError(
            f"upstream config: data.powers has {len(p)} entries; {G.name} has {len(chars)} "
            f"irreps in the authors' (escnn) order: {', '.join(names)}"
        )
    if p[0] > 0:
        notes.append("data.powers: the trivial entry is removed by their mean-centring")
    form = "one power per irrep, escnn order: " + ", ".join(names)
    return _class_function_template(G, chars, p), form, notes


def _template(r: _Reader, spec: str, group_name: str) -> float:
    """Translate the template keys; returns ‖x‖² of the authors' template."""
    from groupcomp import fourier
    from groupcomp.groups import parse
    from groupcomp.templates import fourier_template

    G = parse(spec)
    kind = r.choice("data.template_type", ("custom_fourier", "onehot"), default="custom_fourier")
    r.line("data.mnist_label", "ignored (not used for template_type=" + kind + ")")
    r.line("data.n_freqs", "ignored (not used for template_type=" + kind + ")")
    if kind == "onehot":
        # their one_hot: 10 at element 1, mean removed. A one-hot at another element is the
        # same task up to a fixed permutation of the input and output coordinates.
        r.set("template.kind", "onehot")
        r.set("template.scale", 10.0)
        r.line(
            "data.template_type",
            "template.kind = onehot, template.scale = 10.0 (their one_hot: 10 at element 1, "
            "mean removed; groupcomp's is at the identity, the same task up to a fixed "
            "relabelling of coordinates)",
        )
        r.line("data.powers", "ignored (template_type=onehot)")
        r.notes.append(
            "data.template_type=onehot: older group-agf code used amplitude 1 for cn "
            "(template.scale=1.0 for that)"
        )
        return 100.0 * (1 - 1 / G.order)
    powers = r.get("data.powers")
    if not isinstance(powers, list) or not powers:
        raise ConfigError(
            "upstream config: data.powers must be a non-empty list of numbers with "
            "template_type=custom_fourier"
        )
    x, form, notes = upstream_template(
        group_name, G, [r.number(f"data.powers[{i}]", default=v) for i, v in enumerate(powers)]
    )
    r.notes.extend(notes)
    norm2 = float(x @ x)
    if not norm2 > 0:
        raise ConfigError("upstream config: data.powers gives a zero template (nothing to learn)")
    P = np.asarray(fourier.power(G, x), dtype=np.float64)
    out = [0.0 if abs(v) < 1e-12 * norm2 else float(f"{v:.12g}") for v in P]
    rebuilt = fourier_template(G, out)
    if not np.allclose(rebuilt, x, rtol=0, atol=1e-9 * math.sqrt(norm2)):  # pragma: no cover
        raise ConfigError(
            "upstream config: data.powers: the authors' template is not a class function with "
            "these powers; it cannot be expressed as groupcomp template.powers"
        )
    labels = [r_.label for r_ in G.irreps()]
    r.set("template.kind", "powers")
    r.set("template.powers", out)
    r.line("data.template_type", "template.kind = powers")
    shown = ", ".join(f"{lab} {_fmt(v)}" for lab, v in zip(labels, out, strict=True) if v)
    r.line(
        "data.powers",
        f"template.powers = {_fmt(out)} in G.irreps() order ({shown}); read as {form}; "
        f"‖x‖² = {norm2:.6g}",
    )
    return norm2


# ----------------------------------------------------------------------------- model, optim
def _model(r: _Reader, k: int, n: int) -> tuple[str, str | None]:
    """Model keys; returns (their model_type, groupcomp activation or None for the RNN)."""
    mtype = r.choice("model.model_type", _MODELS)
    hidden = r.number("model.hidden_dim", integer=True, default=None)
    if hidden is None:
        if mtype in ("TwoLayerMLP", "TwoLayerNet"):
            hidden = 50 * n  # their default width
        else:
            raise ConfigError(f"upstream config: model.hidden_dim is required for {mtype}")
    r.set("model.hidden", hidden)
    r.line("model.hidden_dim", f"model.hidden = {hidden}")
    scale = r.number("model.init_scale", default=1.0 if mtype != "QuadraticRNN" else 1e-2)
    r.set("model.init_scale", scale)
    out_scale = r.number("model.output_scale", default=1.0)
    if out_scale != 1.0:
        raise ConfigError(
            f"upstream config: model.output_scale={out_scale}: groupcomp's networks have no "
            "output scale (only 1.0 can be translated)"
        )
    r.line("model.output_scale", "nothing to set (1.0: no output scaling)")
    every = r.get("model.return_all_outputs", False)
    if not isinstance(every, bool):
        raise ConfigError(
            f"upstream config: model.return_all_outputs must be true or false, got {_short(every)}"
        )
    if mtype == "QuadraticRNN":
        r.set("model.name", "rnn")
        r.line("model.model_type", "model.name = rnn")
        trans = r.choice("model.transform_type", ("quadratic", "multiplicative"), "quadratic")
        r.set("model.transition", trans)
        r.line("model.transform_type", f"model.transition = {trans}")
        r.set("model.output_every_step", every)
        r.line("model.return_all_outputs", f"model.output_every_step = {_fmt(every)}")
        r.line("model.nonlinearity", "ignored (QuadraticRNN squares its pre-activations)")
        r.line(
            "model.init_scale",
            f"model.init_scale = {_fmt(scale)} (their W_in, W_drive ~ s/√n and W_out ~ s/√H; "
            "groupcomp's s/√(2n) and s/√n: the same order of initial neuron norm)",
        )
        return mtype, None
    r.set("model.name", "two_layer")
    if every:
        raise ConfigError(
            f"upstream config: model.return_all_outputs=true needs model_type=QuadraticRNN "
            f"(their {mtype} has one output)"
        )
    r.line("model.return_all_outputs", "nothing to set (false)")
    r.line("model.transform_type", f"ignored (QuadraticRNN only; model_type={mtype})")
    if mtype == "SequentialMLP":
        act = "power"
        r.line("model.nonlinearity", "ignored (SequentialMLP always uses z^k)")
        how = "model.name = two_layer, model.activation = power (σ = z^k)"
    else:
        if mtype == "TwoLayerNet" and k != 2:
            raise ConfigError(
                f"upstream config: model_type=TwoLayerNet composes exactly 2 elements, got "
                f"data.k={k} (use TwoLayerMLP for k > 2)"
            )
        act = _NONLINEARITIES[
            r.choice("model.nonlinearity", tuple(_NONLINEARITIES), default="square")
        ]
        r.line("model.nonlinearity", f"model.activation = {act}")
        how = f"model.name = two_layer, model.activation = {act}"
    r.set("model.activation", act)
    r.line("model.model_type", how)
    if mtype == "TwoLayerNet":
        r.line("model.init_scale", f"model.init_scale = {_fmt(scale)} (the same initialisation)")
    else:
        r.line(
            "model.init_scale",
            f"model.init_scale = {_fmt(scale)} (input weights alike, s/√(kn); their output "
            f"weights ~ s/√H, groupcomp's s/√n)",
        )
    return mtype, act


def _kappa(act: str | None, k: int) -> int | None:
    """groupcomp's homogeneity degree κ of a neuron (per-neuron exponent 2 − κ)."""
    if act is None:
        return 3  # QuadraticRNN's nominal degree
    return {"power": k + 1, "square": 3, "relu": 2, "linear": 2}.get(act)


def _optimizer(r: _Reader, mtype: str, act: str | None, k: int) -> None:
    name = r.choice("training.optimizer", _OPTIMIZERS, default="per_neuron")
    if name == "auto":  # their main: per_neuron for the MLPs, adam otherwise
        name = "adam" if mtype == "QuadraticRNN" else "per_neuron"
        r.notes.append(f"training.optimizer=auto: their rule picks {name} for {mtype}")
    lr = r.number("training.learning_rate")
    if not lr > 0:
        raise ConfigError(f"upstream config: training.learning_rate must be > 0, got {lr}")
    betas = r.get("training.betas", [0.9, 0.999])
    wd = r.number("training.weight_decay", default=0.0) or 0.0
    if name == "per_neuron":
        if mtype == "QuadraticRNN":
            raise ConfigError(
                "upstream config: training.optimizer=per_neuron needs an MLP model (their "
                "per-neuron SGD reads W_in / W_out of a two-layer network); QuadraticRNN takes "
                "hybrid or adam"
            )
        degree = r.number("training.degree", default=None)
        if mtype == "SequentialMLP":  # group-agf: exponent 2 − degree, default k + 1
            theirs = 2 - (degree if degree is not None else k + 1)
        elif mtype == "TwoLayerNet":  # group-agf: exponent 1 − degree, default 2
            theirs = 1 - (degree if degree is not None else 2)
        else:  # TwoLayerMLP: exponent 1 − degree, default k
            theirs = 1 - (degree if degree is not None else k)
        kappa = _kappa(act, k)
        ours = None if kappa is None else 2 - kappa
        if ours is None:
            raise ConfigError(
                f"upstream config: training.optimizer=per_neuron with nonlinearity={act}: "
                "groupcomp's per-neuron SGD needs a homogeneous activation (square, power, relu, "
                "linear) to set its exponent; use training.optimizer=adam"
            )
        if abs(theirs - ours) > 1e-12:
            raise ConfigError(
                f"upstream config: training.optimizer=per_neuron with model_type={mtype}, "
                f"nonlinearity={act}, k={k}, degree={degree} scales neuron i's step by "
                f"‖θ_i‖^{_fmt(float(theirs))}; groupcomp's per-neuron SGD uses the network's "
                f"homogeneity, ‖θ_i‖^(2−κ) = ‖θ_i‖^{ours} here, so this run cannot be "
                "reproduced (use training.optimizer=adam, or a degree matching the network)"
            )
        r.set("optim.name", "per_neuron_sgd")
        r.set("optim.lr", lr)
        r.line(
            "training.optimizer",
            f"optim.name = per_neuron_sgd (step ∝ ‖θ_i‖^{int(ours)}, as theirs)",
        )
        r.line("training.degree", f"nothing to set (exponent {int(ours)} = groupcomp's 2 − κ)")
        r.line("training.learning_rate", f"optim.lr = {_fmt(lr)}")
        r.line("training.betas", "ignored (Adam / hybrid only)")
        r.line("training.scaling_factor", "ignored (hybrid only)")
        r.line(
            "training.weight_decay",
            "ignored (their per-neuron SGD has no weight decay)"
            if wd
            else "nothing to set (0; their per-neuron SGD has none)",
        )
        return
    r.line("training.degree", "ignored (per_neuron only)")
    if not (isinstance(betas, list) and len(betas) == 2):
        raise ConfigError(
            f"upstream config: training.betas must be a list of two numbers, got {_short(betas)}"
        )
    betas = [r.number(f"training.betas[{i}]", default=b) for i, b in enumerate(betas)]
    if name == "adam":
        r.set("optim.name", "adam")
        r.set("optim.lr", lr)
        r.set("optim.betas", betas)
        r.set("optim.weight_decay", wd)
        r.line("training.optimizer", "optim.name = adam (torch Adam on all parameters)")
        r.line("training.learning_rate", f"optim.lr = {_fmt(lr)}")
        r.line("training.betas", f"optim.betas = {_fmt(betas)}")
        r.line("training.weight_decay", f"optim.weight_decay = {_fmt(wd)} (torch Adam's L2 term)")
        r.line("training.scaling_factor", "ignored (hybrid only)")
        return
    # hybrid: per-neuron SGD at lr = 1 with exponent scaling_factor on W_in/W_drive/W_out, Adam
    # at learning_rate on W_mix
    if mtype != "QuadraticRNN":
        raise ConfigError(
            f"upstream config: training.optimizer=hybrid is for QuadraticRNN only, got {mtype}"
        )
    sf = r.number("training.scaling_factor", default=-1.0)
    if sf != -1.0:
        raise ConfigError(
            f"upstream config: training.scaling_factor={_fmt(sf)}: groupcomp's hybrid optimiser "
            "scales each neuron's step by ‖θ_i‖^(2−3) = ‖θ_i‖^−1 (the RNN's degree 3), so only "
            "scaling_factor: -1 can be reproduced"
        )
    r.set("optim.name", "hybrid")
    r.set("optim.lr", 1.0)
    r.set("optim.adam_lr", lr)
    r.set("optim.betas", betas)
    r.line(
        "training.optimizer",
        "optim.name = hybrid, optim.lr = 1.0 (their per-neuron part always steps at lr 1)",
    )
    r.line("training.learning_rate", f"optim.adam_lr = {_fmt(lr)} (Adam on W_mix)")
    r.line("training.betas", f"optim.betas = {_fmt(betas)}")
    r.line("training.scaling_factor", "nothing to set (−1 = groupcomp's 2 − 3)")
    r.line(
        "training.weight_decay",
        "ignored (their hybrid optimiser has no weight decay)" if wd else "nothing to set (0)",
    )


# ----------------------------------------------------------------------------- data, steps
def _data_and_steps(r: _Reader, n: int, k: int) -> None:
    seed = r.number("data.seed", integer=True, default=0)
    if seed is None or seed < 0:
        raise ConfigError(f"upstream config: data.seed must be an integer >= 0, got {seed}")
    r.set("train.seeds", [seed])
    bs = r.number("data.batch_size", integer=True)
    if bs is None or bs < 1:
        raise ConfigError(f"upstream config: data.batch_size must be an integer >= 1, got {bs}")
    tmode = r.choice("training.mode", ("offline", "online"), default="offline")
    if tmode == "online":
        steps = r.number("training.num_steps", integer=True)
        if steps is None or steps < 1:
            raise ConfigError(f"upstream config: training.num_steps must be >= 1, got {steps}")
        r.set("task.data", "online")
        r.set("train.batch_size", bs)
        r.set("train.steps", steps)
        r.line("training.mode", "task.data = online (fresh uniform sequences every step)")
        r.line("training.num_steps", f"train.steps = {steps}")
        r.line("data.batch_size", f"train.batch_size = {bs}")
        r.line("training.epochs", "ignored (offline only)")
        for key in ("data.mode", "data.num_samples", "data.dataset_fraction"):
            r.line(key, "ignored (offline only)")
        r.line("data.seed", f"train.seeds = [{seed}] (seeds groupcomp's own generators)")
        return
    dmode = r.choice("data.mode", ("exhaustive", "sampled"), default="sampled")  # their default
    frac = r.number("data.dataset_fraction", default=1.0)
    if not 0 < frac <= 1:
        raise ConfigError(f"upstream config: data.dataset_fraction must be in (0, 1], got {frac}")
    if dmode == "exhaustive":
        N = n**k
        r.set("task.data", "exhaustive")
        r.line("data.mode", f"task.data = exhaustive (all {n}^{k} = {N} sequences)")
        r.line("data.num_samples", "ignored (mode=exhaustive)")
        if frac < 1:
            n_train = math.ceil(N * frac)
            val = 1.0 - frac
            ours = N - round(val * N)
            r.set("task.val_fraction", val)
            r.line(
                "data.dataset_fraction",
                f"task.val_fraction = {_fmt(val)} (a random {_fmt(frac)} of the {N} sequences, "
                f"without replacement: {ours} here, {n_train} in their code; the rest is "
                "groupcomp's validation set)",
            )
            N = ours
        else:
            r.line("data.dataset_fraction", "nothing to set (1.0: the whole set)")
        r.line("data.seed", f"train.seeds = [{seed}] (seeds groupcomp's own generators)")
    else:
        ns = r.number("data.num_samples", integer=True, default=65536)  # their default
        if ns is None or ns < 1:
            raise ConfigError(f"upstream config: data.num_samples must be >= 1, got {ns}")
        N = math.ceil(ns * frac) if frac < 1 else ns
        r.set("task.data", "sampled")
        r.set("task.num_samples", N)
        r.set("task.sample_seed", seed)
        r.line("data.mode", "task.data = sampled (i.i.d. uniform sequences drawn once)")
        r.line("data.num_samples", f"task.num_samples = {N}")
        r.line(
            "data.dataset_fraction",
            f"task.num_samples = {N} (a random {_fmt(frac)} of an i.i.d. sample is one)"
            if frac < 1
            else "nothing to set (1.0: the whole set)",
        )
        r.line(
            "data.seed",
            f"train.seeds = [{seed}], task.sample_seed = {seed} (groupcomp's generators: the "
            "same distribution, not their draw)",
        )
    epochs = r.number("training.epochs", integer=True)
    if epochs is None or epochs < 1:
        raise ConfigError(f"upstream config: training.epochs must be >= 1, got {epochs}")
    per_epoch = math.ceil(N / bs)
    r.set("train.steps", epochs * per_epoch)
    r.set("train.batch_size", bs if bs < N else None)
    r.line("training.mode", "nothing to set (offline: a fixed data set, shuffled epochs)")
    r.line(
        "training.epochs",
        f"train.steps = {epochs * per_epoch} ({epochs} epochs × ceil({N}/{bs}) = {per_epoch} "
        "steps per epoch)",
    )
    r.line(
        "data.batch_size",
        f"train.batch_size = {bs}"
        if bs < N
        else f"train.batch_size = null (full batch: {bs} ≥ {N})",
    )
    r.line("training.num_steps", "ignored (online only)")


def _training_rest(r: _Reader) -> None:
    clip = r.number("training.grad_clip", default=None)
    if clip is None or clip == 0:
        r.set("optim.grad_clip", None)
        r.line(
            "training.grad_clip",
            "optim.grad_clip = null (off; their comment reads 0 as disabled)"
            if clip == 0
            else "optim.grad_clip = null (off)",
        )
    elif clip < 0:
        raise ConfigError(f"upstream config: training.grad_clip must be >= 0, got {clip}")
    else:
        r.set("optim.grad_clip", clip)
        r.line(
            "training.grad_clip",
            f"optim.grad_clip = {_fmt(clip)} (global gradient norm, clipped before the step)",
        )
    thr = r.get("training.reduction_threshold", None)
    if thr is None:
        r.line("training.reduction_threshold", "nothing to set (null: no early stop)")
    else:
        r.number("training.reduction_threshold")
        r.line(
            "training.reduction_threshold",
            "not supported: groupcomp trains every step (their run stops once the loss has "
            "fallen by this fraction; up to there the runs are the same)",
        )
        r.notes.append(
            "training.reduction_threshold is set: groupcomp does not stop early (set "
            "train.steps=... to stop sooner)"
        )
    resume = r.get("training.resume_from", None)
    if resume not in (None, ""):
        raise ConfigError(
            f"upstream config: training.resume_from={_short(resume)}: their checkpoints cannot "
            "be continued by groupcomp (remove the key; `groupcomp train --resume RUN` continues "
            "a groupcomp run)"
        )
    r.line("training.resume_from", "nothing to set (null)")


# ----------------------------------------------------------------------------- public API
def translate_upstream(
    mapping: Mapping[str, Any], *, name: str = "upstream"
) -> tuple[dict[str, Any], list[str]]:
    """Translate the authors' config ``mapping`` (their YAML, loaded) into groupcomp settings.

    Returns ``(settings, notes)``: ``settings`` maps dotted groupcomp keys (``group``,
    ``template.powers``, ``optim.lr``, ``train.steps``, …) to values — give them to
    :func:`groupcomp.config.load_config` as ``key=value`` overrides (see :func:`load_upstream`);
    ``notes`` has one human-readable line per key of ``mapping`` (what it became, or why it is
    ignored) followed by ``note:`` lines on what remains different.

    Raises:
        ConfigError: an unknown section or key (named), a missing required key, or a value
            groupcomp cannot reproduce (named, with the reason).
    """
    if not isinstance(mapping, Mapping):
        raise ConfigError("upstream config: expected a mapping (data, model, training, ...)")
    _check_keys(mapping)
    r = _Reader(mapping)
    r.set("preset", name)
    spec, group_name = _group(r)
    from groupcomp.groups import parse

    n = parse(spec).order
    k = r.number("data.k", integer=True)
    if k is None or k < 2:
        raise ConfigError(f"upstream config: data.k must be an integer >= 2, got {k}")
    r.set("task.k", k)
    r.line("data.k", f"task.k = {k}")
    norm2 = _template(r, spec, group_name)
    mtype, act = _model(r, k, n)
    _optimizer(r, mtype, act, k)
    _data_and_steps(r, n, k)
    _training_rest(r)
    for key, why in IGNORED_KEYS.items():
        r.line(key, f"ignored ({why})")
    # every key has its line (a key missing here is a bug of this module, not of the file)
    lines = []
    for section in ("data", "model", "training"):
        for key in mapping.get(section) or {}:
            dotted = f"{section}.{key}"
            lines.append(r.lines.get(dotted) or f"{dotted} → ignored")
    for top in ("device", "description", "analysis"):
        if top in mapping:
            lines.append(r.lines[top])
    init = norm2 / n
    r.notes.append(
        f"initial loss (mean-MSE, the unit of both codes: torch.nn.MSELoss, factor 1): "
        f"‖x‖²/|G| = {norm2:.10g}/{n} = {init:.10g} (their float32 template rounds it at ~1e-7)"
    )
    r.notes.append(
        "the encoding convention differs (theirs x_g = x(g⁻¹·), groupcomp's x(g·)): the same "
        "data set with every element replaced by its inverse, so the same experiment"
    )
    return dict(r.settings), lines + [f"note: {t}" for t in r.notes]


def read_upstream(path: str | Path) -> dict[str, Any]:
    """The authors' YAML file as a mapping (UTF-8, ≤ 1 MB, no YAML aliases; safe loader)."""
    import yaml

    from groupcomp.config.loader import _scan_yaml, read_config_file

    where = f"upstream config {str(path)!r}"
    text = read_config_file(path, where)
    _scan_yaml(text, where)
    try:
        data = yaml.safe_load(text)
    except (yaml.YAMLError, ValueError) as exc:
        raise ConfigError(f"{where}: invalid YAML: {str(exc).splitlines()[0][:200]}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping (data, model, training, ...)")
    return data


def _preset_name(path: str | Path) -> str:
    stem = re.sub(r"[^A-Za-z0-9._+=,@-]", "_", Path(path).stem).lstrip(".") or "config"
    return f"upstream_{stem}"[:100]


def settings_to_overrides(settings: Mapping[str, Any]) -> list[str]:
    """``key=value`` strings (YAML values) of translated settings."""
    return [f"{key}={_fmt(value)}" for key, value in settings.items()]


def load_upstream(path: str | Path, overrides: Sequence[str] = ()) -> tuple[Any, list[str]]:
    """Read, translate and validate the authors' config file at ``path``: ``(cfg, lines)``.

    ``cfg`` is a validated groupcomp :class:`~groupcomp.config.RunConfig` (schema defaults ←
    the translation ← ``overrides``); ``lines`` is the translation, one line per key, then
    notes (see :func:`translate_upstream`).
    """
    from groupcomp.config.loader import load_config

    settings, lines = translate_upstream(read_upstream(path), name=_preset_name(path))
    cfg = load_config(None, [*settings_to_overrides(settings), *overrides])
    if overrides:
        lines = [*lines, "overrides applied after the translation: " + " ".join(overrides)]
    return cfg, lines
