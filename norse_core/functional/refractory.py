"""A refractory period for any model with a voltage ``v``: after a spike the neuron is
held for ``rho_reset`` steps. After the inner step (state ``(inner, rho)``)::

    m   = Θ(rho)                        (still refractory)
    v   = (1 - m)*v_new + m*v_old       (refractory neurons keep their voltage)
    z   = (1 - m)*z                     (and do not spike)
    rho = (1 - z)*relu(rho - m) + z*rho_reset
"""

from __future__ import annotations

from typing import Any, Callable, Tuple

import torch

from norse_core.functional.lif import Scalar
from norse_core.functional.threshold import heaviside


def refractory_update(
    z: torch.Tensor, v_new: torch.Tensor, v_old: torch.Tensor, rho: torch.Tensor, rho_reset: Scalar
) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Applies the refractory mask; returns ``(z, v, rho)``."""
    m = heaviside(rho)
    v = (1 - m) * v_new + m * v_old
    z = (1 - m) * z
    rho = (1 - z) * torch.relu(rho - m) + z * rho_reset
    return z, v, rho


def refractory_step(
    inner_step: Callable[..., Tuple[torch.Tensor, Any]],
    input_tensor: torch.Tensor,
    state: Any,
    *weights: torch.Tensor,
    p: Any,
    dt: float,
) -> Tuple[torch.Tensor, Any]:
    """Runs ``inner_step(x, state[0], *weights, p[0], dt)`` and then the refractory update;
    ``state`` is ``(inner state, rho)`` and ``p`` is ``(inner parameters, rho_reset)``."""
    inner, rho = state
    z, new_inner = inner_step(input_tensor, inner, *weights, p[0], dt)
    z, v, rho = refractory_update(z, new_inner.v, inner.v, rho, p.rho_reset)
    updates = {"v": v, "z": z} if "z" in new_inner._fields else {"v": v}
    return z, type(state)(new_inner._replace(**updates), rho)


def compute_refractory_update(
    state: Any, z_new: torch.Tensor, v_new: torch.Tensor, p: Any
) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Norse's form of :func:`refractory_update`: ``state`` is the refractory state before
    the step (``(inner state, rho)``), ``p`` the refractory parameters; returns
    ``(v, z, rho)``."""
    z, v, rho = refractory_update(z_new, v_new, state[0].v, state.rho, p.rho_reset)
    return v, z, rho
