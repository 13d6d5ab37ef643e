"""Encoder modules: real values in, spike trains ``(seq_length, *x.shape)`` out (or, for the
``*Step`` encoders, one time step). See :mod:`norse_core.functional.encode`."""

from __future__ import annotations

from typing import Callable, Optional

import torch

from norse_core.functional import encode as fe
from norse_core.functional.lif import LIFParameters
from norse_core.functional.parameters import check_parameters


class PoissonEncoder(torch.nn.Module):
    """Poisson spike trains of rate ``f_max * x`` over ``seq_length`` steps."""

    def __init__(
        self,
        seq_length: int,
        f_max: float = 100.0,
        dt: float = 0.001,
        generator: Optional[torch.Generator] = None,
    ):
        super().__init__()
        fe._check_seq_length(seq_length)
        self.seq_length, self.f_max, self.dt, self.generator = seq_length, f_max, dt, generator

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return fe.poisson_encode(x, self.seq_length, self.f_max, self.dt, self.generator)


class SignedPoissonEncoder(PoissonEncoder):
    """Signed Poisson spike trains: ``sign(x)`` spikes at rate ``f_max * |x|``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return fe.signed_poisson_encode(x, self.seq_length, self.f_max, self.dt, self.generator)


class PoissonEncoderStep(torch.nn.Module):
    """One step of Poisson spikes of rate ``f_max * x``."""

    def __init__(
        self, f_max: float = 1000.0, dt: float = 0.001, generator: Optional[torch.Generator] = None
    ):
        super().__init__()
        self.f_max, self.dt, self.generator = f_max, dt, generator

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return fe.poisson_encode_step(x, self.f_max, self.dt, self.generator)


class SignedPoissonEncoderStep(PoissonEncoderStep):
    """One step of signed Poisson spikes."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return fe.signed_poisson_encode_step(x, self.f_max, self.dt, self.generator)


class ConstantCurrentLIFEncoder(torch.nn.Module):
    """Spikes of a LIF neuron driven by the constant current ``x`` for ``seq_length`` steps."""

    def __init__(self, seq_length: int, p: LIFParameters = LIFParameters(), dt: float = 0.001):
        super().__init__()
        fe._check_seq_length(seq_length)
        check_parameters(p, dt, name=type(self).__name__)
        self.seq_length, self.p, self.dt = seq_length, p, dt

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return fe.constant_current_lif_encode(x, self.seq_length, self.p, self.dt)


class SpikeLatencyLIFEncoder(ConstantCurrentLIFEncoder):
    """First spike of a constant-current LIF neuron: stronger inputs spike earlier."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return fe.spike_latency_lif_encode(x, self.seq_length, self.p, self.dt)


class SpikeLatencyEncoder(torch.nn.Module):
    """Keeps only each neuron's first spike of a spike train ``(T, ...)``."""

    def forward(self, spikes: torch.Tensor) -> torch.Tensor:
        return fe.spike_latency_encode(spikes)


class PopulationEncoder(torch.nn.Module):
    """Population code of ``out_features`` neurons per input value (output ``(*x.shape, n)``)."""

    def __init__(
        self,
        out_features: int,
        scale: Optional[float] = None,
        kernel: Callable[[torch.Tensor], torch.Tensor] = fe.gaussian_rbf,
        distance_function: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = fe.euclidean_distance,
    ):
        super().__init__()
        if not isinstance(out_features, int) or out_features < 1:
            raise ValueError(f"out_features must be a positive int, got {out_features!r}")
        self.out_features, self.scale = out_features, scale
        self.kernel, self.distance_function = kernel, distance_function

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return fe.population_encode(x, self.out_features, self.scale, self.kernel, self.distance_function)
