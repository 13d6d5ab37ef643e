"""Logic on spike vectors (bit vectors of 0 and 1), differentiable where spikes are made."""

from __future__ import annotations

import torch

from norse_core.functional.threshold import super_fn, threshold  # noqa: F401 (super_fn: Norse imports it here)


def logical_and(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``x AND y`` as ``x*y``."""
    return x * y


def logical_xor(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``x XOR y`` as ``|x - y|``."""
    return torch.abs(x - y)


def logical_or(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``x OR y`` as a spike ``Θ(x + y)`` with the SuperSpike surrogate."""
    return threshold(x + y, "super", 1.0)


def muller_c(y_prev: torch.Tensor, x_1: torch.Tensor, x_2: torch.Tensor) -> torch.Tensor:
    """A Muller C-element: switches to the inputs' value when they agree and otherwise
    keeps ``y_prev``: ``Θ(x_1*x_2 + (x_1 + x_2)*y_prev)``."""
    return threshold(x_1 * x_2 + (x_1 + x_2) * y_prev, "super", 1.0)


def posedge_detector(z: torch.Tensor, z_prev: torch.Tensor) -> torch.Tensor:
    """1 where a spike train switches from 0 to 1: ``(1 - z_prev)*z``."""
    return (1 - z_prev) * z
