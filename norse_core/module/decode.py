"""Decoder modules: reduce ``(T, ...)`` over time. See :mod:`norse_core.functional.decode`."""

from __future__ import annotations

import torch

from norse_core.functional import decode as fd


class SumDecoder(torch.nn.Module):
    """Sum over time (spike counts)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return fd.sum_decode(x)


class MaxDecoder(torch.nn.Module):
    """Maximum over time (e.g. of a readout voltage)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return fd.max_decode(x)


class SpikesToTimesDecoder(torch.nn.Module):
    """First-spike time per neuron (``index * dt``; ``inf`` if silent)."""

    def __init__(self, dt: float = 1.0):
        super().__init__()
        self.dt = dt

    def forward(self, spikes: torch.Tensor) -> torch.Tensor:
        return fd.spikes_to_times_decode(spikes, self.dt)
