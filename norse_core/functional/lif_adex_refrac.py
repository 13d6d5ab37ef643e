"""Adaptive exponential LIF neurons with a refractory period."""

from __future__ import annotations

from typing import NamedTuple, Tuple

import torch

from norse_core.functional.lif import Scalar
from norse_core.functional.lif_adex import (
    LIF_ADEX_DYNAMICS,
    LIFAdExFeedForwardState,
    LIFAdExParameters,
    LIFAdExState,
    lif_adex_feed_forward_step,
    lif_adex_step,
)
from norse_core.functional.refractory import compute_refractory_update, refractory_step  # noqa: F401 (Norse's name here)


class LIFAdExRefracParameters(NamedTuple):
    """LIFAdEx parameters plus the refractory period ``rho_reset`` in steps."""

    lif_adex: LIFAdExParameters = LIFAdExParameters()
    rho_reset: Scalar = 5.0


#: The terms of the refractory LIFAdEx step (the LIFAdEx step, then the refractory mask).
LIF_ADEX_REFRAC_DYNAMICS = LIF_ADEX_DYNAMICS._replace(name="lif_adex_refrac", refractory=True)


class LIFAdExRefracFeedForwardState(NamedTuple):
    """State of a feed-forward refractory LIFAdEx neuron."""

    lif_adex: LIFAdExFeedForwardState
    rho: torch.Tensor


class LIFAdExRefracState(NamedTuple):
    """State of a recurrent refractory LIFAdEx neuron."""

    lif_adex: LIFAdExState
    rho: torch.Tensor


def lif_adex_refrac_feed_forward_step(
    input_tensor: torch.Tensor,
    state: LIFAdExRefracFeedForwardState,
    p: LIFAdExRefracParameters = LIFAdExRefracParameters(),
    dt: float = 0.001,
) -> Tuple[torch.Tensor, LIFAdExRefracFeedForwardState]:
    """One refractory LIFAdEx step on input currents of any shape."""
    return refractory_step(lif_adex_feed_forward_step, input_tensor, state, p=p, dt=dt)


def lif_adex_refrac_step(
    input_tensor: torch.Tensor,
    state: LIFAdExRefracState,
    input_weights: torch.Tensor,
    recurrent_weights: torch.Tensor,
    p: LIFAdExRefracParameters = LIFAdExRefracParameters(),
    dt: float = 0.001,
) -> Tuple[torch.Tensor, LIFAdExRefracState]:
    """One recurrent refractory LIFAdEx step."""
    return refractory_step(lif_adex_step, input_tensor, state, input_weights, recurrent_weights, p=p, dt=dt)
