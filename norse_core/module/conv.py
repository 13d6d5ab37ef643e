"""Convolutions applied pointwise in time."""

from __future__ import annotations

import torch


class LConv2d(torch.nn.Conv2d):
    """A 2-D convolution applied to every time step of ``(T, N, C_in, H, W)``, giving
    ``(T, N, C_out, H', W')``. Same constructor, weights (``(C_out, C_in/groups, kh, kw)``)
    and bias as :class:`torch.nn.Conv2d`; time is folded into the batch for one conv call,
    which equals convolving each step separately."""

    def forward(self, input_tensor: torch.Tensor) -> torch.Tensor:
        if not isinstance(input_tensor, torch.Tensor):
            raise TypeError(f"LConv2d: input must be a torch.Tensor, got {type(input_tensor).__name__}")
        if input_tensor.dim() != 5:
            raise ValueError(
                "LConv2d: input must be 5-D (time, batch, channels, height, width), "
                f"got shape {tuple(input_tensor.shape)}"
            )
        if input_tensor.shape[2] != self.in_channels:
            raise ValueError(
                f"LConv2d: input of shape {tuple(input_tensor.shape)} has {input_tensor.shape[2]} "
                f"channels (dim 2) but the layer expects in_channels={self.in_channels}"
            )
        output = super().forward(input_tensor.flatten(0, 1))
        return output.unflatten(0, input_tensor.shape[:2])
