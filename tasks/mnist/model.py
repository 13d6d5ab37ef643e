"""The MNIST network: a convolutional SNN built from norse_core.

::

    image (B, 1, 28, 28) --encoder--> (T, B, 1, 28, 28)   [direct: the image itself, every step]
    stem: conv 5x5 -> [batch norm] -> maxpool 2              (the direct encoder runs it once)
    body (a SequentialState over time):
      neuron "conv1"                                          (T, B, C1, 12, 12)
      conv 5x5 -> [batch norm] -> maxpool 2 -> neuron "conv2" (T, B, C2, 4, 4)
      [conv 3x3, padding 1 -> [batch norm] -> neuron "conv3"  (T, B, C3, 4, 4): with channels (C1, C2, C3)]
      [dropout] -> flatten -> linear -> [batch norm] -> neuron "fc1" (T, B, H)
      [dropout] -> linear -> leaky-integrator readout                (T, B, 10)
    decode: max (or mean) of the readout voltage over time -> logits

Stateless layers run with time folded into the batch (``snn.Lift``). Every input current
to a neuron layer is multiplied by ``gain``. ``trainable`` neuron parameters (PLIF:
``("tau_mem_inv",)``) learn with the weights, one value per layer, channel or neuron
(``trainable_per``, :func:`~tasks.common.builders.trainable_options`). ``dropout`` > 0 zeroes
that fraction of the spikes entering each dense layer while training, one mask for all time
steps (:class:`TimeDropout`).
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import torch
from torch import nn
from torch.autograd.function import once_differentiable

import norse_core as snn
from tasks.common.builders import trainable_options

DECODERS = ("max", "mean")
SPIKING_LAYERS = ("conv1", "conv2", "conv3", "fc1")  # conv3: only with a third entry in ``channels``


def spiking_layers(channels: Optional[Sequence[int]] = None) -> Tuple[str, ...]:
    """The spiking layers of a :class:`ConvSNN` with these ``channels`` (two or three entries;
    ``None``: its default, two)."""
    return tuple(name for name in SPIKING_LAYERS if name != "conv3" or len(channels or ()) == 3)


class Scale(nn.Module):
    """Multiplies its input by a constant ``gain``."""

    def __init__(self, gain: float):
        super().__init__()
        self.gain = float(gain)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gain

    def extra_repr(self) -> str:
        return f"gain={self.gain}"


class TimeDropout(nn.Module):
    """Dropout of a sequence ``(T, B, ...)`` with one mask for all ``T`` steps: while training,
    ``x * m / (1 - p)`` with ``m ~ Bernoulli(1 - p)`` of shape ``(B, ...)``; the identity in eval."""

    def __init__(self, p: float):
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {p!r}")
        self.p = float(p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = torch.empty(x.shape[1:], device=x.device, dtype=x.dtype).bernoulli_(1.0 - self.p)
        return x * (keep / (1.0 - self.p))

    def extra_repr(self) -> str:
        return f"p={self.p}"


class _ChannelsLastMaxPool(torch.autograd.Function):
    """Max pooling (window = stride = ``size``) of a CPU tensor in the channels-last layout, where
    torch's kernel is several times faster than for contiguous (N, C, H, W) tensors with small
    planes (measured forward, (1024, 64, 8, 8), 2 cores: 5 ms with both copies against 17 ms); the
    backward scatters through the (fast) contiguous kernel with the same indices. Outputs and
    gradients equal ``F.max_pool2d``'s."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, size: int) -> torch.Tensor:  # type: ignore[override]
        window = [size, size]
        out, indices = torch.ops.aten.max_pool2d_with_indices(x.contiguous(memory_format=torch.channels_last), window, window)
        ctx.window = window
        ctx.save_for_backward(x, indices.contiguous())
        return out.contiguous()

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        x, indices = ctx.saved_tensors
        window = ctx.window
        grad_x = torch.ops.aten.max_pool2d_with_indices_backward(grad.contiguous(), x, window, window, [0, 0], [1, 1],
                                                                 False, indices)
        return grad_x, None


