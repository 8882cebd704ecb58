"""The authors' configs (sequential-group-composition / group-agf YAML) translated to groupcomp:
every key, the template's powers (conjugate pairs, older list forms, escnn irrep orders), the
initial loss against the authors' own formulas (computed here with numpy, independently of
groupcomp's code path), errors on input that cannot be reproduced, and the CLI."""

from __future__ import annotations

import copy
import math
from pathlib import Path

import numpy as np
import pytest
import yaml

from groupcomp import fourier
from groupcomp.config.upstream import (
    IGNORED_KEYS,
    KNOWN_KEYS,
    load_upstream,
    read_upstream,
    translate_upstream,
    upstream_template,
)
from groupcomp.errors import ConfigError
from groupcomp.groups import parse
from groupcomp.templates import fourier_template

DATA = Path(__file__).resolve().parents[1] / "data" / "upstream"


def _raw(name: str) -> dict:
    return yaml.safe_load((DATA / f"{name}.yaml").read_text())


def _settings(raw: dict) -> dict:
    return translate_upstream(raw)[0]


# ----------------------------------------------------------------------------- the authors'
# formulas, written out here with numpy (their template.custom_fourier / fixed_cn /
# fixed_cnxcn, their data sets built with np.roll, their loss torch.nn.MSELoss = mean of (0 - y)²)
def _their_cn_template(n: int, powers: list[float]) -> np.ndarray:
    spectrum = np.array([math.sqrt(n * p) if p > 0 else 0.0 for p in powers])
    x = np.fft.ifft(spectrum).real
    return (x - x.mean()).astype(np.float32)


def _their_cnxcn_template(p1: int, p2: int, powers: list[float]) -> np.ndarray:
    n = p1 * p2
    spectrum = np.array([math.sqrt(n * p) if p > 0 else 0.0 for p in powers]).reshape(p1, p2)
    x = np.fft.ifft2(spectrum).real.ravel()
    return (x - x.mean()).astype(np.float32)


def _their_initial_loss_cn(n: int, x: np.ndarray, k: int) -> float:
    """MSE of a zero output on their exhaustive C_n data set (targets = rolled templates)."""
    ys = [np.roll(x, sum(seq) % n) for seq in np.ndindex(*(n,) * k)]
    return float(np.mean(np.square(np.array(ys, dtype=np.float32)), dtype=np.float64))


