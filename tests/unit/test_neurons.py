"""Per-neuron spectra (training.neurons, analysis.neurons, viz.neurons): irrep-pure networks are
recognised, Parseval, the RNN's W_mix irrep blocks, what a trained D3 run records, and the
figures draw exactly the recorded numbers."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from groupcomp import fourier
from groupcomp.analysis.neurons import NeuronHistory, neuron_history
from groupcomp.errors import ConfigError, RunFolderError, ShapeError
from groupcomp.groups import parse
from groupcomp.models import QuadraticRNN, TreeNet, TwoLayerNet
from groupcomp.templates import make_template
from groupcomp.theory.constructions import rnn_exact, tree_exact, two_layer_exact
from groupcomp.training.neurons import (
    NeuronProbe,
    block_fraction,
    block_share,
    dominant_irrep,
    mix_block_fraction,
    neuron_weight_power,
)
from groupcomp.viz.neurons import (
    mix_block_figure,
    neuron_fraction_figure,
    neuron_power_figure,
    neurons_figure,
)
from groupcomp.viz.style import irrep_colors, new_figure


def _template(G) -> np.ndarray:
    m = len(G.irreps())
    return make_template(
        G, "powers", powers=list(np.arange(1.0, m + 1)), rng=np.random.default_rng(0)
    )


def _enc(G) -> torch.Tensor:
    x = _template(G)
    return torch.tensor(x[G.table], dtype=torch.float64)


def _pure_two_layer(G, k: int, labels: np.ndarray, seed: int = 0) -> TwoLayerNet:
    """A two-layer net whose neuron i has every weight vector in the isotypic component of
    irrep labels[i] (random combinations of that irrep's real Fourier basis columns)."""
    B, idx = fourier.basis(G), fourier.basis_irrep_index(G)
    rng = np.random.default_rng(seed)
    H = len(labels)
    net = TwoLayerNet(_enc(G), k, H, num_models=1, dtype=torch.float64)
    W_in = np.zeros((1, H, k, G.order))
    W_out = np.zeros((1, H, G.order))
    for i, lab in enumerate(labels):
        cols = B[:, idx == lab]
        W_in[0, i] = rng.normal(size=(k, cols.shape[1])) @ cols.T
        W_out[0, i] = cols @ rng.normal(size=cols.shape[1])
    with torch.no_grad():
        net.W_in.copy_(torch.tensor(W_in))
        net.W_out.copy_(torch.tensor(W_out))
    return net


# -- per-neuron power --------------------------------------------------------------------------


@pytest.mark.parametrize("spec", ["D3", "C5", "Q8", "A4"])  # types R, C, H
def test_irrep_pure_neurons_are_recovered_with_fraction_one(spec: str) -> None:
    G = parse(spec)
    m = len(G.irreps())
    labels = np.arange(3 * m) % m  # every irrep, three neurons each
    net = _pure_two_layer(G, 3, labels)
    pw = neuron_weight_power(G, net)
    for part in ("in", "out"):
        idx, frac = dominant_irrep(pw[part][0])
        assert idx.tolist() == labels.tolist()
        np.testing.assert_allclose(frac.numpy(), 1.0, atol=1e-12)
    # numpy and torch paths of dominant_irrep agree
    idx_np, frac_np = dominant_irrep((pw["in"] + pw["out"]).numpy())
    assert idx_np[0].tolist() == labels.tolist()
    np.testing.assert_allclose(frac_np, 1.0, atol=1e-12)


@pytest.mark.parametrize("make", [two_layer_exact, rnn_exact, tree_exact])
@pytest.mark.parametrize("spec", ["D3", "C5", "Q8"])
def test_exact_constructions_have_irrep_pure_neurons(make, spec: str) -> None:
    """The exact networks (docs/theory.md §3.2) are built from irrep features, so every neuron
    lies in one irrep; every irrep of the template is used."""
    G = parse(spec)
    net = make(G, _template(G), 3)
    pw = neuron_weight_power(G, net)
    idx, frac = dominant_irrep(pw["in"] + pw["out"])
    np.testing.assert_allclose(frac.numpy(), 1.0, atol=1e-10)
    assert set(idx[0].tolist()) == set(range(len(G.irreps())))


@pytest.mark.parametrize(
    "make",
    [
        lambda enc, g: TwoLayerNet(enc, 3, 11, num_models=2, init_scale=0.7, generator=g),
        lambda enc, g: QuadraticRNN(enc, 4, 11, num_models=2, init_scale=0.7, generator=g),
        lambda enc, g: TreeNet(enc, 3, 11, num_models=2, init_scale=0.7, generator=g),
    ],
    ids=["two_layer", "rnn", "tree"],
)
def test_power_per_irrep_is_parseval_and_matches_fourier_power(make) -> None:
    G = parse("D4")
    net = make(_enc(G).float(), torch.Generator().manual_seed(3))
    pw = neuron_weight_power(G, net)
    # Σ_π (in + out) = ‖θ_i‖² (Parseval), for every neuron of every model
    np.testing.assert_allclose(
        (pw["in"] + pw["out"]).sum(-1).numpy(), net.neuron_norms().double().pow(2).numpy(), 1e-6
    )
    # equals fourier.power summed over the neuron's own vectors (input vs output)
    out_name = "C" if isinstance(net, TreeNet) else "W_out"
    exp_in = 0
    for name, p in zip(net._neuron_param_names, net.neuron_params(), strict=True):
        P = fourier.power(G, p.detach().double().reshape(2, 11, -1, G.order).numpy()).sum(2)
        if name == out_name:
            np.testing.assert_allclose(pw["out"].numpy(), P, rtol=1e-10, atol=1e-15)
        else:
            exp_in = exp_in + P
    np.testing.assert_allclose(pw["in"].numpy(), exp_in, rtol=1e-10, atol=1e-15)


def test_neuron_weight_power_rejects_a_model_of_another_group() -> None:
    net = TwoLayerNet(_enc(parse("C4")), 2, 3)
    with pytest.raises(ShapeError, match="last dimension must be"):
        neuron_weight_power(parse("D3"), net)


# -- W_mix irrep blocks ------------------------------------------------------------------------


def test_block_fraction_closed_forms() -> None:
    labels = torch.tensor([0, 0, 1, 2])
    M = torch.zeros(4, 4)
    M[0, 1], M[2, 2], M[0, 2] = 3.0, 4.0, 5.0  # 9 + 16 inside, 25 across
    assert float(block_fraction(M, labels)) == pytest.approx(0.5)
    assert float(block_fraction(torch.zeros(4, 4), labels)) == 1.0  # block-diagonal trivially
    assert block_share(labels.numpy(), 3) == pytest.approx((2 / 4) ** 2 + 2 * (1 / 4) ** 2)
    with pytest.raises(ShapeError):
        block_fraction(M, labels[:3])


def test_exact_rnn_mixing_matrix_is_block_diagonal_and_a_random_one_is_not() -> None:
    """W_mix = W_in W_outᵀ of the exact RNN only connects units of one irrep (fraction 1); an
    i.i.d. W_mix under the same labels has about the block-size share Σ_π (H_π/H)²."""
    G = parse("D3")
    net = rnn_exact(G, _template(G), 3)
    pw = neuron_weight_power(G, net)
    P = pw["in"] + pw["out"]
    assert float(mix_block_fraction(net.W_mix.detach(), P)) == pytest.approx(1.0, abs=1e-12)
    labels = dominant_irrep(P)[0]
    share = float(block_share(labels.numpy(), 3)[0])
    assert share < 0.8  # the test has room to fail
    rng = torch.Generator().manual_seed(0)
    rand = torch.randn(200, *net.W_mix.shape[1:], generator=rng, dtype=torch.float64)
    fr = block_fraction(rand, labels.expand(200, -1))
    assert float(fr.mean()) == pytest.approx(share, abs=0.02)
    # a random matrix restricted to the irrep blocks is block-diagonal again
    same = labels[0][:, None] == labels[0][None, :]
    assert torch.allclose(
        block_fraction(rand * same, labels.expand(200, -1)), torch.ones(200).double()
    )


def test_probe_adds_neuron_arrays_and_keeps_the_inner_record() -> None:
    G = parse("D3")
    rnn = rnn_exact(G, _template(G), 3)
    inner = lambda model: {"eval_loss": torch.zeros(1)}  # noqa: E731
    inner.eval_seq = "here"  # attributes of the inner probe are reachable
    probe = NeuronProbe(G, inner)
    rec = probe(rnn)
    assert probe.eval_seq == "here"
    assert set(rec) == {"eval_loss", "neuron_power_in", "neuron_power_out", "mix_block_fraction"}
    assert rec["neuron_power_in"].shape == (1, rnn.hidden, 3)
    assert rec["neuron_power_in"].dtype == torch.float32
    assert float(rec["mix_block_fraction"][0]) == pytest.approx(1.0)
    two = two_layer_exact(G, _template(G), 2)
    assert "mix_block_fraction" not in NeuronProbe(G)(two)


# -- NeuronHistory and figures on constructed records ------------------------------------------


def _history(mix: bool = True) -> NeuronHistory:
    """T = 4 steps, S = 2 seeds, H = 5 neurons, m = 3 irreps, hand-made powers: neuron i ends in
    irrep i % 3 (neuron 4 never grows: inactive)."""
    T, S, H, m = 4, 2, 5, 3
    rng = np.random.default_rng(1)
    P = rng.uniform(0.1, 1.0, size=(T, S, H, m))
    for i in range(H):
        P[-1, :, i, i % m] += 80.0
        P[-2, :, i, i % m] += 10.0
    P[:, :, 4] *= 1e-7  # inactive neuron
    pin, pout = 0.3 * P, 0.7 * P
    F = rng.uniform(0, 1, size=(T, S)) if mix else None
    return NeuronHistory(
        np.array([0, 3, 30, 300]), np.array([0, 1]), ["trivial", "sign", "rot1"], pin, pout, F
    )


def _expected_bands(h: NeuronHistory, normalize: str = "current"):
    """Second computation of the bands, straight from the arrays."""
    P = h.power_in + h.power_out
    dom = P[-1].argmax(-1)  # (S, H)
    tot = P.sum(-1)
    act = tot[-1] >= 1e-4 * tot[-1].max(axis=1, keepdims=True)
    out = {}
    for j, lab in enumerate(h.labels):
        sel = (dom == j) & act
        if not sel.any():
            continue
        top = P[..., j][:, sel]
        den = tot[:, sel] if normalize == "current" else tot[:, sel].max(axis=0)
        f = top / den
        out[lab] = (
            f.mean(1),
            np.quantile(f, 0.25, axis=1),
            np.quantile(f, 0.75, axis=1),
            sel.sum(),
        )
    return out


def test_history_fractions_bands_and_validation() -> None:
    h = _history()
    act = h.active()
    assert act[:, :4].all() and not act[:, 4].any()
    assert h.final_dominant().tolist() == [[0, 1, 2, 0, 1]] * 2
    for normalize in ("current", "peak"):
        exp = _expected_bands(h, normalize)
        bands = h.fraction_bands(normalize=normalize)
        assert [b.label for b in bands] == list(exp)
        for b in bands:
            mean, lo, hi, count = exp[b.label]
            assert b.count == count
            np.testing.assert_allclose(b.mean, mean)
            np.testing.assert_allclose(b.lo, lo)
            np.testing.assert_allclose(b.hi, hi)
    # input and output weights are 0.3 / 0.7 of the same spectrum: same fractions
    np.testing.assert_allclose(h.dominant_fraction("in"), h.dominant_fraction("out"))
    with pytest.raises(ConfigError, match="normalize"):
        h.dominant_fraction(normalize="max")
    with pytest.raises(ConfigError, match="which"):
        h.power("hidden")
    with pytest.raises(ShapeError):
        NeuronHistory(h.steps[:2], h.seeds, h.labels, h.power_in, h.power_out)
    with pytest.raises(RunFolderError, match="no per-neuron spectra"):
        neuron_history(type("R", (), {"neurons": None, "path": "x"})())


def test_fraction_figure_draws_the_bands_on_a_given_axes() -> None:
    h = _history()
    fig, axes = new_figure(1, 3)
    got = neuron_fraction_figure(h, ax=axes[1])
    assert got is fig and not axes[0].lines and not axes[2].lines
    ax = axes[1]
    colors = irrep_colors(h.labels)
    exp = _expected_bands(h)
    x = h.steps + 1.0
    lines = {ln.get_gid().split(":", 1)[1]: ln for ln in ax.get_lines()}
    assert set(lines) == set(exp)
    for lab, (mean, lo, hi, count) in exp.items():
        ln = lines[lab]
        np.testing.assert_allclose(ln.get_xdata(), x)
        np.testing.assert_allclose(ln.get_ydata(), mean)
        assert ln.get_color() == colors[lab]
        assert ln.get_label() == f"{lab} ({count})"
        (band,) = [c for c in ax.collections if c.get_gid() == f"neuron-fraction-band:{lab}"]
        v = band.get_paths()[0].vertices
        for t in range(len(x)):
            ys = v[np.isclose(v[:, 0], x[t]), 1]
            assert np.isclose(ys, lo[t]).any() and np.isclose(ys, hi[t]).any()
    assert ax.get_xscale() == "log"


def test_power_and_mix_figures_draw_the_recorded_numbers() -> None:
    h = _history()
    fig = neuron_power_figure(h)
    total = (h.power_in + h.power_out).sum(axis=2).mean(axis=1)
    for j, lab in enumerate(h.labels):
        (ln,) = [ln for ln in fig.axes[0].get_lines() if ln.get_gid() == f"neuron-power:{lab}"]
        np.testing.assert_allclose(ln.get_ydata(), total[:, j])
    fig = mix_block_figure(h)
    gids = [ln.get_gid() for ln in fig.axes[0].get_lines()]
    assert gids.count("mix-block-seed") == 2
    (mean,) = [ln for ln in fig.axes[0].get_lines() if ln.get_gid() == "mix-block-mean"]
    np.testing.assert_allclose(mean.get_ydata(), h.mix_block_fraction.mean(1))
    (chance,) = [ln for ln in fig.axes[0].get_lines() if ln.get_gid() == "mix-block-chance"]
    labels = (h.power_in + h.power_out).argmax(-1)  # (T, S, H)
    share = sum(((labels == j).sum(-1) / 5) ** 2 for j in range(3))
    np.testing.assert_allclose(chance.get_ydata(), share.mean(1))
    assert len(neurons_figure(h).axes) == 3
    assert len(neurons_figure(_history(mix=False)).axes) == 2
    with pytest.raises(ShapeError, match="no W_mix"):
        mix_block_figure(_history(mix=False))
    with pytest.raises(ShapeError, match="Axes"):
        neuron_fraction_figure(h, ax="left")


# -- training runs -----------------------------------------------------------------------------


@pytest.mark.slow
def test_trained_d3_neurons_settle_in_rot1_and_the_run_folder_holds_them(tmp_path) -> None:
    """D3 preset (rot1 learned first, at ~140 steps; sign only at ~6e4): after 3000 steps every
    neuron that grew lies in rot1 (share > 0.99), where at initialisation the median share was
    only ~2/3 (rot1 holds 4 of the 6 dimensions). The records are written to neurons.npz, read
    back by load_run, drawn in figures/neurons.png, and the last one is the final model's."""
    import groupcomp
    from groupcomp import api

    res = groupcomp.train("d3", out=tmp_path, overrides=["train.steps=3000", "train.threads=1"])
    run = groupcomp.load_run(res.run_dir)
    h = neuron_history(run)
    assert h.labels == ["trivial", "sign", "rot1"] and h.steps[0] == 0 and h.steps[-1] == 3000
    assert h.power_in.shape[1:] == (1, 180, 3)
    # Parseval against the final model: Σ_π of the last record = ‖θ_i‖²
    np.testing.assert_allclose(
        h.power()[-1].sum(-1), res.model.neuron_norms().double().pow(2).numpy(), rtol=1e-5
    )
    frac = h.dominant_fraction()  # (T, S, H)
    act = h.active()
    assert act.mean() > 0.9
    assert (h.final_dominant()[act] == 2).all()
    assert np.mean(frac[-1][act] > 0.99) > 0.95
    assert np.median(frac[0][act]) < 0.8
    # the trained weight power is in rot1; the run's function learned rot1 (loss at plateau 5)
    Pw = h.power_per_irrep()
    assert Pw[-1, 2] > 100 * Pw[0, 2] and Pw[-1, 2] > 100 * Pw[-1, 1]
    # the same records from the in-memory result
    np.testing.assert_array_equal(neuron_history(res).power_in, h.power_in)
    assert (run.path / "figures" / "neurons.png").is_file()
    (run.path / "figures" / "neurons.png").unlink()
    api.plot(run.path)
    assert (run.path / "figures" / "neurons.png").is_file()
    assert "mix_block_fraction" not in run.metrics


@pytest.mark.slow
def test_rnn_records_survive_an_interruption_and_mix_fraction_is_a_metric(tmp_path) -> None:
    """An RNN run stopped and resumed records the same per-neuron spectra as one that was not;
    its metrics carry mix_block_fraction, equal to the neurons.npz copy."""
    import groupcomp
    from groupcomp import api

    ov = [
        "task.k=3", "model=rnn", "model.hidden=12", "optim=adam", "optim.lr=3e-3",
        "model.init_scale=0.1", "train.steps=120", "train.threads=1", "train.log_points=20",
    ]  # fmt: skip
    whole = groupcomp.train("d3", out=tmp_path, overrides=ov, name="whole", figures=False)
    groupcomp.train("d3", out=tmp_path, overrides=ov, name="part", figures=False, stop_after=50)
    api.resume(tmp_path / "part", quiet=True, figures=False)
    a = groupcomp.load_run(whole.run_dir)
    b = groupcomp.load_run(tmp_path / "part")
    for key in ("steps", "neuron_power_in", "neuron_power_out", "mix_block_fraction"):
        np.testing.assert_array_equal(a.neurons[key], b.neurons[key])
    rows = a.metrics.dropna(subset=["mix_block_fraction"])
    np.testing.assert_array_equal(rows["step"].to_numpy(), a.neurons["steps"])
    np.testing.assert_allclose(
        rows["mix_block_fraction"].to_numpy(), a.neurons["mix_block_fraction"][:, 0], rtol=1e-6
    )
    assert isinstance(mix_block_figure(a), Figure)
