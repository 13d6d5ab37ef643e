"""Current-based leaky integrate-and-fire (LIF) neurons.

Per step, with the input current jump applied first so input reaches ``v`` in the same step::

    i_j = i + x                                   (recurrent: i + linear(x, W_in) + linear(z, W_rec))
    v_d = v + dt*tau_mem_inv*((v_leak - v) + i_j)
    i'  = i_j - dt*tau_syn_inv*i_j
    z   = Θ(v_d - v_th)
    v'  = (1 - z)*v_d + z*v_reset                 (reset_method="value", the default)
    v'  = v_d - z*v_th                            (reset_method="subtract")

``reset_method`` may also be a function ``(z, v, v_reset, v_th) -> v'``
(:mod:`norse_core.functional.reset`); the recurrent step passes it the detached spikes.
"""

from __future__ import annotations

from typing import NamedTuple, Tuple, Union

import torch
import torch.nn.functional as F

from norse_core.functional.reset import ResetMethod, apply_reset, reset_value
from norse_core.functional.threshold import threshold
from norse_core.functional.dynamics import Dynamics

Scalar = Union[float, torch.Tensor]


class LIFParameters(NamedTuple):
    """Parameters of a current-based LIF neuron (time constants as inverses, in 1/s);
    ``reset_method`` is ``"value"`` or ``"subtract"`` (or a reset function)."""

    tau_syn_inv: Scalar = 200.0
    tau_mem_inv: Scalar = 100.0
    v_leak: Scalar = 0.0
    v_th: Scalar = 1.0
    v_reset: Scalar = 0.0
    method: str = "super"
    alpha: float = 100.0
    reset_method: Union[str, ResetMethod] = "value"


#: The terms of the LIF step, from which the fused kernels of LIF layers are made
#: (:mod:`norse_core.functional.dynamics`).
LIF_DYNAMICS = Dynamics("lif", current=True, reset_choice=True)


class LIFFeedForwardState(NamedTuple):
    """State of a feed-forward LIF neuron: membrane voltage ``v`` and synaptic current ``i``."""

    v: torch.Tensor
    i: torch.Tensor


class LIFState(NamedTuple):
    """State of a recurrent LIF neuron: last spikes ``z``, voltage ``v``, current ``i``."""

    z: torch.Tensor
    v: torch.Tensor
    i: torch.Tensor


def reset_to_value(v: torch.Tensor, z: torch.Tensor, v_reset: Scalar) -> torch.Tensor:
    """``(1 - z)*v + z*v_reset``: where a neuron spiked, its voltage becomes ``v_reset``."""
    return reset_value(z, v, v_reset, 0.0)


class LIFUpdate(NamedTuple):
    """One LIF update: spikes ``z``, the new ``v'`` and ``i'``, and ``distance = v_d - v_th``,
    the argument of Θ (where a surrogate derivative is evaluated, e.g. by e-prop)."""

    z: torch.Tensor
    v: torch.Tensor
    i: torch.Tensor
    distance: torch.Tensor


def recurrent_current(
    i: torch.Tensor,
    z: torch.Tensor,
    input_tensor: torch.Tensor,
    input_weights: torch.Tensor,
    recurrent_weights: torch.Tensor,
) -> torch.Tensor:
    """The recurrent current jump ``i_j = i + linear(x, W_in) + linear(z, W_rec)``."""
    return i + F.linear(input_tensor, input_weights) + F.linear(z, recurrent_weights)


def lif_subthreshold(
    i_jump: torch.Tensor, v: torch.Tensor, p: LIFParameters, dt: float
) -> Tuple[torch.Tensor, torch.Tensor]:
    """The subthreshold part of the step after the jump: ``(v_d, i')`` with
    ``v_d = v + dt*tau_mem_inv*((v_leak - v) + i_j)`` and ``i' = i_j - dt*tau_syn_inv*i_j``."""
    v_decayed = v + dt * p.tau_mem_inv * ((p.v_leak - v) + i_jump)
    i_decayed = i_jump - dt * p.tau_syn_inv * i_jump
    return v_decayed, i_decayed


def lif_update(
    i_jump: torch.Tensor, v: torch.Tensor, p: LIFParameters, dt: float, detach_reset: bool
) -> LIFUpdate:
    """The LIF step after the current jump ``i_j``: :func:`lif_subthreshold`, then
    ``z = Θ(v_d - v_th)`` and the reset ``v' = (1 - z)*v_d + z*v_reset`` (with the detached
    spikes when ``detach_reset``)."""
    v_decayed, i_decayed = lif_subthreshold(i_jump, v, p, dt)
    distance = v_decayed - p.v_th
    z = threshold(distance, p.method, p.alpha)
    v_new = apply_reset(p.reset_method, z.detach() if detach_reset else z, v_decayed, p.v_reset, p.v_th)
    return LIFUpdate(z, v_new, i_decayed, distance)


