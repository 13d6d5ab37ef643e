"""Adjoint functions (Norse's ``functional.adjoint``): steps whose backward is the exact
discrete adjoint of our step, saving only what it needs, and sequence-level loops whose
memory does not grow with the number of steps.

Every step ``*_adjoint_step`` computes the same outputs and states as its step function
(``lif_adjoint_step`` as :func:`~norse_core.functional.lif.lif_step`, ...) and the same
gradients as autograd through it, for the input, the state and the weights. The adjoint
recursion, with ``λ`` the gradient of each state variable (``a = dt*tau_mem_inv``,
``b = dt*tau_syn_inv``, ``s`` the surrogate derivative of ``p.method``)::

    u   = λ_v'(1 - z) + (λ_z + λ_v'(v_reset - v_d)) s(v_d - v_th)
    λ_v = (1 - a) u;   λ_i = a u + (1 - b) λ_i' = dL/dx

*Deliberate change*: Norse's backward uses EventProp's continuous-time jump conditions,
which are not the gradient of its discrete step; gradients here differ from Norse's.

Modules by model family (Norse's module names are aliases of them): ``lif`` (with the
sequence-level :func:`lif_feed_forward_adjoint` and :func:`lif_box_feed_forward_adjoint`),
``lif_refrac``, ``lsnn``, ``lif_mc`` (also ``lif_mc_refrac``) and ``coba_lif``; the generic
machinery is in :mod:`norse_core.functional.adjoint.core`.
"""

from norse_core.functional.adjoint.coba_lif import CobaLIFAdjointFunction, coba_lif_adjoint_step
from norse_core.functional.adjoint.lif import (
    LIFAdjointFunction,
    LIFFeedForwardAdjointFunction,
    LIFFeedForwardSparseAdjointFunction,
    LIFSparseAdjointFunction,
    lif_adjoint_step,
    lif_adjoint_step_sparse,
    lif_box_feed_forward_adjoint,
    lif_feed_forward_adjoint,
    lif_feed_forward_adjoint_step,
    lif_feed_forward_adjoint_step_sparse,
)
from norse_core.functional.adjoint.lif_mc import (
    LIFMCAdjointFunction,
    LIFMCRefracAdjointFunction,
    lif_mc_adjoint_step,
    lif_mc_refrac_adjoint,
)
from norse_core.functional.adjoint.lif_refrac import (
    LIFAdjointRefracFeedForwardFunction,
    LIFAdjointRefracFunction,
    LIFSparseAdjointRefracFunction,
    lif_refrac_adjoint_step,
    lif_refrac_adjoint_step_sparse,
    lif_refrac_feed_forward_adjoint,
    lif_refrac_feed_forward_adjoint_step,
)
from norse_core.functional.adjoint.lsnn import (
    LSNNAdjointFunction,
    LSNNFeedForwardAdjointFunction,
    lsnn_adjoint_step,
    lsnn_feed_forward_adjoint,
    lsnn_feed_forward_adjoint_step,
)

__all__ = [
    "lif_adjoint_step", "lif_adjoint_step_sparse", "lif_feed_forward_adjoint_step",
    "lif_feed_forward_adjoint_step_sparse", "LIFAdjointFunction", "LIFSparseAdjointFunction",
    "LIFFeedForwardAdjointFunction", "LIFFeedForwardSparseAdjointFunction",
    "lif_refrac_adjoint_step", "lif_refrac_adjoint_step_sparse", "lif_refrac_feed_forward_adjoint_step",
    "LIFAdjointRefracFunction", "LIFSparseAdjointRefracFunction", "LIFAdjointRefracFeedForwardFunction",
    "lsnn_adjoint_step", "lsnn_feed_forward_adjoint_step", "LSNNAdjointFunction", "LSNNFeedForwardAdjointFunction",
    "lif_mc_adjoint_step", "lif_mc_refrac_adjoint", "LIFMCAdjointFunction", "LIFMCRefracAdjointFunction",
    "coba_lif_adjoint_step", "CobaLIFAdjointFunction",
    "lif_feed_forward_adjoint", "lif_box_feed_forward_adjoint", "lsnn_feed_forward_adjoint",
    "lif_refrac_feed_forward_adjoint",
]
