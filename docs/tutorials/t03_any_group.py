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
# # 3. Any group
#
# Every finite group of order ≤ 128 ships with the package (GAP's SmallGroups library, 3596
# groups), any Cayley table can be turned into a group, and every group gets its real and
# complex irreps — of real, complex or quaternionic type. This tutorial tours them and trains on
# a group with all three types. It takes a few seconds.

# %%
import numpy as np

import groupcomp
from groupcomp import errors, groups, templates, theory

# %% [markdown]
# ## Group specs and the catalogue
#
# `groups.parse` reads the same specs as the `group=` key: families (`C10`, `D3`, `S4`, `A5`,
# `Q8`, `Dic3`), products (`C4xC4`) and `SmallGroup(order,id)`. The catalogue can be searched
# without building any group.

# %%
print(groups.parse("C4xC4"), groups.parse("SmallGroup(8,4)"))
print("groups of order 16:", groups.num_small_groups(16))
for order, gid in groups.small_groups(order=12):
    info = groups.catalogue_info(order, gid)
    print(f"SmallGroup(12,{gid}) = {info['name']:8} abelian={info['abelian']!s:5}", end=" ")
    print("degrees", info["degrees"], "Frobenius-Schur", info["fs_indicators"])
assert groups.num_small_groups(16) == 14
assert len(groups.small_groups(order=8, abelian=False)) == 2  # D4 and Q8

# %% [markdown]
# ## Real irreps and their types
#
# A real irrep has a Frobenius–Schur *type*: `R` (a real complex irrep), `C` (a complex irrep
# `ρ` together with its conjugate, realised in twice its dimension) or `H` (a quaternionic
# irrep `ρ`, realised in twice its dimension). The commutant dimension `e` is 1, 2, 4, and the
# Plancherel identity reads `Σ_π D²/e = |G|`. `SmallGroup(12,1) = C3 ⋊ C4` has all three.

# %%
G = groups.small_group(12, 1)
print(G.name, "order", G.order)
for r in G.irreps():
    print(f"  {r.label:8} dim {r.dim}  type {r.type}  complex dim {r.complex_dim}")
assert [r.type for r in G.irreps()] == ["R", "R", "R", "C", "H"]
assert sum(r.dim**2 / r.commutant_dim for r in G.irreps()) == G.order

# %% [markdown]
# The smallest examples: the cyclic group C3 has one 2-dimensional real irrep of type C (the
# rotation by 120°, which is the complex characters `χ1` and `χ2 = χ̄1` together), and the
# quaternion group Q8 one 4-dimensional real irrep of type H (twice the 2-dimensional complex
# irrep). `complex_irreps()` gives the complex ones.

# %%
C3, Q8 = groups.parse("C3"), groups.parse("Q8")
for H in (C3, Q8):
    print(H.name, "real:", [(r.label, r.dim, r.type) for r in H.irreps()])
    print(H.name, "complex:", [(r.label, r.dim, r.type) for r in H.complex_irreps()])
assert [(r.dim, r.type) for r in C3.irreps()] == [(1, "R"), (2, "C")]
assert (Q8.irreps()[-1].dim, Q8.irreps()[-1].type, Q8.complex_irreps()[-1].dim) == (4, "H", 2)

# %% [markdown]
# ## Character tables
#
# `character_table()` holds the character of every complex irrep at every element, `(irreps, n)`;
# its columns at one representative per conjugacy class form the usual square table. The rows
# are orthogonal: `Σ_g χ_i(g) conj(χ_j(g)) = |G| δ_ij`.

# %%
chi = Q8.character_table()
print("classes:", [Q8.labels[g] for g in Q8.class_representatives], "sizes", Q8.class_sizes)
print(np.real_if_close(chi[:, Q8.class_representatives]).round(3))
assert np.allclose(chi @ chi.conj().T, Q8.order * np.eye(Q8.num_classes))

# %% [markdown]
# ## A group from a Cayley table
#
# `from_table(table)` takes `table[a, b] = a·b` with the identity as element 0 and validates it
# (closure, identity, inverses, associativity). Here the multiplicative group of the integers
# modulo 7, element `i` standing for the number `i + 1`:

# %%
units = np.arange(1, 7)
table = np.array([[np.flatnonzero(units == a * b % 7)[0] for b in units] for a in units])
U7 = groups.from_table(table, name="U(7)", labels=[str(u) for u in units])
print(U7, "abelian:", U7.is_abelian, "element orders:", U7.element_orders)
print([(r.label, r.dim, r.type) for r in U7.irreps()])
assert U7.is_abelian and max(U7.element_orders) == 6  # cyclic: 3 generates it

# %% [markdown]
# A table that is not a group is refused with the first violation it finds:

# %%
try:
    groups.from_table([[0, 1, 2], [1, 0, 2], [2, 2, 0]], name="not a group")
except errors.GroupError as exc:
    print("GroupError:", exc)
else:
    raise AssertionError("the table should have been refused")

# %% [markdown]
# ## The staircase on a group with C- and H-type irreps
#
# The utility uses the real dimension `D` for every type (`docs/theory.md` §2.3). With power 1000
# on the quaternionic irrep `4a` and 100 on the complex-type `2b`, the theory predicts `4a` first:

# %%
powers = [0, 0, 0, 100, 1000]
x = templates.fourier_template(G, powers)
print(theory.predict_staircase(G, x, k=2))

# %% [markdown]
# Any group spec works as the `group` key of a run, here on top of the `d3` preset's settings:

# %%
result = groupcomp.train(
    "d3",
    out=None,  # nothing written
    quiet=True,
    overrides=[
        "group=SmallGroup(12,1)",
        "template.powers=[0,0,0,100,1000]",
        "model.hidden=120",
        "train.threads=1",
    ],
)
s = result.summary
print("predicted", s["theory"]["order_labels"], np.round(s["theory"]["plateaus_mse"], 3))
print("observed ", s["observed"]["order"], np.round(s["observed"]["plateaus_mse"], 3))
assert s["observed"]["order"] == [["4a"], ["2b"]] == s["theory"]["order_labels"]
assert abs(s["initial_loss"] - 1100 / 12) < 0.1 and s["final_loss"] < 1e-3
