"""Decoders: reduce spike trains or voltages over time (dim 0)."""

from __future__ import annotations

import torch


def sum_decode(x: torch.Tensor, dim: int = 0) -> torch.Tensor:
    """Sum over time, e.g. spike counts."""
    return torch.sum(x, dim=dim)


def max_decode(x: torch.Tensor, dim: int = 0) -> torch.Tensor:
    """Maximum over time, e.g. of a readout voltage."""
    return torch.max(x, dim=dim).values


def spikes_to_times_decode(spikes: torch.Tensor, dt: float = 1.0) -> torch.Tensor:
    """First-spike time of each neuron, ``index * dt``; ``inf`` where it never spikes."""
    if spikes.dim() < 1:
        raise ValueError("spikes must have a time dimension (dim 0), got a scalar")
    fired = spikes > 0
    first = torch.argmax(fired.to(torch.uint8), dim=0).to(
        spikes.dtype if spikes.is_floating_point() else torch.float32
    )
    times = first * dt
    return torch.where(fired.any(dim=0), times, torch.full_like(times, float("inf")))