class FastMaxPool2d(nn.MaxPool2d):
    """``nn.MaxPool2d(size)`` that pools (N, C, H, W) CPU tensors through the channels-last
    kernel (:class:`_ChannelsLastMaxPool`): about 12% of a training step of this network."""

    def __init__(self, size: int):
        super().__init__(size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.device.type != "cpu" or x.dim() != 4:
            return super().forward(x)
        return _ChannelsLastMaxPool.apply(x, self.kernel_size)


def _block(*layers: nn.Module, norm: Optional[nn.Module], pool: Optional[nn.Module], gain: float) -> nn.Sequential:
    parts = [layers[0], *layers[1:]]
    parts += [m for m in (norm, pool) if m is not None]
    if gain != 1.0:
        parts.append(Scale(gain))
    return nn.Sequential(*parts)


class ConvSNN(nn.Module):
    """Conv SNN for 28x28 images; ``neuron`` is a norse_core layer class (e.g. ``snn.LIF``) and
    ``neuron_p`` its parameters, or those of one layer (``layer_p``, by name: :data:`SPIKING_LAYERS`)."""

    def __init__(
        self,
        neuron: type,
        neuron_p,
        readout_p: snn.LIParameters = snn.LIParameters(),
        encoder: Optional[nn.Module] = None,
        seq_length: int = 8,
        channels: Sequence[int] = (32, 64),
        hidden: int = 256,
        num_classes: int = 10,
        dt: float = 0.001,
        decoder: str = "max",
        input_scale: float = 1.0,
        gain: float = 1.0,
        batch_norm: bool = True,
        layer_p: Optional[Mapping[str, Any]] = None,
        trainable: Optional[Sequence[str]] = None,
        trainable_per: str = "layer",
        dropout: float = 0.0,
    ):
        super().__init__()
        if len(channels) not in (2, 3):
            raise ValueError(f"channels must have two or three entries (conv1, conv2[, conv3]), got {list(channels)}")
        layers = spiking_layers(channels)
        layer_p = dict(layer_p or {})
        if set(layer_p) - set(layers):
            raise ValueError(f"layer_p names no spiking layer: {sorted(set(layer_p) - set(layers))}; "
                             f"the layers: {', '.join(layers)}")
        p = {name: layer_p.get(name, neuron_p) for name in layers}
        if decoder not in DECODERS:
            raise ValueError(f"decoder must be one of {', '.join(DECODERS)}, got {decoder!r}")
        if not isinstance(seq_length, int) or seq_length < 1:
            raise ValueError(f"seq_length must be a positive int, got {seq_length!r}")
        c1, c2, c3 = (*channels, None)[:3]
        self.encoder = encoder
        self.seq_length = seq_length
        self.decoder = decoder
        self.input_scale = input_scale
        norm2d = (lambda c: nn.BatchNorm2d(c)) if batch_norm else (lambda c: None)
        norm1d = (lambda c: nn.BatchNorm1d(c)) if batch_norm else (lambda c: None)
        c_last = c3 or c2
        shapes = {"conv1": (c1, 12, 12), "conv2": (c2, 4, 4), "conv3": (c3, 4, 4), "fc1": (hidden,)}  # for 28x28 images
        options = {name: trainable_options(p[name], trainable or (), trainable_per, shapes[name]) for name in layers}
        self.stem = _block(nn.Conv2d(1, c1, 5), norm=norm2d(c1), pool=FastMaxPool2d(2), gain=gain)
        drop = (lambda: [TimeDropout(dropout)]) if dropout else (lambda: [])  # TimeDropout checks the value
        conv3 = [] if c3 is None else [  # created first: the weights' initial values stay those of earlier runs
            ("conv3", snn.Lift(_block(nn.Conv2d(c2, c3, 3, padding=1), norm=norm2d(c3), pool=None, gain=gain)))]
        modules: List[nn.Module] = []
        self._spiking_index: Dict[str, int] = {}
        for name, *block in (
            ("conv1",),
            ("conv2", snn.Lift(_block(nn.Conv2d(c1, c2, 5), norm=norm2d(c2), pool=FastMaxPool2d(2), gain=gain))),
            *conv3,
            ("fc1", *drop(),
             snn.Lift(_block(nn.Flatten(), nn.Linear(c_last * 16, hidden), norm=norm1d(hidden), pool=None, gain=gain))),
        ):
            modules += block
            self._spiking_index[name] = len(modules)
            modules.append(neuron(p[name], dt=dt, **options[name]))
        modules += [*drop(), snn.Lift(nn.Linear(hidden, num_classes)), snn.LI(readout_p, dt=dt)]
        self.body = snn.SequentialState(*modules)

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """Input currents of the first neuron layer, ``(T, B, C1, 12, 12)``."""
        if self.encoder is None:  # constant input: the stem runs once
            current = self.stem(images * self.input_scale)
            return current.unsqueeze(0).expand(self.seq_length, *current.shape)
        return snn.Lift(self.stem)(self.encoder(images * self.input_scale))

    def forward(self, images: torch.Tensor, record: bool = False) -> Tuple[torch.Tensor, Dict[str, torch.Tensor]]:
        """Returns ``(logits (B, classes), out)``. ``out`` holds the mean spike rate of every
        spiking layer (``rate/<layer>``) and, with ``record=True``, their spikes
        (``spikes/<layer>``, ``(T, B, ...)``) and the voltages of ``fc1`` and the readout."""
        if images.dim() != 4:
            raise ValueError(f"images must be (batch, channels, height, width), got {tuple(images.shape)}")
        fc1 = self.body[self._spiking_index["fc1"]]
        self.body.return_hidden, fc1.record_states = True, record
        try:
            hidden, states = self.body(self.encode(images))
        finally:
            self.body.return_hidden, fc1.record_states = False, False
        voltages = hidden[-1]
        out: Dict[str, torch.Tensor] = {}
        for name, index in self._spiking_index.items():
            out[f"rate/{name}"] = hidden[index].detach().mean()
            if record:
                out[f"spikes/{name}"] = hidden[index].detach()
        if record:
            if hasattr(states[self._spiking_index["fc1"]], "v"):
                out["voltage/fc1"] = states[self._spiking_index["fc1"]].v.detach()
            out["voltage/readout"] = voltages.detach()
        logits = voltages.max(0).values if self.decoder == "max" else voltages.mean(0)
        return logits, out

    def spiking_layers(self) -> List[str]:
        return list(self._spiking_index)

    def layer(self, name: str) -> nn.Module:
        """The spiking layer ``name`` (one of :meth:`spiking_layers`)."""
        return self.body[self._spiking_index[name]]
