"""Theory predictions: closed-form utilities ``U*``, the learning staircase (order of irreps and
loss plateaus, P1 Theorem 4.1) and a brute-force utility for checking them (docs/theory.md §1–2)."""

from __future__ import annotations

from groupcomp.theory.agf import AGFResult, simulate
from groupcomp.theory.cogs import (
    CogsNet,
    LossDecomposition,
    constraint_residuals,
    loss_decomposition,
    z_f6,
    z_f46,
    z_memorisation,
    z_nu,
    z_syn,
    z_xi,
)
from groupcomp.theory.constructions import (
    IrrepTerms,
    exact_sizes,
    irrep_terms,
    rank_one_terms,
    rnn_exact,
    tree_exact,
    two_layer_exact,
    two_layer_width,
)
from groupcomp.theory.staircase import (
    Staircase,
    effective_dim,
    irrep_utilities,
    predict_staircase,
)
from groupcomp.theory.utility import UtilityMaximum, maximize_utility, utility

__all__ = [
    "AGFResult",
    "CogsNet",
    "LossDecomposition",
    "constraint_residuals",
    "loss_decomposition",
    "z_f6",
    "z_f46",
    "z_memorisation",
    "z_nu",
    "z_syn",
    "z_xi",
    "IrrepTerms",
    "Staircase",
    "UtilityMaximum",
    "effective_dim",
    "exact_sizes",
    "irrep_terms",
    "irrep_utilities",
    "maximize_utility",
    "predict_staircase",
    "rank_one_terms",
    "rnn_exact",
    "simulate",
    "tree_exact",
    "two_layer_exact",
    "two_layer_width",
    "utility",
]
