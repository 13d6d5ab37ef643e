"""Encoders: turn real values into spike trains (or population activity).

Spike trains are stacked along a new leading time dimension: ``(seq_length, *input.shape)``.
"""

from __future__ import annotations

from typing import Callable, Optional

import torch

from norse_core.functional.lif import LIFParameters, lif_current_encoder


def _check_seq_length(seq_length: int) -> None:
    if not isinstance(seq_length, int) or isinstance(seq_length, bool) or seq_length < 1:
        raise ValueError(f"seq_length must be a positive int, got {seq_length!r}")


def poisson_encode(
    input_values: torch.Tensor,
    seq_length: int,
    f_max: float = 100.0,
    dt: float = 0.001,
    generator: Optional[torch.Generator] = None,
) -> torch.Tensor:
    """Poisson spike trains with rate ``f_max * x``: ``rand(T, *x.shape) < dt*f_max*x``.

    Output ``(seq_length, *x.shape)`` in ``x``'s dtype and device."""
    _check_seq_length(seq_length)
    noise = torch.rand(
        (seq_length, *input_values.shape),
        generator=generator,
        device=input_values.device,
        dtype=input_values.dtype,
    )
    return (noise < dt * f_max * input_values).to(input_values.dtype)


def poisson_encode_step(
    input_values: torch.Tensor,
    f_max: float = 1000.0,
    dt: float = 0.001,
    generator: Optional[torch.Generator] = None,
) -> torch.Tensor:
    """One time step of :func:`poisson_encode`: ``rand(*x.shape) < dt*f_max*x``."""
    noise = torch.rand(
        input_values.shape,
        generator=generator,
        device=input_values.device,
        dtype=input_values.dtype,
    )
    return (noise < dt * f_max * input_values).to(input_values.dtype)


def signed_poisson_encode(
    input_values: torch.Tensor,
    seq_length: int,
    f_max: float = 100.0,
    dt: float = 0.001,
    generator: Optional[torch.Generator] = None,
) -> torch.Tensor:
    """Signed Poisson spikes: ``sign(x) * (rand < dt*f_max*|x|)``."""
    return torch.sign(input_values) * poisson_encode(
        input_values.abs(), seq_length, f_max, dt, generator
    )


def signed_poisson_encode_step(
    input_values: torch.Tensor,
    f_max: float = 1000.0,
    dt: float = 0.001,
    generator: Optional[torch.Generator] = None,
) -> torch.Tensor:
    """One time step of :func:`signed_poisson_encode`."""
    return torch.sign(input_values) * poisson_encode_step(
        input_values.abs(), f_max, dt, generator
    )


def constant_current_lif_encode(
    input_current: torch.Tensor,
    seq_length: int,
    p: LIFParameters = LIFParameters(),
    dt: float = 0.001,
) -> torch.Tensor:
    """Spikes of a LIF current encoder driven by a constant current, from ``v = 0``.

    Output ``(seq_length, *input_current.shape)``."""
    _check_seq_length(seq_length)
    v = torch.zeros_like(input_current)
    spikes = []
    for _ in range(seq_length):
        z, v = lif_current_encoder(input_current, v, p, dt)
        spikes.append(z)
    return torch.stack(spikes)


def euclidean_distance(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Squared distance ``(x - y)^2`` (elementwise, broadcasting)."""
    return (x - y).pow(2)


def gaussian_rbf(tensor: torch.Tensor, sigma: float = 1.0) -> torch.Tensor:
    """Gaussian radial basis function ``exp(-d / (2*sigma^2))`` of a squared distance ``d``."""
    return torch.exp(-tensor / (2 * sigma**2))


def population_encode(
    input_values: torch.Tensor,
    out_features: int,
    scale: Optional[float] = None,
    kernel: Callable[[torch.Tensor], torch.Tensor] = gaussian_rbf,
    distance_function: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = euclidean_distance,
) -> torch.Tensor:
    """Population code: ``out_features`` neurons with centres ``linspace(0, scale, n)``.

    Value ``kernel(distance(x, c) * scale)``; ``scale`` defaults to ``x.max()``.
    Output ``(*x.shape, out_features)`` (values, not spikes). The centres are constants
    (no gradient flows through them to ``scale``), as in Norse."""
    if not isinstance(out_features, int) or out_features < 1:
        raise ValueError(f"out_features must be a positive int, got {out_features!r}")
    if scale is None:
        scale = input_values.max()
    centres = torch.linspace(0, 1, out_features, device=input_values.device, dtype=input_values.dtype)
    centres = centres * (scale.detach() if isinstance(scale, torch.Tensor) else scale)
    distances = distance_function(input_values.unsqueeze(-1), centres) * scale
    return kernel(distances)


def spike_latency_encode(input_spikes: torch.Tensor) -> torch.Tensor:
    """Keeps only the first spike of each neuron along time (dim 0)."""
    if input_spikes.dim() < 1:
        raise ValueError("input_spikes must have a time dimension (dim 0), got a scalar")
    seen_before = torch.cumsum(input_spikes, dim=0) - input_spikes
    return input_spikes * (seen_before == 0).to(input_spikes.dtype)


def spike_latency_lif_encode(
    input_current: torch.Tensor,
    seq_length: int,
    p: LIFParameters = LIFParameters(),
    dt: float = 0.001,
) -> torch.Tensor:
    """First spikes of :func:`constant_current_lif_encode`: stronger inputs spike earlier."""
    return spike_latency_encode(constant_current_lif_encode(input_current, seq_length, p, dt))
