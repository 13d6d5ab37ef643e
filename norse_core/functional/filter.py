"""Exponential filter (exponential smoothing) of a time series::

    s_t = x_t + a*s_{t-1},   a = exp(-dt*tau_filter_inv)

The module :class:`norse_core.module.exp_filter.ExpFilter` applies a linear map first.
"""

from __future__ import annotations

import torch


def exp_filter_step(old_value: torch.Tensor, new_value: torch.Tensor, parameter: float) -> torch.Tensor:
    """One filter step: ``parameter*old_value + new_value``."""
    return parameter * old_value + new_value
