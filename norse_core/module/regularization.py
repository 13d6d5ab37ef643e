"""A module that accumulates a regularisation term (spike count, voltage) step by step."""

from __future__ import annotations

from typing import Any, Tuple

import torch

from norse_core.functional.regularization import Accumulator, regularize_step, spike_accumulator


class RegularizationCell(torch.nn.Module):
    """Passes spikes through and accumulates ``accumulator(z, s, state)`` across calls.

    ``forward(z, s) -> (z, accumulated)``, with ``s`` the neuron state of the cell that
    produced ``z``; the running value is kept in ``self.state``. Call :meth:`reset` before
    each new sequence or batch: a kept value still holds the previous autograd graph.

    Example::

        cell, reg = LIFCell(), RegularizationCell()       # spike counting
        for x in inputs:                                  # (T, B, N)
            z, s = cell(x, s)
            z, count = reg(z, s)
        loss = task_loss + 1e-3 * count
        reg.reset()
    """

    def __init__(self, accumulator: Accumulator = spike_accumulator, state: Any = None):
        super().__init__()
        if not callable(accumulator):
            raise TypeError(
                f"RegularizationCell: accumulator must be a function (z, s, state) -> state, "
                f"got {type(accumulator).__name__}"
            )
        self.accumulator = accumulator
        self.initial = state
        self.state = state

    def forward(self, z: torch.Tensor, s: Any) -> Tuple[torch.Tensor, Any]:
        z, self.state = regularize_step(z, s, self.accumulator, self.state)
        return z, self.state

    def reset(self) -> None:
        """Restarts the accumulation from the ``state`` given to the constructor."""
        self.state = self.initial