def lif_feed_forward_step(
    input_tensor: torch.Tensor,
    state: LIFFeedForwardState,
    p: LIFParameters = LIFParameters(),
    dt: float = 0.001,
) -> Tuple[torch.Tensor, LIFFeedForwardState]:
    """One LIF step on input currents ``x`` of any shape; returns ``(z, (v', i'))``."""
    z, v, i, _ = lif_update(state.i + input_tensor, state.v, p, dt, detach_reset=False)
    return z, LIFFeedForwardState(v, i)


def lif_step(
    input_tensor: torch.Tensor,
    state: LIFState,
    input_weights: torch.Tensor,
    recurrent_weights: torch.Tensor,
    p: LIFParameters = LIFParameters(),
    dt: float = 0.001,
) -> Tuple[torch.Tensor, LIFState]:
    """One recurrent LIF step; ``x`` is ``(..., input)``, weights ``(hidden, input)`` and
    ``(hidden, hidden)``. The reset uses the detached spikes."""
    i_jump = recurrent_current(state.i, state.z, input_tensor, input_weights, recurrent_weights)
    z, v, i, _ = lif_update(i_jump, state.v, p, dt, detach_reset=True)
    return z, LIFState(z, v, i)


def lif_current_encoder(
    input_current: torch.Tensor,
    voltage: torch.Tensor,
    p: LIFParameters = LIFParameters(),
    dt: float = 0.001,
) -> Tuple[torch.Tensor, torch.Tensor]:
    """Integrates a current directly into the voltage (no synapse); returns ``(z, v')``::

        v <- v + dt*tau_mem_inv*(v_leak - v + I);  z = Θ(v - v_th);  v <- (1 - z)*v + z*v_reset

    (``p.reset_method="subtract"``: ``v <- v - z*v_th``).
    """
    v = voltage + dt * p.tau_mem_inv * ((p.v_leak - voltage) + input_current)
    z = threshold(v - p.v_th, p.method, p.alpha)
    return z, apply_reset(p.reset_method, z, v, p.v_reset, p.v_th)


def lif_feed_forward_integral(
    input_tensor: torch.Tensor,
    state: LIFFeedForwardState,
    p: LIFParameters = LIFParameters(),
    dt: float = 0.001,
) -> Tuple[torch.Tensor, LIFFeedForwardState]:
    """:func:`lif_feed_forward_step` over every step of ``input_tensor`` ``(T, ...)``;
    returns the stacked spikes ``(T, ...)`` and the last state."""
    outputs = []
    for x in input_tensor:
        z, state = lif_feed_forward_step(x, state, p, dt)
        outputs.append(z)
    return torch.stack(outputs), state


def lif_step_integral(
    input_tensor: torch.Tensor,
    state: LIFState,
    input_weights: torch.Tensor,
    recurrent_weights: torch.Tensor,
    p: LIFParameters = LIFParameters(),
    dt: float = 0.001,
) -> Tuple[torch.Tensor, LIFState]:
    """:func:`lif_step` over every step of ``input_tensor`` ``(T, ..., input)``; returns the
    stacked spikes ``(T, ..., hidden)`` and the last state (Norse 1.1.0 returns only the
    last step's spikes, against its own docstring)."""
    outputs = []
    for x in input_tensor:
        z, state = lif_step(x, state, input_weights, recurrent_weights, p, dt)
        outputs.append(z)
    return torch.stack(outputs), state


def to_dense(tensor: torch.Tensor) -> torch.Tensor:
    """``tensor`` as a dense tensor (a sparse one converted, a dense one as is)."""
    return tensor.to_dense() if tensor.is_sparse else tensor


def lif_feed_forward_step_sparse(
    input_tensor: torch.Tensor,
    state: LIFFeedForwardState,
    p: LIFParameters = LIFParameters(),
    dt: float = 0.001,
) -> Tuple[torch.Tensor, LIFFeedForwardState]:
    """:func:`lif_feed_forward_step` for a sparse (COO) input; the spikes come back sparse,
    the state dense."""
    z, state = lif_feed_forward_step(to_dense(input_tensor), LIFFeedForwardState(*map(to_dense, state)), p, dt)
    return z.to_sparse(), state


def lif_step_sparse(
    input_tensor: torch.Tensor,
    state: LIFState,
    input_weights: torch.Tensor,
    recurrent_weights: torch.Tensor,
    p: LIFParameters = LIFParameters(),
    dt: float = 0.001,
) -> Tuple[torch.Tensor, LIFState]:
    """:func:`lif_step` for a sparse input and state spikes; the spikes come back sparse
    (also in the state)."""
    z, state = lif_step(to_dense(input_tensor), LIFState(*map(to_dense, state)), input_weights, recurrent_weights, p, dt)
    z_sparse = z.to_sparse()
    return z_sparse, state._replace(z=z_sparse)


#: Norse's "biological" parameter set and initial state (voltages in mV; the inverse time
#: constants are Norse's values, 1/0.5 and 1/20).
default_bio_parameters = LIFParameters(
    tau_syn_inv=1 / 0.5, tau_mem_inv=1 / 20.0, v_leak=-65.0, v_th=-50.0, v_reset=-65.0
)
default_bio_initial_state = LIFState(z=torch.as_tensor(0.0), v=torch.as_tensor(-65.0), i=torch.as_tensor(0.0))
