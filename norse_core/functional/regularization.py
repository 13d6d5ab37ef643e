"""Accumulators that collect a quantity over steps (spike counts, voltages) for a loss term.

An accumulator is a function ``(z, s, state) -> new_state``: ``z`` the spikes of a cell,
``s`` its neuron state, ``state`` the running value (``None`` before the first step).
:func:`regularize_step` passes the spikes through and returns the new running value; add
it (scaled) to the loss yourself, e.g. ``loss = task_loss + 1e-3 * count``.
"""

from __future__ import annotations

from typing import Any, Callable, Optional, Tuple

import torch

Accumulator = Callable[[torch.Tensor, Any, Optional[Any]], Any]


def spike_accumulator(z: torch.Tensor, s: Any = None, state: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Running spike count, a scalar tensor: ``state + z.sum()`` (``state=None`` counts as 0).
    ``s`` is ignored. Differentiable in ``z`` (through the surrogate gradient)."""
    total = z.sum()
    return total if state is None else state + total


def voltage_accumulator(z: torch.Tensor, s: Any, state: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Running element-wise sum of the membrane voltage: ``state + s.v`` (shape of ``s.v``;
    ``state=None`` counts as 0). ``s`` is any neuron state with a field ``v``; ``z`` is
    ignored. Sum or square it for a scalar loss term."""
    v = getattr(s, "v", None)
    if not isinstance(v, torch.Tensor):
        raise TypeError(
            f"voltage_accumulator: s must be a neuron state with a tensor field v, got {type(s).__name__}"
        )
    return v if state is None else state + v


def regularize_step(
    z: torch.Tensor, s: Any, accumulator: Accumulator = spike_accumulator, state: Any = None
) -> Tuple[torch.Tensor, Any]:
    """One regularisation step: returns ``(z, accumulator(z, s, state))`` (spikes unchanged)."""
    return z, accumulator(z, s, state)
