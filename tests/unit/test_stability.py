"""Stable learning rates, auto step budgets, self-judging runs and the theory's scope
(docs/theory.md §2.6–2.7)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import yaml

from groupcomp.api import train
from groupcomp.config import load_config
from groupcomp.errors import ConfigError
from groupcomp.groups import parse
from groupcomp.runs.experiment import predict_run
from groupcomp.runs.observe import loss_stability, observed_staircase
from groupcomp.templates import fourier_template
from groupcomp.theory import predict_staircase
from groupcomp.theory.scope import theory_scope
from groupcomp.theory.stability import auto_steps, stable_lr

FAST = ["train.threads=1", "train.log_points=40", "train.checkpoints=1", "model.hidden=60"]


# -- loss_stability --------------------------------------------------------------------------


def _staircase_curve(T: int = 2000) -> np.ndarray:
    t = np.arange(T, dtype=float)
    return 5.0 + 500.0 / (1 + np.exp((t - 300) / 10)) + 5.0 / (1 + np.exp((t - 1500) / 20)) - 5.0


def test_loss_stability_monotone_staircase_is_stable() -> None:
    st = loss_stability(_staircase_curve())
    assert st["stable"] and st["episodes"] == 0 and st["worst_step"] is None


def test_loss_stability_finds_the_spike_its_size_and_the_episodes() -> None:
    y = _staircase_curve()
    y[700:720] = 40.0  # from the plateau 5 up to 40
    y[1000:1005] = 20.0  # a second, smaller episode
    st = loss_stability(y, steps=np.arange(y.size) * 10)
    assert not st["stable"]
    assert st["episodes"] == 2
    assert st["first_step"] == 7000
    assert st["worst_loss"] == pytest.approx(40.0)
    assert st["worst_from"] == pytest.approx(y[:700].min())
    assert st["worst_ratio"] == pytest.approx(40.0 / y[:700].min())


def test_loss_stability_thresholds_and_smoothing() -> None:
    y = _staircase_curve()
    # a rise of 20 % above the running minimum is below the default 25 % margin
    y2 = y.copy()
    y2[800:900] = y[799] * 1.2
    assert loss_stability(y2)["stable"]
    assert not loss_stability(y2, rise=0.1)["stable"]
    # a one-step outlier (mini-batch noise) is ignored on a running median, not without
    y3 = y.copy()
    y3[1000] = 50.0
    assert not loss_stability(y3)["stable"]
    assert loss_stability(y3, smooth=51)["stable"]
    # a non-finite value is a spike
    y4 = y.copy()
    y4[1200] = np.nan
    assert not loss_stability(y4)["stable"]


# -- the stability bound ---------------------------------------------------------------------


@pytest.mark.parametrize(("k", "alignment"), [(2, 1 / math.sqrt(2)), (3, 6 / math.sqrt(183))])
def test_stable_lr_of_a_one_dim_irrep_matches_its_closed_form(k: int, alignment: float) -> None:
    """For a template on a 1-dim irrep χ, z = b Σ_j χ(g_j) and the target ∝ Π_j χ(g_j): the
    unit maximiser's output has cosine E[z^k Πχ]/√(E z^2k) with the target: 1/√2 (k = 2),
    6/√183 (k = 3). So lr_χ = c·n/(κ² U*_χ) with that c (docs/theory.md §2.6)."""
    G = parse("D3")
    x = fourier_template(G, [0.0, 30.0, 0.0])
    st = predict_staircase(G, x, k)
    b = stable_lr(G, x, k, staircase=st)
    assert list(b.per_irrep) == ["sign"] and b.limiting == "sign"
    u = float(st.utilities[st.irrep_labels.index("sign")])
    expected = alignment * G.order / ((k + 1) ** 2 * u)
    assert b.bound == pytest.approx(expected, rel=2e-3)
    # plain SGD: (√P/‖ḡ‖)^(2/κ)/(κ²P) with ‖ḡ‖ = U*/(c n √P); momentum multiplies by 1 + β
    P = float(st.powers[st.irrep_labels.index("sign")]) / G.order
    g = u / (alignment * G.order * math.sqrt(P))
    gd = stable_lr(G, x, k, optimizer="gd", momentum=0.5, staircase=st)
    assert gd.bound == pytest.approx(
        1.5 * (math.sqrt(P) / g) ** (2 / (k + 1)) / ((k + 1) ** 2 * P), rel=4e-3
    )


def test_stable_lr_is_the_minimum_over_irreps_and_refuses_bad_input() -> None:
    G = parse("D3")
    x = fourier_template(G, [0.0, 30.0, 3000.0])
    b = stable_lr(G, x, 2)
    assert set(b.per_irrep) == {"sign", "rot1"}
    assert b.bound == min(b.per_irrep.values()) and b.limiting == "rot1"
    with pytest.raises(ConfigError, match="optimizer"):
        stable_lr(G, x, 2, optimizer="adam")
    with pytest.raises(ConfigError, match="momentum"):
        stable_lr(G, x, 2, momentum=1.0)


def test_auto_steps_rounds_up_the_margin() -> None:
    assert auto_steps(14775.3) == 120000  # 8 × 14775.3 = 118202 → two significant digits
    assert auto_steps(12.0) == 96
    with pytest.raises(ConfigError, match="train.steps"):
        auto_steps(float("nan"))


# -- the theory's scope ----------------------------------------------------------------------


def test_theory_scope_table() -> None:
    full = theory_scope("two_layer", "power", 3, "per_neuron")
    assert full.order and full.times and full.levels and not full.learns_nothing
    assert theory_scope("two_layer", "square", 2, "gd").times
    assert not theory_scope("two_layer", "power", 2, None).times  # Adam: no time conversion
    lin = theory_scope("two_layer", "linear", 2, "per_neuron")
    assert lin.learns_nothing and not lin.order and not lin.times and "Lemma 3.5" in lin.reason
    for act in ("relu", "tanh", "gelu", "silu", "relu2"):
        sc = theory_scope("two_layer", act, 2, "per_neuron")
        assert not sc.order and not sc.times and sc.levels and act in sc.reason
    assert not theory_scope("two_layer", "square", 3, "per_neuron").order
    assert not theory_scope("rnn", "power", 3, "gd").order
    # gradient clipping: order and levels still predicted, drop times not (lower bounds only)
    clip = theory_scope("two_layer", "power", 2, "per_neuron", clipped=True)
    assert clip.order and clip.levels and not clip.times and "clipping" in clip.reason


def test_clipped_run_keeps_its_stability_bound_but_gets_no_drop_times() -> None:
    pred = predict_run(load_config("d3", ["optim.grad_clip=0.1", "train.steps=500"]))
    assert pred.drop_times is None and not pred.plan.scope.times
    ref = predict_run(load_config("d3", ["train.steps=500"]))
    assert pred.plan.stable_lr.bound == pytest.approx(ref.plan.stable_lr.bound)
    assert pred.cfg.optim.lr == ref.cfg.optim.lr


# -- auto values and warnings before a run ---------------------------------------------------


def test_auto_lr_and_steps_and_the_warnings() -> None:
    pred = predict_run(load_config("d3", ["optim.lr=auto", "train.steps=auto"]))
    b = pred.plan.stable_lr
    assert pred.cfg.optim.lr == pytest.approx(0.25 * b.bound, rel=2e-3)
    last = max(pred.drop_times.steps)
    assert 8 * last <= pred.cfg.train.steps <= 8.8 * last  # rounded up to 2 digits
    assert set(pred.plan.auto) == {"optim.lr", "train.steps"}
    assert pred.plan.warnings == []
    bad = predict_run(
        load_config("d3", [f"optim.lr={2 * b.bound}", "train.steps=100", "model.hidden=4"])
    )
    text = " | ".join(bad.plan.warnings)
    assert "optim.lr=" in text and "above the stability bound" in text
    assert "train.steps=100 is short" in text
    assert "model.hidden=4 is below the exact-construction width" in text
    # no bound where the theory has none: a documented default, said so
    relu = predict_run(load_config("d3", ["model.activation=relu"]))
    assert relu.cfg.optim.lr == 1e-3 and relu.cfg.train.steps == 2000
    assert "no stability bound" in relu.plan.auto["optim.lr"]
    assert relu.drop_times is None


def test_auto_values_are_written_resolved_and_rerun_identically(tmp_path) -> None:
    res = train("d3", tmp_path, overrides=FAST, name="a", quiet=True, figures=False)
    saved = yaml.safe_load((res.run_dir / "config.yaml").read_text())
    assert saved["optim"]["lr"] == res.experiment.cfg.optim.lr
    assert isinstance(saved["optim"]["lr"], float)
    assert saved["train"]["steps"] == res.summary["steps_done"]
    assert res.summary["theory"]["auto"]["optim.lr"].startswith(f"{saved['optim']['lr']:.3g}")
    again = train(str(res.run_dir / "config.yaml"), tmp_path, name="b", quiet=True, figures=False)
    assert again.summary["final_loss"] == res.summary["final_loss"]


# -- runs judge themselves (slow: real training) ---------------------------------------------


@pytest.mark.slow
def test_above_the_bound_is_unstable_and_auto_is_clean() -> None:
    """D3 (0, 30, 3000), k = 2, H = 60: 2× the bound spikes (status unstable, the spike in the
    summary), optim.lr=auto learns both irreps cleanly (plateaus within 2 %, no spike)."""
    b = predict_run(load_config("d3", FAST)).plan.stable_lr.bound
    hot = train("d3", None, overrides=[*FAST, f"optim.lr={2 * b}", "train.steps=15000"], quiet=True)
    s = hot.summary
    assert s["status"] == "unstable"
    (seed,) = s["stability"]["per_seed"]
    assert not seed["stable"] and seed["worst_loss"] > 1.25 * seed["worst_from"]
    assert any("above the stability bound" in w for w in s["warnings"])
    auto = train("d3", None, overrides=FAST, quiet=True).summary
    assert auto["status"] == "completed" and auto["stability"]["stable"]
    assert auto["observed"]["order_matches_theory"]
    for obs, pred in zip(auto["observed"]["plateaus_mse"], [505.0, 5.0], strict=False):
        assert obs == pytest.approx(pred, rel=0.02)
    assert auto["final_loss"] < 1e-2 * auto["initial_loss"]
    first = auto["drops"][0]
    assert first["closed_form_trusted"] and abs(first["closed_form_error"]) < 0.25


def test_a_linear_network_predicts_no_drop_and_stays_flat() -> None:
    res = train("d3", None, overrides=[*FAST, "model.activation=linear", "train.steps=300"])
    s = res.summary
    scope = s["theory"]["scope"]
    assert scope["learns_nothing"] and not scope["order"]
    assert all(d["predicted_step"] is None for d in s["drops"])
    assert s["observed"]["order_matches_theory"] is None
    assert s["final_loss"] == pytest.approx(s["initial_loss"], rel=5e-3)
    assert s["status"] == "completed"


# -- observed plateaus only on flat stretches ------------------------------------------------


def test_observed_plateaus_only_where_flat() -> None:
    theory = {"irrep_labels": ["a", "b"], "order": [[0], [1]], "plateaus_mse": [10.0, 5.0, 0.0]}
    steps = np.arange(0, 10001, 10)

    def frame(loss: np.ndarray) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "step": steps,
                "seed": 0,
                "loss": loss,
                "irrep_loss/a": np.where(steps < 100, 5.0, 0.0),
                "irrep_loss/b": np.where(steps < 5000, 5.0, 0.0),
            }
        )

    flat = np.where(steps < 100, 10.0, np.where(steps < 5000, 5.0, 0.0))
    ob = observed_staircase(frame(flat), theory)
    assert ob["plateaus_mse"] == [10.0, 5.0, 0.0]
    # the last stretch still falling (5 → 1 over the last 20 %): no final level
    falling = np.where(steps < 100, 10.0, np.where(steps < 8000, 5.0, 5.0 - (steps - 8000) / 500))
    ob = observed_staircase(frame(falling), theory)
    assert ob["plateaus_mse"][:2] == [10.0, 5.0] and ob["plateaus_mse"][2] is None


def test_arith_run_at_the_zero_output_is_reported() -> None:
    """Strong weight decay pins the arith network at the zero output, whose MSE loss is
    (M − 1)/M; the summary says so, a normal run is not flagged."""
    from groupcomp.cli import format_arith_summary
    from groupcomp.config.arith import ArithConfig
    from groupcomp.runs import execute

    def run(*extra: str):
        cfg = load_config("arith_z23", ["train.progress=false", *extra], schema=ArithConfig)
        return execute(cfg, None, quiet=True).summary

    s = run("epochs=200", "optim.weight_decay=0.3")
    zero = s["arith"]["zero_output"]
    assert zero["level"] == pytest.approx(22 / 23)
    assert zero["stuck"] == [0] and zero["collapsed"] == []
    assert s["final_loss"] == pytest.approx(22 / 23, rel=0.01)
    assert "never left the zero output" in format_arith_summary(s.to_dict())
    ok = run("epochs=60")
    assert ok["arith"]["zero_output"]["stuck"] == [] == ok["arith"]["zero_output"]["collapsed"]
