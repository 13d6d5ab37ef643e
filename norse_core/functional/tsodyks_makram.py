"""Tsodyks-Markram short-term synaptic plasticity (facilitation and depression).

(The module and class names keep Norse's spelling ``Makram``.) Per step, on input spikes
``z``, utilisation ``u`` (facilitation) first, then resources ``x`` (depression)::

    u' = u - dt*tau_f_inv*u + U*(1 - u)*z
    x' = x + dt*tau_d_inv*(1 - x) - u'*x*z
    output = u'*x*z

The output uses the resources *before* this step's release (``x``, not ``x'``) and the
utilisation *after* this spike's jump (``u'``). A synapse at rest has ``u = 0`` (no
facilitation) and ``x = 1`` (all resources available): its first spike outputs ``U``.
"""

from __future__ import annotations

from typing import NamedTuple, Optional, Tuple, Union

import torch

Scalar = Union[float, torch.Tensor]


class TsodyksMakramParameters(NamedTuple):
    """Parameters (inverse time constants in 1/s): ``tau_f_inv`` facilitation decay of ``u``,
    ``tau_s_inv`` synaptic current decay (not used by :func:`stp_step`, which outputs the
    released fraction; kept for a downstream synapse), ``tau_d_inv`` recovery of ``x``,
    ``U`` the utilisation jump per spike."""

    tau_f_inv: Scalar = 20.0
    tau_s_inv: Scalar = 50.0
    tau_d_inv: Scalar = 1.0 / 0.75
    U: Scalar = 0.45


class TsodyksMakramState(NamedTuple):
    """State: utilisation ``u`` (rest 0) and available resources ``x`` (rest 1), both shaped
    like the input spikes."""

    u: torch.Tensor
    x: torch.Tensor


def stp_step(
    z: torch.Tensor,
    state: Optional[TsodyksMakramState] = None,
    p: TsodyksMakramParameters = TsodyksMakramParameters(),
    dt: float = 0.001,
) -> Tuple[torch.Tensor, TsodyksMakramState]:
    """One Euler step on spikes ``z`` (any shape); returns ``(u'*x*z, (u', x'))``.

    ``state=None`` starts at rest: ``u = 0``, ``x = 1`` (shaped like ``z``). A state field
    given as a number or 0-d tensor (``TsodyksMakramState(u=0.0, x=1.0)``) broadcasts to
    ``z``'s shape, as in Norse; other shapes must match ``z``."""
    if not isinstance(z, torch.Tensor):
        raise TypeError(f"stp_step: z must be a torch.Tensor, got {type(z).__name__}")
    if state is None:
        state = TsodyksMakramState(torch.zeros_like(z), torch.ones_like(z))
    elif not isinstance(state, TsodyksMakramState):
        raise TypeError(f"stp_step: state must be a TsodyksMakramState(u, x) or None, got {type(state).__name__}")
    if any(_is_number(value) for value in state):
        state = TsodyksMakramState(*(_broadcast(value, z) if _is_number(value) else value for value in state))
    for field, value in zip(state._fields, state):
        if not isinstance(value, torch.Tensor) or value.shape != z.shape:
            got = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
            raise ValueError(
                f"stp_step: state.{field} has shape {got} but must match z of shape {tuple(z.shape)}; "
                "pass state=None to start at rest (u=0, x=1)"
            )
    u, x = state
    u_new = u - dt * p.tau_f_inv * u + p.U * (1 - u) * z
    released = u_new * x * z
    x_new = x + dt * p.tau_d_inv * (1 - x) - released
    return released, TsodyksMakramState(u_new, x_new)


def _is_number(value) -> bool:
    if isinstance(value, torch.Tensor):
        return value.dim() == 0
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _broadcast(value, z: torch.Tensor) -> torch.Tensor:
    dtype = z.dtype if z.is_floating_point() else torch.get_default_dtype()
    zeros = torch.zeros(z.shape, dtype=dtype, device=z.device)
    return zeros + (value.to(dtype) if isinstance(value, torch.Tensor) else value)