def _their_initial_loss_cnxcn(p1: int, p2: int, x: np.ndarray, k: int) -> float:
    t = x.reshape(p1, p2)
    ys = []
    for seq in np.ndindex(*(p1 * p2,) * k):
        a = sum(s // p2 for s in seq) % p1
        b = sum(s % p2 for s in seq) % p2
        ys.append(np.roll(np.roll(t, a, axis=0), b, axis=1).ravel())
    return float(np.mean(np.square(np.array(ys, dtype=np.float32)), dtype=np.float64))


def _their_dihedral_template(N: int, powers: list[float]) -> np.ndarray:
    """escnn / their dn.py irreps of D_N (N odd here): trivial, sign, 2-dim rotations ρ_j
    (r^k ↦ R(2πjk/N), r^k s ↦ [[c, s], [s, −c]]); x(g) = (1/n) Σ d tr(ρ(g) c I), c = √(n p/d²)."""
    n = 2 * N
    x = np.zeros(n)
    irreps = [(1, lambda g: np.eye(1)), (1, lambda g: np.eye(1) * (1 if g < N else -1))]
    for j in range(1, (N - 1) // 2 + 1):

        def rho(g: int, j: int = j) -> np.ndarray:
            c, s = math.cos(2 * math.pi * j * (g % N) / N), math.sin(2 * math.pi * j * (g % N) / N)
            return np.array([[c, -s], [s, c]]) if g < N else np.array([[c, s], [s, -c]])

        irreps.append((2, rho))
    for (d, rho), p in zip(irreps, powers, strict=True):
        coef = math.sqrt(n * p / d**2) * np.eye(d)
        x += np.array([d * np.trace(rho(g) @ coef) for g in range(n)]) / n
    return (x - x.mean()).astype(np.float32)


def _groupcomp_initial_loss(name: str) -> float:
    """The initial loss (mean-MSE) of the translated run, as groupcomp measures it."""
    from groupcomp.runs.experiment import build

    cfg, _ = load_upstream(DATA / f"{name}.yaml", ["train.dtype=float64", "train.steps=1"])
    exp = build(cfg)
    return float(exp.loss_of(exp.model)[0])


# ----------------------------------------------------------------------------- initial loss
def test_initial_loss_c11_equals_the_authors() -> None:
    raw = _raw("c11")
    x = _their_cn_template(11, raw["data"]["powers"])
    theirs = _their_initial_loss_cn(11, x, 2)
    assert theirs == pytest.approx(75 / 11, rel=1e-6)  # Σ p over the characters / |G|
    assert _groupcomp_initial_loss("c11") == pytest.approx(theirs, rel=1e-6)


def test_initial_loss_c5xc5_equals_the_authors() -> None:
    raw = _raw("c5xc5")
    x = _their_cnxcn_template(5, 5, raw["data"]["powers"])
    theirs = _their_initial_loss_cnxcn(5, 5, x, 2)
    assert theirs == pytest.approx(80 / 25, rel=1e-6)
    assert _groupcomp_initial_loss("c5xc5") == pytest.approx(theirs, rel=1e-6)


def test_initial_loss_d5_equals_the_authors() -> None:
    raw = _raw("d5")
    x = _their_dihedral_template(5, raw["data"]["powers"])
    # their targets are permutations of the template (regular representation): mean y² = ‖x‖²/n
    theirs = float(np.sum(x.astype(np.float64) ** 2) / 10)
    assert theirs == pytest.approx(6000 / 10, rel=1e-6)
    assert _groupcomp_initial_loss("d5") == pytest.approx(theirs, rel=1e-6)


@pytest.mark.parametrize(("name", "order"), [("octahedral", 24), ("a5", 60)])
def test_initial_loss_non_abelian_equals_plancherel(name: str, order: int) -> None:
    # their custom_fourier on escnn irreps: ‖x‖² = Σ_ρ p_ρ over the non-trivial irreps
    # (Plancherel with c_ρ = √(n p/d²)); the loss of a zero output is ‖x‖²/|G|
    powers = _raw(name)["data"]["powers"]
    theirs = sum(powers[1:]) / order
    assert _groupcomp_initial_loss(name) == pytest.approx(theirs, rel=1e-6)


# ----------------------------------------------------------------------------- templates
def test_conjugate_pairs_are_summed_and_template_is_theirs() -> None:
    s = _settings(_raw("c11"))
    assert s["template.powers"] == [0.0, 25.0, 20.0, 15.0, 10.0, 5.0]
    G = parse("C11")
    ours = fourier_template(G, s["template.powers"])
    theirs = _their_cn_template(11, _raw("c11")["data"]["powers"])
    assert np.allclose(ours, theirs, atol=1e-6)  # the same function on the group


def test_unequal_conjugate_powers_keep_the_real_part() -> None:
    # C5, characters 1 and 4 carry 4 and 1: the real part of their inverse transform has the
    # pair's coefficient (√4·√5 + √1·√5)/2 on both, i.e. real power (√4 + √1)²/2 = 4.5
    G = parse("C5")
    x, form, notes = upstream_template("cn", G, [0, 4, 0, 0, 1])
    assert "complex character" in form and any("conjugate" in t for t in notes)
    assert fourier.power(G, x) == pytest.approx([0, 4.5, 0], abs=1e-12)
    theirs = np.fft.ifft([0, math.sqrt(20), 0, 0, math.sqrt(5)]).real
    assert np.allclose(x, theirs - theirs.mean(), atol=1e-12)


def test_older_per_mode_lists() -> None:
    # fixed_cn: coefficient √(p n/2) on ±j, so p_j is the real irrep's power; DC ignored
    s = _settings(_raw("c11_modes"))
    assert s["template.powers"] == [0.0, 12.5, 10.0, 7.5, 5.0, 2.5]
    # even n: the Nyquist coefficient is written once, so it carries half its entry
    G = parse("C4")
    x, form, _ = upstream_template("cn", G, [0, 2, 6])
    labels = [r.label for r in G.irreps()]
    P = dict(zip(labels, fourier.power(G, x), strict=True))
    assert "frequency mode" in form
    assert P["freq1"] == pytest.approx(2) and P["freq2"] == pytest.approx(3)
    # fixed_cnxcn: modes (1,0), (0,1), (1,1), (2,0), (0,2), (2,2) with power pw each
    s = _settings(_raw("c5xc5_modes"))
    labels = [r.label for r in parse("C5xC5").irreps()]
    got = {lab: p for lab, p in zip(labels, s["template.powers"], strict=True) if p}
    assert got == {"freq(0,1)": 12, "freq(1,1)": 10, "freq(2,0)": 8, "freq(0,2)": 6,
                   "freq(2,2)": 4}  # fmt: skip


def test_product_per_character_row_major() -> None:
    s = _settings(_raw("c5xc5"))
    labels = [r.label for r in parse("C5xC5").irreps()]
    got = {lab: p for lab, p in zip(labels, s["template.powers"], strict=True) if p}
    # (j1, j2) and (−j1, −j2) listed separately, summed: (1,0) 12+12, (0,1) 10+10, ...
    assert got == {"freq(1,0)": 24, "freq(0,1)": 20, "freq(1,1)": 16, "freq(2,0)": 12,
                   "freq(0,2)": 8}  # fmt: skip
    G = parse("C5xC5")
    ours = fourier_template(G, s["template.powers"])
    assert np.allclose(ours, _their_cnxcn_template(5, 5, _raw("c5xc5")["data"]["powers"]),
                       atol=1e-6)  # fmt: skip


def test_escnn_irreps_matched_by_character() -> None:
    # octahedral, escnn order (trivial, 3-dim rotation, other 3-dim, 2-dim, sign)
    G = parse("O")
    s = _settings(_raw("octahedral"))
    P = s["template.powers"]
    by_dim = {r.dim: [] for r in G.irreps()}
    for r, p in zip(G.irreps(), P, strict=True):
        by_dim[r.dim].append((r, p))
    assert sorted(p for _, p in by_dim[1]) == [0.0, 1000.0]  # trivial 0, sign 1000
    assert [p for _, p in by_dim[2]] == [900.0]
    # the rotation representation: character 1 + 2cos(π/2) = 1 on the quarter turns (order 4)
    quarter = int(np.flatnonzero(G.element_orders == 4)[0])
    rot = {round(float(np.trace(r.matrices[quarter]))): p for r, p in by_dim[3]}
    assert rot == {1: 430.0, -1: 100.0}
    # A5 (1, 3, 5, 3, 4): the two 3-dim irreps are exchanged by an outer automorphism
    G = parse("A5")
    s = _settings(_raw("a5"))
    dims = {}
    for r, p in zip(G.irreps(), s["template.powers"], strict=True):
        dims.setdefault(r.dim, []).append(p)
    assert dims == {1: [0.0], 3: [1300.0, 2000.0], 4: [600.0], 5: [100.0]}
    # D5 in escnn's order is groupcomp's order (trivial, sign, rot1, rot2), the same template
    s = _settings(_raw("d5"))
    assert s["template.powers"] == [0.0, 3000.0, 2000.0, 1000.0]
    ours = fourier_template(parse("D5"), s["template.powers"])
    assert np.allclose(ours, _their_dihedral_template(5, _raw("d5")["data"]["powers"]), atol=1e-3)


# ----------------------------------------------------------------------------- every key
def test_every_key_of_c11() -> None:
    s = _settings(_raw("c11"))
    assert s == {
        "preset": "upstream",
        "group": "C11",
        "task.k": 2,
        "template.kind": "powers",
        "template.powers": [0.0, 25.0, 20.0, 15.0, 10.0, 5.0],
        "model.hidden": 200,
        "model.init_scale": 1e-05,
        "model.name": "two_layer",
        "model.activation": "square",
        "optim.name": "per_neuron_sgd",
        "optim.lr": 0.01,
        "train.seeds": [10],
        "task.data": "exhaustive",
        "train.steps": 100000,  # 100000 epochs x ceil(121 / 256) = 1 step
        "train.batch_size": None,  # 256 >= 121: full batch
        "optim.grad_clip": 0.1,
    }


def test_minibatch_epochs_sampled_and_fraction() -> None:
    s = _settings(_raw("c5xc5"))
    assert s["train.steps"] == 100000 * math.ceil(625 / 128) and s["train.batch_size"] == 128
    s = _settings(_raw("octahedral"))
    assert (s["task.data"], s["task.num_samples"], s["task.sample_seed"]) == ("sampled", 1000, 10)
    assert s["train.steps"] == 10**6 * math.ceil(1000 / 128)
    raw = _raw("c11")
    raw["data"]["dataset_fraction"] = 0.5
    s = _settings(raw)
    assert s["task.val_fraction"] == 0.5
    assert s["train.steps"] == 100000  # 121 - round(60.5) = 61 < 256: one step per epoch
    raw = _raw("octahedral")
    raw["data"]["dataset_fraction"] = 0.25
    assert _settings(raw)["task.num_samples"] == 250


def test_rnn_hybrid_online_onehot() -> None:
    s = _settings(_raw("rnn_online"))
    assert {
        k: s[k] for k in s if k.startswith(("model.", "optim.", "task.", "train.", "templ"))
    } == {
        "template.kind": "onehot",
        "template.scale": 10.0,
        "task.k": 3,
        "model.hidden": 64,
        "model.init_scale": 0.01,
        "model.name": "rnn",
        "model.transition": "multiplicative",
        "model.output_every_step": True,
        "optim.name": "hybrid",
        "optim.lr": 1.0,
        "optim.adam_lr": 0.001,
        "optim.betas": [0.8, 0.99],
        "train.seeds": [1],
        "task.data": "online",
        "train.batch_size": 512,
        "train.steps": 500,
        "optim.grad_clip": 1.0,
    }


def test_adam_and_auto_optimizer() -> None:
    raw = _raw("c11")
    raw["training"].update(optimizer="adam", weight_decay=0.01, betas=[0.8, 0.9])
    s = _settings(raw)
    assert (s["optim.name"], s["optim.weight_decay"], s["optim.betas"]) == (
        "adam",
        0.01,
        [0.8, 0.9],
    )
    raw["training"]["optimizer"] = "auto"
    assert _settings(raw)["optim.name"] == "per_neuron_sgd"  # their rule for an MLP


def test_one_line_per_key_and_ignored_keys() -> None:
    raw = _raw("c11")
    # every known key at once (values that translate)
    raw["data"].update(mnist_label=3, n_freqs=2, dataset_fraction=1.0)
    raw["model"]["transform_type"] = "quadratic"
    raw["training"].update(save_param_snapshots=True)
    raw["description"] = "x"
    for section, keys in KNOWN_KEYS.items():
        missing = set(keys) - set(raw[section]) - {"p1", "p2", "group_n"}
        assert not missing, (section, missing)
    for key in ("p1", "p2", "group_n"):
        raw["data"][key] = 4
    _, lines = translate_upstream(raw)
    body = [ln for ln in lines if not ln.startswith("note:")]
    keys = [ln.split(" = ", 1)[0] for ln in body]
    expected = [f"{s}.{k}" for s in ("data", "model", "training") for k in raw[s]]
    assert keys == expected + ["device", "description", "analysis"]
    assert all(" → " in ln and not ln.endswith("→ ignored") for ln in body)
    for key in IGNORED_KEYS:
        line = next(ln for ln in body if ln.startswith(key + " = "))
        assert "→ ignored" in line
    assert any("initial loss" in ln and "6.81818" in ln for ln in lines)


def test_overrides_apply_after_translation() -> None:
    cfg, lines = load_upstream(DATA / "c11.yaml", ["train.steps=77", "optim.grad_clip=null"])
    assert cfg.train.steps == 77 and cfg.optim.grad_clip is None
    assert cfg.preset == "upstream_c11" and lines[-1].startswith("overrides applied")


# ----------------------------------------------------------------------------- errors
def _set(raw: dict, dotted: str, value) -> dict:
    raw = copy.deepcopy(raw)
    *path, last = dotted.split(".")
    node = raw
    for part in path:
        node = node.setdefault(part, {})
    node[last] = value
    return raw


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("wandb", {"project": "x"}, "unknown key 'wandb'"),
        ("data.powerz", [1], "data.powerz. Did you mean data.powers"),
        ("data.group_name", "so3", "data.group_name: 'so3' is not supported"),
        ("data.powers", [1, 2, 3], "has 3 entries; for cn with p = 11 give 11"),
        ("data.powers", [0, -1, 1, 1, 1, 1], "finite numbers >= 0"),
        ("data.powers", [0] * 11, "zero template"),
        ("data.template_type", "mnist", "data.template_type: 'mnist' is not supported"),
        ("data.k", 1, "data.k must be an integer >= 2"),
        ("data.dataset_fraction", 0, "dataset_fraction must be in (0, 1]"),
        ("model.model_type", "Transformer", "model.model_type: 'Transformer'"),
        ("model.output_scale", 2.0, "model.output_scale=2.0"),
        ("model.return_all_outputs", True, "needs model_type=QuadraticRNN"),
        ("model.nonlinearity", "tanh", "per_neuron"),  # exponent -1 vs plain SGD
        ("training.degree", 3, "‖θ_i‖^-2.0"),
        ("training.resume_from", "runs/x", "training.resume_from"),
        ("training.optimizer", "hybrid", "hybrid is for QuadraticRNN only"),
        ("training.learning_rate", "fast", "training.learning_rate must be a number"),
    ],
)
def test_errors_name_the_key(key: str, value, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        translate_upstream(_set(_raw("c11"), key, value))
    assert message in str(info.value)


def test_errors_that_need_other_settings() -> None:
    raw = _set(_raw("c11"), "data.k", 3)
    with pytest.raises(ConfigError, match="‖θ_i‖\\^-2.0.*‖θ_i‖\\^-1"):  # square with k = 3
        translate_upstream(raw)
    raw = _set(_raw("a5"), "data.k", 3)
    with pytest.raises(ConfigError, match="TwoLayerNet composes exactly 2"):
        translate_upstream(raw)
    raw = _set(_raw("rnn_online"), "training.scaling_factor", -3)
    with pytest.raises(ConfigError, match="only\\s+scaling_factor: -1"):
        translate_upstream(raw)
    raw = _set(_raw("c5xc5_modes"), "data.powers", [1] * 13)  # reaches mode (5, 0)
    with pytest.raises(ConfigError, match="does not have"):
        translate_upstream(raw)


def test_read_upstream_refuses_aliases(tmp_path) -> None:
    f = tmp_path / "a.yaml"
    f.write_text("data: &d {k: 2}\nmodel: *d\n")
    with pytest.raises(ConfigError, match="aliases"):
        read_upstream(f)
    f.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="expected a mapping"):
        read_upstream(f)


# ----------------------------------------------------------------------------- CLI
def test_cli_from_upstream_prints_translation_and_trains(tmp_path, capsys) -> None:
    from groupcomp.cli import main

    out = tmp_path / "runs"
    rc = main(
        ["train", "--from-upstream", str(DATA / "c11.yaml"), "train.steps=5", "--out", str(out),
         "--quiet", "train.log_points=3", "train.checkpoints=1"]
    )  # fmt: skip
    assert rc == 0
    err = capsys.readouterr().err
    assert "data.powers = [0, 12.5" in err and "template.powers = [0.0, 25.0" in err
    import json

    (run,) = out.iterdir()
    summary = json.loads((run / "summary.json").read_text())
    assert summary["initial_loss"] == pytest.approx(75 / 11, rel=1e-6)
    assert summary["preset"] == "upstream_c11" and summary["steps_done"] == 5
    # a preset name instead of overrides is refused
    assert main(["train", "--from-upstream", str(DATA / "c11.yaml"), "d3"]) == 2
