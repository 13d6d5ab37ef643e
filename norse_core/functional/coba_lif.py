"""Conductance-based LIF (CobaLIF): input spikes open excitatory and inhibitory conductances::

    g_e += relu(x);  g_i += relu(-x)      (recurrent: the positive and negative parts of both
                                           linear(x, W_in) and linear(z, W_rec))
    g_e *= 1 - dt*tau_syn_exc_inv;  g_i *= 1 - dt*tau_syn_inh_inv
    v   += dt*c_m_inv*(g_l*(v_rest - v) + g_e*(e_rev_E - v) + g_i*(e_rev_I - v))
    z    = Θ(v - v_thresh);  v = (1 - z)*v + z*v_reset
                             v = v - z*v_thresh        (reset_method="subtract": meaningful when
                                                        voltages are measured from the reset level)

*Deliberate change*: the recurrent step adds the input term (Norse's drops it).
"""

from __future__ import annotations

from typing import NamedTuple, Tuple, Union

import torch
import torch.nn.functional as F

from norse_core.functional.lif import Scalar
from norse_core.functional.reset import ResetMethod, apply_reset
from norse_core.functional.threshold import threshold


class CobaLIFParameters(NamedTuple):
    """Parameters of a conductance-based LIF neuron (voltages in mV); ``reset_method`` is
    ``"value"`` or ``"subtract"`` (or a reset function ``(z, v, v_reset, v_thresh)``)."""

    tau_syn_exc_inv: Scalar = 0.2
    tau_syn_inh_inv: Scalar = 0.2
    c_m_inv: Scalar = 5.0
    g_l: Scalar = 0.25
    e_rev_I: Scalar = -100.0
    e_rev_E: Scalar = 60.0
    v_rest: Scalar = -20.0
    v_reset: Scalar = -70.0
    v_thresh: Scalar = -10.0
    method: str = "super"
    alpha: float = 100.0
    reset_method: Union[str, ResetMethod] = "value"


class CobaLIFFeedForwardState(NamedTuple):
    """State of a feed-forward CobaLIF neuron: voltage ``v``, conductances ``g_e``, ``g_i``."""

    v: torch.Tensor
    g_e: torch.Tensor
    g_i: torch.Tensor


class CobaLIFState(NamedTuple):
    """State of a recurrent CobaLIF neuron: spikes ``z``, ``v``, ``g_e``, ``g_i``."""

    z: torch.Tensor
    v: torch.Tensor
    g_e: torch.Tensor
    g_i: torch.Tensor


def _coba_dynamics(v, g_e, g_i, p: CobaLIFParameters, dt: float):
    g_e = g_e * (1 - dt * p.tau_syn_exc_inv)
    g_i = g_i * (1 - dt * p.tau_syn_inh_inv)
    v = v + dt * p.c_m_inv * (p.g_l * (p.v_rest - v) + g_e * (p.e_rev_E - v) + g_i * (p.e_rev_I - v))
    z = threshold(v - p.v_thresh, p.method, p.alpha)
    return z, apply_reset(p.reset_method, z, v, p.v_reset, p.v_thresh), g_e, g_i


def coba_lif_feed_forward_step(
    input_tensor: torch.Tensor,
    state: CobaLIFFeedForwardState,
    p: CobaLIFParameters = CobaLIFParameters(),
    dt: float = 0.001,
) -> Tuple[torch.Tensor, CobaLIFFeedForwardState]:
    """One CobaLIF step; positive inputs excite, negative inputs inhibit."""
    z, v, g_e, g_i = _coba_dynamics(
        state.v, state.g_e + F.relu(input_tensor), state.g_i + F.relu(-input_tensor), p, dt
    )
    return z, CobaLIFFeedForwardState(v, g_e, g_i)


def coba_lif_step(
    input_tensor: torch.Tensor,
    state: CobaLIFState,
    input_weights: torch.Tensor,
    recurrent_weights: torch.Tensor,
    p: CobaLIFParameters = CobaLIFParameters(),
    dt: float = 0.001,
) -> Tuple[torch.Tensor, CobaLIFState]:
    """One recurrent CobaLIF step (weights ``(hidden, input)``, ``(hidden, hidden)``)."""
    feed = F.linear(input_tensor, input_weights)
    back = F.linear(state.z, recurrent_weights)
    g_e = state.g_e + F.relu(feed) + F.relu(back)
    g_i = state.g_i + F.relu(-feed) + F.relu(-back)
    z, v, g_e, g_i = _coba_dynamics(state.v, g_e, g_i, p, dt)
    return z, CobaLIFState(z, v, g_e, g_i)


#: Norse's "biological" parameter set and initial state (voltages in mV).
default_bio_parameters = CobaLIFParameters(
    tau_syn_exc_inv=1 / 0.3, tau_syn_inh_inv=1 / 0.5, e_rev_E=0.0, e_rev_I=-70.0,
    v_thresh=-50.0, v_reset=-65.0, v_rest=-65.0,
)
default_bio_state = CobaLIFState(z=0.0, v=-65.0, g_e=0.0, g_i=0.0)
