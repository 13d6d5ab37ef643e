"""Long short-term memory spiking neurons (LSNN; Bellec et al. 2018): LIF neurons whose
threshold ``b`` rises by ``beta`` at every spike and relaxes back to ``v_th``::

    i_j = i + x                         (recurrent: i + linear(x, W_in) + linear(z, W_rec))
    v_d = v + dt*tau_mem_inv*((v_leak - v) + i_j)
    i'  = i_j - dt*tau_syn_inv*i_j
    b_d = b + dt*tau_adapt_inv*(v_th - b)
    z   = Θ(v_d - b_d)
    v'  = (1 - z)*v_d + z*v_reset       (z detached in the recurrent step)
    v'  = v_d - z*v_th                  (reset_method="subtract": the resting threshold v_th,
                                         not the adapted b_d, is subtracted)
    b'  = b_d + beta*z

*Deliberate change*: the input reaches ``v`` in the same step (as in LIF); Norse adds it
after the voltage update, a one-step delay.
"""

from __future__ import annotations

from typing import NamedTuple, Tuple, Union

import torch

from norse_core.functional.lif import Scalar, lif_subthreshold, recurrent_current
from norse_core.functional.reset import ResetMethod, apply_reset
from norse_core.functional.threshold import threshold
from norse_core.functional.dynamics import Dynamics


class LSNNParameters(NamedTuple):
    """Parameters of an adaptive-threshold LIF neuron (time constants as inverses, 1/s);
    ``reset_method`` is ``"value"`` or ``"subtract"`` (or a reset function). :func:`ada_lif_step`
    keeps Norse's reset ``v_d - z*(v_th - v_reset)`` and does not read it."""

    tau_syn_inv: Scalar = 200.0
    tau_mem_inv: Scalar = 100.0
    tau_adapt_inv: Scalar = 1.0 / 800
    v_leak: Scalar = 0.0
    v_th: Scalar = 1.0
    v_reset: Scalar = 0.0
    beta: Scalar = 1.8
    method: str = "super"
    alpha: float = 100.0
    reset_method: Union[str, ResetMethod] = "value"


#: The terms of the LSNN step, from which the fused kernels of LSNN layers are made
#: (:mod:`norse_core.functional.dynamics`).
LSNN_DYNAMICS = Dynamics("lsnn", current=True, adaptive=True, reset_choice=True)


class LSNNFeedForwardState(NamedTuple):
    """State of a feed-forward LSNN neuron: voltage ``v``, current ``i``, threshold ``b``."""

    v: torch.Tensor
    i: torch.Tensor
    b: torch.Tensor


class LSNNState(NamedTuple):
    """State of a recurrent LSNN neuron: spikes ``z``, voltage ``v``, current ``i``, threshold ``b``."""

    z: torch.Tensor
    v: torch.Tensor
    i: torch.Tensor
    b: torch.Tensor


class LSNNUpdate(NamedTuple):
    """One LSNN update: spikes ``z``, the new ``v'``, ``i'``, ``b'``, and
    ``distance = v_d - b_d``, the argument of Θ (where e-prop evaluates the surrogate)."""

    z: torch.Tensor
    v: torch.Tensor
    i: torch.Tensor
    b: torch.Tensor
    distance: torch.Tensor


def adaptive_threshold_decay(b: torch.Tensor, p: LSNNParameters, dt: float) -> torch.Tensor:
    """``b_d = b + dt*tau_adapt_inv*(v_th - b)``: the threshold relaxes toward ``v_th``."""
    return b + dt * p.tau_adapt_inv * (p.v_th - b)


def lsnn_update(
    i_jump: torch.Tensor, v: torch.Tensor, b: torch.Tensor, p: LSNNParameters, dt: float, detach_reset: bool
) -> LSNNUpdate:
    """The LSNN step after the current jump ``i_j`` (see the module docstring); the reset
    uses the detached spikes when ``detach_reset``, the threshold jump ``beta*z`` never does."""
    v_decayed, i_decayed = lif_subthreshold(i_jump, v, p, dt)
    b_decayed = adaptive_threshold_decay(b, p, dt)
    distance = v_decayed - b_decayed
    z = threshold(distance, p.method, p.alpha)
    v_new = apply_reset(p.reset_method, z.detach() if detach_reset else z, v_decayed, p.v_reset, p.v_th)
    return LSNNUpdate(z, v_new, i_decayed, b_decayed + p.beta * z, distance)


def lsnn_feed_forward_step(
    input_tensor: torch.Tensor,
    state: LSNNFeedForwardState,
    p: LSNNParameters = LSNNParameters(),
    dt: float = 0.001,
) -> Tuple[torch.Tensor, LSNNFeedForwardState]:
    """One LSNN step on input currents of any shape; returns ``(z, (v', i', b'))``."""
    z, v, i, b, _ = lsnn_update(state.i + input_tensor, state.v, state.b, p, dt, detach_reset=False)
    return z, LSNNFeedForwardState(v, i, b)


def lsnn_step(
    input_tensor: torch.Tensor,
    state: LSNNState,
    input_weights: torch.Tensor,
    recurrent_weights: torch.Tensor,
    p: LSNNParameters = LSNNParameters(),
    dt: float = 0.001,
) -> Tuple[torch.Tensor, LSNNState]:
    """One recurrent LSNN step; ``x`` ``(..., input)``, weights ``(hidden, input)`` and
    ``(hidden, hidden)``; the reset uses the detached spikes."""
    i_jump = recurrent_current(state.i, state.z, input_tensor, input_weights, recurrent_weights)
    z, v, i, b, _ = lsnn_update(i_jump, state.v, state.b, p, dt, detach_reset=True)
    return z, LSNNState(z, v, i, b)


def ada_lif_step(
    input_tensor: torch.Tensor,
    state: LSNNState,
    input_weights: torch.Tensor,
    recurrent_weights: torch.Tensor,
    p: LSNNParameters = LSNNParameters(),
    dt: float = 0.001,
) -> Tuple[torch.Tensor, LSNNState]:
    """A recurrent LIF step with an adaptation *current* ``b`` (instead of LSNN's adaptive
    threshold)::

        i_j = i + linear(x, W_in) + linear(z, W_rec)
        v_d = v + dt*tau_mem_inv*((v_leak - v) + i_j - b)
        i'  = i_j - dt*tau_syn_inv*i_j
        b_d = b - dt*tau_adapt_inv*b
        z   = Θ(v_d - v_th)
        v'  = v_d - z*(v_th - v_reset)
        b'  = b_d + beta*z

    The input jumps first, as in :func:`lsnn_step` (*deliberate change*: Norse adds it
    after the voltage update).
    """
    i_jump = recurrent_current(state.i, state.z, input_tensor, input_weights, recurrent_weights)
    v_decayed = state.v + dt * p.tau_mem_inv * ((p.v_leak - state.v) + i_jump - state.b)
    i_decayed = i_jump - dt * p.tau_syn_inv * i_jump
    b_decayed = state.b - dt * p.tau_adapt_inv * state.b
    z = threshold(v_decayed - p.v_th, p.method, p.alpha)
    v_new = v_decayed - z * (p.v_th - p.v_reset)
    return z, LSNNState(z, v_new, i_decayed, b_decayed + p.beta * z)
