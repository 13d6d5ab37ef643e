"""Exponential filter over time: a linear map, then ``s_t = y_t + exp(-dt*tau_filter_inv)*s_{t-1}``
(:mod:`norse_core.functional.filter`)."""

from __future__ import annotations

import math
from typing import Optional

import torch

from norse_core.functional.filter import exp_filter_step


class ExpFilter(torch.nn.Module):
    """``Linear(input_size, output_size)`` applied to every step of ``(T, ..., input_size)``,
    then exponentially smoothed along time; returns ``(T, ..., output_size)``."""

    def __init__(
        self,
        input_size: int,
        output_size: int,
        tau_filter_inv: float = 1e3,
        dt: float = 1e-3,
        input_weights: Optional[torch.Tensor] = None,
        bias: bool = True,
    ) -> None:
        super().__init__()
        self.input_size = input_size
        self.output_size = output_size
        self.parameter = math.exp(-dt * tau_filter_inv)
        self.linear = torch.nn.Linear(input_size, output_size, bias=bias)
        if input_weights is not None:
            with torch.no_grad():
                self.linear.weight.copy_(input_weights)

    def extra_repr(self) -> str:
        return f"input_size={self.input_size}, output_size={self.output_size}, parameter={self.parameter}"

    def forward(self, input_tensor: torch.Tensor) -> torch.Tensor:
        y = self.linear(input_tensor)
        outputs = [y[0]]
        for t in range(1, y.shape[0]):
            outputs.append(exp_filter_step(outputs[-1], y[t], self.parameter))
        return torch.stack(outputs)
