# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 1. Your first staircase
#
# A network sees a sequence of group elements `(g1, g2)` of the dihedral group D3 (the six
# symmetries of a triangle), each encoded as a translated *template* `x_g(h) = x(g·h)`, and must
# output the template of their product, `x_{g1·g2}`. The theory (P1, `docs/theory.md` §2)
# predicts that it learns the task one *irreducible representation* (irrep) at a time, in
# the order of decreasing utility `U*`, so that the loss descends a staircase of plateaus.
#
# This tutorial trains the `d3` preset from Python, checks the staircase against the prediction
# and explains the two figures every run writes. It takes about ten seconds.

# %%
from pathlib import Path

from IPython.display import Image, display

import groupcomp

# %% [markdown]
# ## The configuration
#
# `load_config` reads a preset (`groupcomp train --list` lists them) and applies overrides in the
# same `key=value` syntax as the command line. `train.threads=1` keeps the run on one core.

# %%
cfg = groupcomp.load_config("d3", ["train.threads=1"])
print("group", cfg.group, "| k =", cfg.task.k, "| template powers", list(cfg.template.powers))
print("model", cfg.model.name, "width", cfg.model.hidden, "| init scale", cfg.model.init_scale)
print("optimiser", cfg.optim.name, "lr", cfg.optim.lr, "| steps", cfg.train.steps)

# %% [markdown]
# The template has power 0, 30 and 3000 on the three real irreps of D3 (`trivial`, `sign` and the
# 2-dimensional `rot1`). `optim.lr` and `train.steps` are `auto`: the run resolves them from the
# theory (a quarter of the largest stable learning rate, 8× the predicted last drop).
#
# ## Training
#
# `groupcomp.train` builds the experiment, trains it and writes a run folder under `out`
# (`out=None` writes nothing). It returns the metrics (a pandas DataFrame, one row per step and
# seed) and the typed summary.

# %%
result = groupcomp.train(cfg, out="runs", quiet=True)
summary = result.summary
resolved = result.experiment.cfg  # the config with `auto` resolved, as written to config.yaml
print("run folder:", result.run_dir)
print(f"lr = {resolved.optim.lr:.3g}, steps = {resolved.train.steps}, engine = {summary['engine']}")
print("initial loss", summary["initial_loss"], "-> final loss", summary["final_loss"])

# %%
assert abs(summary["initial_loss"] - 505) < 1
assert summary["final_loss"] < 1e-3
assert summary["status"] == "completed"

# %% [markdown]
# ## Predicted and observed staircase
#
# The summary's `theory` section holds the prediction (computed before training), `observed`
# what the loss curve did. Losses are mean-MSE (`torch.nn.MSELoss`). The initial plateau is
# `‖x‖²/n = 3030/6 = 505`; learning `rot1` removes its power `3000/6 = 500`, leaving 5; learning
# `sign` removes the rest.

# %%
theory, observed = summary["theory"], summary["observed"]
print("predicted order   ", theory["order_labels"], "plateaus", theory["plateaus_mse"])
print("observed order    ", observed["order"], "plateaus", observed["plateaus_mse"])

# %%
assert [round(p, 6) for p in theory["plateaus_mse"]] == [505.0, 5.0, 0.0]
assert observed["order"] == [["rot1"], ["sign"]] == theory["order_labels"]
assert abs(observed["plateaus_mse"][1] - 5.0) < 0.05

# %% [markdown]
# Each drop has a closed-form time (`docs/theory.md` §2.5): per-neuron SGD needs
# `n ln(1/‖θ0‖) / (2 (k+1) lr U*)` steps to escape the plateau. It is accurate for the first drop;
# later drops come after the neurons of the earlier ones have grown, and the summary marks them
# as untrusted (`closed_form_trusted`).

# %%
for drop in summary["drops"]:
    print(
        f"{drop['irreps']}: predicted step {drop['predicted_step']:.0f}, "
        f"observed {drop['observed_step']}, trusted: {drop['closed_form_trusted']}"
    )

# %%
first = summary["drops"][0]
assert first["irreps"] == ["rot1"] and first["closed_form_trusted"]
assert 0.5 < first["observed_step"] / first["predicted_step"] < 2

# %% [markdown]
# ## The loss figure
#
# `figures/loss.png` in the run folder (redraw it with `groupcomp plot RUN`):
#
# * **black**: the training loss against the step, both axes logarithmic;
# * **coloured curves**: the part of the loss in each irrep (they sum to the loss): `rot1`'s
#   part falls at the first drop, `sign`'s at the second;
# * **dashed lines**: the predicted plateau levels, labelled at the right edge;
# * **triangles** on the top edge: the predicted drop steps (closed form);
# * **circles**: where the loss crossed the middle of two plateaus (the observed drops);
# * the bottom of the axis is the log floor, 10⁻⁶ × the initial loss.

# %%
figures = Path(result.run_dir) / "figures"
display(Image(filename=str(figures / "loss.png")))

# %% [markdown]
# ## The power figure
#
# `figures/power.png`: the power of the learned function in each irrep over training (the
# network's output on all sequences, Fourier-transformed over the group), against the template's
# power in that irrep (dashed, same colour). Each irrep's power jumps from ~0 to the template's
# value at its drop: first `rot1` (3000), much later `sign` (30). The staircase is the network
# learning the template's spectrum one irrep at a time.

# %%
display(Image(filename=str(figures / "power.png")))

# %% [markdown]
# The same numbers are in the metrics table: `power/<irrep>` at log-spaced steps.

# %%
metrics = result.metrics
last = metrics.dropna(subset=["power/rot1"]).iloc[-1]
print({c: round(float(last[c]), 3) for c in ["step", "power/trivial", "power/sign", "power/rot1"]})
assert abs(last["power/rot1"] - 3000) < 3 and abs(last["power/sign"] - 30) < 0.3

# %% [markdown]
# ## Next
#
# * The same from the shell: `groupcomp train d3`; the prediction alone: `groupcomp theory d3`.
# * Change the template so that `sign` has the larger utility
#   (`template.powers=[0,3000,30]`) and predict the new order without training: tutorial 2.
# * Read a finished run back from its folder: tutorial 6.
