"""Export to and import from NIR, the Neuromorphic Intermediate Representation.

`to_nir(module, sample_input, dt)` turns a chain of layers into a `nir.NIRGraph`;
`from_nir(graph, dt)` builds a `SequentialState` back from one (or, for graphs that are
not a chain, a `nirtorch` graph executor). Both need the optional packages `nir` (and
`nirtorch` for graphs that are not chains): `pip install 'norse-core[nir]'`.

**Time convention.** A NIR neuron is an ODE. A graph exported at step `dt` describes the
forward-Euler discretisation of those ODEs at `dt` with every input held constant over a
step, and the synaptic current updated before the membrane (the order norse_core's LIF and
snnTorch's `Synaptic` use):

```
I_t = I_{t-1} + dt/tau_syn * (-I_{t-1} + w_in * S_t)          (CubaLIF, CubaLI)
v_t = v_{t-1} + dt/tau_mem * ((v_leak - v_{t-1}) + r * I_t)   (r * S_t for LIF, LI)
v_t = v_{t-1} + dt * r * S_t                                  (IF)
z_t = 1[v_t > v_threshold];  v_t -> v_reset where z_t = 1
```

Under it the norse_core cells are exact, with time constants `tau = 1/tau_*_inv` (in the
unit of `dt`, seconds by default):

| norse_core | NIR | parameters |
|---|---|---|
| `LIFBoxCell` | `LIF` | `tau = 1/tau_mem_inv`, `r = 1`, `v_leak`, `v_threshold = v_th`, `v_reset` |
| `LIFCell` | `CubaLIF` | `tau_syn = 1/tau_syn_inv`, `tau_mem = 1/tau_mem_inv`, `r = 1`, `w_in = tau_syn/dt`, `v_leak`, `v_threshold = v_th`, `v_reset` |
| `LIBoxCell` | `LI` | `tau = 1/tau_mem_inv`, `r = 1`, `v_leak` |
| `LICell` | `CubaLI` | `tau_syn`, `tau_mem`, `r = 1`, `w_in = tau_syn/dt`, `v_leak` |
| `IAFCell` | `IF` | `r = 1/dt`, `v_threshold = v_th`, `v_reset` |

A layer over time (`LIF`, `LI`, ...) exports as its cell. On import the inverse holds; an
input factor that is not 1 (`r` for LIF/LI, `r*w_in*dt/tau_syn` for CubaLIF/CubaLI, `r*dt`
for IF) becomes a `Scale` module in front of the cell, which is exact because the current
only enters the voltage linearly. The surrogate gradient (`method`, `alpha`) is not part of
NIR: it travels in the node metadata (`norse_core.method`, `norse_core.alpha`) and falls
back to `"super"`, 100 for graphs from other tools.

What NIR cannot express raises `NIRConversionError` (with `strict=False`: a
`NIRConversionWarning`, and the nearest expressible node): a reset other than to
`v_reset` (`reset_method="subtract"` of LIFBox, LIF and IAF), max pooling, batch norm or dropout in
training mode, and every neuron model other than the five above.
"""

from __future__ import annotations

import math
import pathlib
import warnings
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from norse_core.functional.iaf import IAFParameters, iaf_feed_forward_step
from norse_core.functional.li import LIParameters, li_feed_forward_step, li_step
from norse_core.functional.li_box import LIBoxParameters, li_box_step
from norse_core.functional.lif import LIFParameters, lif_feed_forward_step
from norse_core.functional.lif_box import LIFBoxParameters, lif_box_feed_forward_step
from norse_core.module.iaf import IAF, IAFCell
from norse_core.module.li import LI, LICell, LILinearCell
from norse_core.module.li_box import LIBox, LIBoxCell
from norse_core.module.lif import LIF, LIFCell
from norse_core.module.lif_box import LIFBox, LIFBoxCell
from norse_core.module.sequential import Lift, SequentialState
from norse_core.module.snn import SNNCell

__all__ = [
    "to_nir", "from_nir", "Scale", "SumPool2d", "NIRConversionError", "NIRConversionWarning",
]

#: metadata keys written on neuron nodes and on the graph
META_PREFIX = "norse_core."
DEFAULT_DT = 0.001
NIR_NEURONS = ("LIF", "CubaLIF", "LI", "CubaLI", "IF")

CustomMap = Mapping[type, Callable[[nn.Module, Tuple[int, ...]], Any]]


class NIRConversionError(ValueError):
    """A module or node has no exact NIR / norse_core counterpart."""


class NIRConversionWarning(UserWarning):
    """A conversion changed something because ``strict=False`` was passed."""


def _nir():
    try:
        import nir
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError(
            "NIR export/import needs the 'nir' package: pip install 'norse-core[nir]' "
            "(or pip install nir nirtorch)"
        ) from error
    return nir


# -- modules NIR nodes map to that torch does not have -----------------------------------


class Scale(nn.Module):
    """Multiplies its input elementwise by ``scale`` (a buffer; NIR's ``Scale`` node).

    ``from_nir`` also puts one in front of a neuron whose input factor is not 1."""

    def __init__(self, scale: Union[float, torch.Tensor, np.ndarray], dtype: Optional[torch.dtype] = None):
        super().__init__()
        if isinstance(scale, torch.Tensor):
            scale = scale.detach().cpu().numpy()
        self.register_buffer("scale", torch.as_tensor(np.array(scale), dtype=dtype or torch.get_default_dtype()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale

    def extra_repr(self) -> str:
        return f"shape={tuple(self.scale.shape)}"


class SumPool2d(nn.Module):
    """2-D sum pooling (NIR's ``SumPool2d``): the sum over each window, zero padding."""

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        self.kernel_size = nn.modules.utils._pair(kernel_size)
        self.stride = nn.modules.utils._pair(kernel_size if stride is None else stride)
        self.padding = nn.modules.utils._pair(padding)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(x, self.kernel_size, self.stride, self.padding, divisor_override=1)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


# -- export -------------------------------------------------------------------------------


def _unexpressible(message: str, strict: bool) -> None:
    if strict:
        raise NIRConversionError(message + " (pass strict=False to export anyway, with a warning)")
    warnings.warn(message, NIRConversionWarning, stacklevel=4)


def _chain(module: Any, path: str, custom_map: CustomMap) -> Iterator[Tuple[str, nn.Module]]:
    """The leaves of a chain of (nested) containers, in order, with their paths."""
    join = lambda name: f"{path}.{name}" if path else str(name)  # noqa: E731
    if isinstance(module, (list, tuple)):
        for index, child in enumerate(module):
            yield from _chain(child, join(index), custom_map)
    elif isinstance(module, (dict, nn.ModuleDict)):
        for key, child in module.items():
            yield from _chain(child, join(key), custom_map)
    elif not isinstance(module, nn.Module):
        raise TypeError(f"to_nir: expected a torch.nn.Module or a list of them, got {type(module).__name__} at {path or 'top level'}")
    elif any(isinstance(module, kind) for kind in custom_map):
        yield path, module
    elif isinstance(module, Lift):
        yield from _chain(module.lifted_module, path, custom_map)
    elif isinstance(module, nn.Sequential):
        for name, child in module.named_children():
            yield from _chain(child, join(name), custom_map)
    else:
        yield path, module


def _array(value: Any, shape: Tuple[int, ...], what: str) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().to(torch.float64).numpy()
    value = np.asarray(value, dtype=np.float64)
    try:
        return np.broadcast_to(value, shape).copy()
    except ValueError:
        raise NIRConversionError(f"{what} has shape {value.shape}, which does not broadcast to the layer's shape {shape}") from None


def _tau(inverse: Any, shape: Tuple[int, ...], ratio: float, what: str) -> np.ndarray:
    """``ratio / inverse`` with ``ratio = dt / cell.dt``: NIR's time constant for ``dt``."""
    inverse = _array(inverse, shape, what)
    if not np.all(np.isfinite(inverse)) or np.any(inverse <= 0):
        raise NIRConversionError(f"{what} must be positive and finite for NIR, got values in [{inverse.min()}, {inverse.max()}]")
    return ratio / inverse


def _tensor_numpy(t: Optional[torch.Tensor]) -> Optional[np.ndarray]:
    return None if t is None else t.detach().cpu().numpy().copy()


def _neuron_metadata(cell: SNNCell, p: Any) -> Dict[str, Any]:
    return {
        META_PREFIX + "module": type(cell).__name__,
        META_PREFIX + "method": str(p.method),
        META_PREFIX + "alpha": float(p.alpha),
    }


def _check_reset(p: Any, name: str, strict: bool) -> None:
    """NIR's spiking neurons reset to ``v_reset``: any other ``reset_method`` is unexpressible."""
    method = p.reset_method
    if method != "value":
        how = "by subtraction" if method == "subtract" else "by its own function"
        _unexpressible(
            f"to_nir: {name} resets {how} (reset_method={method!r}); NIR's neurons reset to v_reset. "
            "It would be exported with a reset to v_reset", strict)


def _export_neuron(cell: SNNCell, shape: Tuple[int, ...], dt: float, path: str, strict: bool) -> List[Any]:
    nir = _nir()
    p = cell.p
    step = type(cell).step
    ratio = dt / cell.dt
    name = f"{path} ({type(cell).__name__})"
    if ratio != 1.0:
        warnings.warn(
            f"to_nir: {name} runs with dt={cell.dt} but the graph has dt={dt}; its time constants "
            f"are rescaled by {ratio:g} so that the graph's Euler steps reproduce the cell exactly",
            NIRConversionWarning, stacklevel=3,
        )
    if isinstance(cell, LIFBoxCell) and step is lif_box_feed_forward_step:
        _check_reset(p, name, strict)
        meta = _neuron_metadata(cell, p)
        meta[META_PREFIX + "reset_method"] = str(p.reset_method)
        return [nir.LIF(
            tau=_tau(p.tau_mem_inv, shape, ratio, f"{name}.tau_mem_inv"), r=np.ones(shape),
            v_leak=_array(p.v_leak, shape, f"{name}.v_leak"), v_threshold=_array(p.v_th, shape, f"{name}.v_th"),
            v_reset=_array(p.v_reset, shape, f"{name}.v_reset"), metadata=meta,
        )]
    if isinstance(cell, LIFCell) and step is lif_feed_forward_step:
        _check_reset(p, name, strict)
        tau_syn = _tau(p.tau_syn_inv, shape, ratio, f"{name}.tau_syn_inv")
        return [nir.CubaLIF(
            tau_syn=tau_syn, tau_mem=_tau(p.tau_mem_inv, shape, ratio, f"{name}.tau_mem_inv"),
            r=np.ones(shape), v_leak=_array(p.v_leak, shape, f"{name}.v_leak"),
            v_threshold=_array(p.v_th, shape, f"{name}.v_th"), v_reset=_array(p.v_reset, shape, f"{name}.v_reset"),
            w_in=tau_syn / dt, metadata=_neuron_metadata(cell, p),
        )]
    if isinstance(cell, LIBoxCell) and step is li_box_step:
        return [nir.LI(
            tau=_tau(p.tau_mem_inv, shape, ratio, f"{name}.tau_mem_inv"), r=np.ones(shape),
            v_leak=_array(p.v_leak, shape, f"{name}.v_leak"), metadata={META_PREFIX + "module": type(cell).__name__},
        )]
    if isinstance(cell, (LICell, LILinearCell)) and step in (li_feed_forward_step, li_step):
        nodes: List[Any] = []
        if isinstance(cell, LILinearCell):
            nodes.append(nir.Linear(weight=_tensor_numpy(cell.input_weights)))
            shape = (*shape[:-1], cell.hidden_size)
        tau_syn = _tau(p.tau_syn_inv, shape, ratio, f"{name}.tau_syn_inv")
        nodes.append(nir.CubaLI(
            tau_syn=tau_syn, tau_mem=_tau(p.tau_mem_inv, shape, ratio, f"{name}.tau_mem_inv"),
            r=np.ones(shape), v_leak=_array(p.v_leak, shape, f"{name}.v_leak"), w_in=tau_syn / dt,
            metadata={META_PREFIX + "module": type(cell).__name__},
        ))
        return nodes
    if isinstance(cell, IAFCell) and step is iaf_feed_forward_step:
        _check_reset(p, name, strict)
        return [nir.IF(
            r=np.full(shape, 1.0 / dt), v_threshold=_array(p.v_th, shape, f"{name}.v_th"),
            v_reset=_array(p.v_reset, shape, f"{name}.v_reset"), metadata=_neuron_metadata(cell, p),
        )]
    raise NIRConversionError(
        f"to_nir: {name} has no NIR equivalent; exportable neurons are LIFBoxCell/LIFBox (LIF), "
        "LIFCell/LIF (CubaLIF), LIBoxCell/LIBox (LI), LICell/LI/LILinearCell (CubaLI) and IAFCell/IAF (IF); "
        "recurrent cells and the other models are not"
    )


def _pair(value: Any) -> np.ndarray:
    return np.array(nn.modules.utils._pair(value), dtype=np.int64)


def _fold_batch_norm(norm: nn.modules.batchnorm._BatchNorm, previous: Any, shape: Tuple[int, ...], path: str, strict: bool):
    """``(scale, shift)`` of a batch norm in eval mode; ``previous`` (a NIR node or None)
    gets them folded in when it is an Affine, Linear or Conv node, else a node is returned."""
    nir = _nir()
    name = f"{path} ({type(norm).__name__})"
    if norm.training and norm.track_running_stats:
        _unexpressible(f"to_nir: {name} is in training mode (batch statistics); call .eval() to export it "
                       "with its running statistics", strict)
    if norm.running_mean is None or norm.running_var is None:
        raise NIRConversionError(f"to_nir: {name} has no running statistics (track_running_stats=False), so it "
                                 "is not a fixed affine map NIR could express")
    scale = 1.0 / torch.sqrt(norm.running_var.detach().double() + norm.eps)
    shift = -norm.running_mean.detach().double() * scale
    if norm.affine:
        scale = scale * norm.weight.detach().double()
        shift = shift * norm.weight.detach().double() + norm.bias.detach().double()
    scale_np, shift_np = scale.cpu().numpy(), shift.cpu().numpy()
    channels = scale_np.shape[0]
    # the batch norm's channel axis is the first after the batch: the output features of a
    # Linear only when its output is (batch, features), the output channels of a convolution
    foldable = (
        isinstance(previous, (nir.Affine, nir.Linear)) and len(shape) == 1 and previous.weight.shape[-2] == channels
    ) or (isinstance(previous, (nir.Conv1d, nir.Conv2d)) and previous.weight.shape[0] == channels)
    if foldable:
        dtype = previous.weight.dtype
        weight = previous.weight.astype(np.float64)
        bias = getattr(previous, "bias", None)
        bias = np.zeros(channels) if bias is None else np.broadcast_to(np.asarray(bias, np.float64), (channels,))
        weight = weight * scale_np.reshape((channels,) + (1,) * (weight.ndim - 1))
        bias = bias * scale_np + shift_np
        if isinstance(previous, nir.Linear):
            return "replace", nir.Affine(weight=weight.astype(dtype), bias=bias.astype(dtype))
        previous.weight = weight.astype(dtype)
        previous.bias = bias.astype(dtype)
        return "folded", None
    dtype = norm.running_mean.detach().cpu().numpy().dtype
    if len(shape) == 1:  # BatchNorm1d on (batch, features): an elementwise affine map
        return "node", nir.Affine(weight=np.diag(scale_np).astype(dtype), bias=shift_np.astype(dtype))
    if len(shape) == 3 and isinstance(norm, nn.BatchNorm2d):  # a 1x1 convolution with a diagonal kernel
        return "node", nir.Conv2d(
            input_shape=tuple(shape[1:]), weight=np.diag(scale_np).reshape(channels, channels, 1, 1).astype(dtype),
            stride=1, padding=0, dilation=1, groups=1, bias=shift_np.astype(dtype),
        )
    raise NIRConversionError(f"to_nir: {name} on inputs of shape {shape} does not follow a Linear or Conv layer "
                             "it could be folded into")


def _export_stateless(module: nn.Module, shape: Tuple[int, ...], path: str, strict: bool) -> List[Any]:
    nir = _nir()
    name = f"{path} ({type(module).__name__})"
    if isinstance(module, nn.Linear):
        weight = _tensor_numpy(module.weight)
        if module.bias is None:
            return [nir.Linear(weight=weight)]
        return [nir.Affine(weight=weight, bias=_tensor_numpy(module.bias))]
    if isinstance(module, (nn.Conv1d, nn.Conv2d)):
        if module.groups != 1:
            raise NIRConversionError(f"to_nir: {name} has groups={module.groups}; NIR {nir.__version__}'s convolution "
                                     "shapes assume groups=1, so grouped convolutions do not export")
        if module.padding_mode != "zeros":
            raise NIRConversionError(f"to_nir: {name} pads with {module.padding_mode!r}; NIR convolutions pad with zeros")
        weight = _tensor_numpy(module.weight)
        bias = np.zeros(module.out_channels, dtype=weight.dtype) if module.bias is None else _tensor_numpy(module.bias)
        padding = module.padding if isinstance(module.padding, str) else tuple(module.padding)
        if isinstance(module, nn.Conv1d):
            return [nir.Conv1d(
                input_shape=int(shape[-1]), weight=weight, stride=int(module.stride[0]),
                padding=padding if isinstance(padding, str) else int(padding[0]),
                dilation=int(module.dilation[0]), groups=module.groups, bias=bias,
            )]
        return [nir.Conv2d(
            input_shape=tuple(int(s) for s in shape[1:]), weight=weight, stride=tuple(module.stride),
            padding=padding, dilation=tuple(module.dilation), groups=module.groups, bias=bias,
        )]
    if isinstance(module, nn.Flatten):
        batched = len(shape) + 1
        start = module.start_dim % batched
        end = module.end_dim % batched
        if start == 0:
            raise NIRConversionError(f"to_nir: {name} flattens the batch dimension (start_dim={module.start_dim})")
        end = end - 1
        return [nir.Flatten(input_type={"input": np.array(shape)}, start_dim=start - 1,
                            end_dim=-1 if end == len(shape) - 1 else end)]
    if isinstance(module, nn.AvgPool2d):
        if module.ceil_mode:
            raise NIRConversionError(f"to_nir: {name} uses ceil_mode=True, which NIR's AvgPool2d cannot express")
        if module.divisor_override is not None:
            raise NIRConversionError(f"to_nir: {name} uses divisor_override, which NIR's AvgPool2d cannot express")
        if not module.count_include_pad and np.any(_pair(module.padding) > 0):
            raise NIRConversionError(f"to_nir: {name} pads with count_include_pad=False, which NIR's AvgPool2d cannot express")
        stride = module.kernel_size if module.stride is None else module.stride
        return [nir.AvgPool2d(kernel_size=_pair(module.kernel_size), stride=_pair(stride), padding=_pair(module.padding))]
    if isinstance(module, SumPool2d):
        return [nir.SumPool2d(kernel_size=_pair(module.kernel_size), stride=_pair(module.stride), padding=_pair(module.padding))]
    if isinstance(module, nn.LPPool2d):
        if module.norm_type != 1 or module.ceil_mode:
            raise NIRConversionError(f"to_nir: {name} is an L{module.norm_type} pooling; only norm_type=1 (sum pooling, "
                                     "ceil_mode=False) exports, as NIR's SumPool2d")
        stride = module.kernel_size if module.stride is None else module.stride
        return [nir.SumPool2d(kernel_size=_pair(module.kernel_size), stride=_pair(stride), padding=np.zeros(2, dtype=np.int64))]
    if isinstance(module, Scale):
        return [nir.Scale(scale=_array(module.scale, shape, f"{name}.scale"))]
    if isinstance(module, (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AdaptiveMaxPool2d)):
        raise NIRConversionError(
            f"to_nir: {name} has no NIR equivalent: NIR has no max pooling (only AvgPool2d and SumPool2d). "
            "Train with nn.AvgPool2d or norse_core.nir.SumPool2d to export the network"
        )
    if isinstance(module, (nn.Dropout, nn.Dropout1d, nn.Dropout2d)):
        if module.training and module.p > 0:
            _unexpressible(f"to_nir: {name} is in training mode; call .eval() to export it as the identity", strict)
        return []
    if isinstance(module, nn.Identity):
        return []
    raise NIRConversionError(
        f"to_nir: {name} has no NIR mapping. Exportable: Linear, Conv1d, Conv2d, Flatten, AvgPool2d, "
        "LPPool2d(norm_type=1) / SumPool2d, BatchNorm1d/2d (folded), Dropout/Identity (skipped), Scale, "
        "the LIF/LI/IAF cells and layers, and the containers SequentialState, nn.Sequential and Lift "
        "(pass custom_map={Type: fn(module, input_shape) -> nir node} for your own)"
    )


def _node_name(path: str, kind: str, taken: Dict[str, Any]) -> str:
    base = (path.replace(".", "_") if path else kind.lower()) or kind.lower()
    if base in ("input", "output"):
        base = f"{base}_{kind.lower()}"
    name, index = base, 1
    while name in taken:
        name, index = f"{base}_{index}", index + 1
    return name


def to_nir(
    module: Union[nn.Module, Sequence[nn.Module], Mapping[str, nn.Module]],
    sample_input: torch.Tensor,
    dt: Optional[float] = None,
    *,
    custom_map: Optional[CustomMap] = None,
    strict: bool = True,
) -> Any:
    """Exports a chain of layers as a ``nir.NIRGraph``.

    Args:
        module: a module (``SequentialState``, ``nn.Sequential``, ``Lift``, a cell or layer, any
            nesting of these), or a list or dict of modules applied one after the other (dict
            keys name the nodes). Modules with their own ``forward`` logic (e.g.
            ``tasks.mnist.model.ConvSNN``) are not chains: pass their parts in order,
            ``to_nir({"stem": net.stem, "body": net.body}, ...)``.
        sample_input: **one time step** of input with a batch dimension, ``(batch, ...)``; its
            shape without the batch dimension becomes the graph's input type.
        dt: the time step the graph describes (see the module docstring for the convention).
            ``None`` takes the ``dt`` of the neuron modules (they must agree), else 0.001.
            A cell whose ``dt`` differs gets its time constants rescaled, with a warning.
        custom_map: ``{module type: fn(module, input_shape) -> nir node or list of nodes}``
            for modules this function does not know (checked first).
        strict: raise `NIRConversionError` for what NIR cannot express exactly
            (default); ``False`` exports the nearest expressible node with a warning.

    Batch norms (in eval mode) are folded into the Linear/Conv before them; layers over time
    export as their cells; ``Dropout``/``Identity`` are skipped. The graph's metadata holds
    ``dt``; neuron nodes carry the surrogate (``norse_core.method``, ``norse_core.alpha``).
    """
    nir = _nir()
    custom_map = dict(custom_map or {})
    if not isinstance(sample_input, torch.Tensor) or sample_input.dim() < 2:
        got = tuple(sample_input.shape) if isinstance(sample_input, torch.Tensor) else type(sample_input).__name__
        raise ValueError(f"to_nir: sample_input must be one time step with a batch dimension, (batch, ...), got {got}")
    leaves = list(_chain(module, "", custom_map))
    if dt is None:
        dts = {leaf.dt for _, leaf in leaves if isinstance(leaf, SNNCell)}
        if len(dts) > 1:
            raise ValueError(f"to_nir: the neuron modules have different dt ({sorted(dts)}); pass dt= explicitly")
        dt = dts.pop() if dts else DEFAULT_DT
    if not isinstance(dt, (int, float)) or not dt > 0 or not math.isfinite(dt):
        raise ValueError(f"to_nir: dt must be a positive float, got {dt!r}")
    dt = float(dt)

    x = sample_input.detach()
    input_shape = tuple(x.shape[1:])
    nodes: Dict[str, Any] = {"input": nir.Input(input_type=np.array(input_shape))}
    order: List[str] = ["input"]
    last_from: Optional[str] = None  # the node a following batch norm may fold into
    with torch.no_grad():
        for path, leaf in leaves:
            shape = tuple(x.shape[1:])
            custom = next((fn for kind, fn in custom_map.items() if isinstance(leaf, kind)), None)
            if custom is not None:
                out = _run_stateless(leaf, x, path)
                new = custom(leaf, shape)
                new = list(new) if isinstance(new, (list, tuple)) else [new]
                x = out
            elif isinstance(leaf, nn.modules.batchnorm._BatchNorm):
                previous = nodes[last_from] if last_from is not None else None
                action, node = _fold_batch_norm(leaf, previous, shape, path, strict)
                if action == "replace":
                    node.metadata = dict(previous.metadata)
                    nodes[last_from] = node
                new = [node] if action == "node" else []
                # the exported map: running statistics, as in eval mode
                x = F.batch_norm(x, leaf.running_mean, leaf.running_var, leaf.weight, leaf.bias, False, 0.0, leaf.eps)
            elif isinstance(leaf, SNNCell):
                new = _export_neuron(leaf, shape, dt, path, strict)
                out_shape = (*x.shape[:-1], leaf.hidden_size) if isinstance(leaf, LILinearCell) else x.shape
                x = torch.zeros(out_shape, dtype=x.dtype, device=x.device)
            else:
                if len(list(leaf.children())) > 0 and not isinstance(leaf, (Scale, SumPool2d)):
                    raise NIRConversionError(
                        f"to_nir: {path or 'the module'} ({type(leaf).__name__}) is not a chain container "
                        "(SequentialState, nn.Sequential, Lift); pass its layers in order instead, e.g. "
                        "to_nir({\"stem\": net.stem, \"body\": net.body}, sample_input)"
                    )
                out = _run_stateless(leaf, x, path)  # first: a wrong sample_input fails here, clearly
                new = _export_stateless(leaf, shape, path, strict)
                x = out
            for index, node in enumerate(new):
                kind = type(node).__name__
                name = _node_name(path if len(new) == 1 else f"{path}.{index}", kind, nodes)
                nodes[name] = node
                order.append(name)
                last_from = name  # a batch norm right after it folds into it
    nodes["output"] = nir.Output(output_type=np.array(tuple(x.shape[1:])))
    order.append("output")
    edges = list(zip(order[:-1], order[1:]))
    metadata = {"dt": dt, META_PREFIX + "version": _version(), "source": "norse_core"}
    try:
        return nir.NIRGraph(nodes=nodes, edges=edges, metadata=metadata, type_check=True)
    except ValueError as error:
        raise NIRConversionError(
            f"to_nir: the exported graph does not type-check ({error}); sample_input must be one time step "
            f"(batch, ...) of what the first layer takes, got shape {tuple(sample_input.shape)}"
        ) from error


def _run_stateless(leaf: nn.Module, x: torch.Tensor, path: str) -> torch.Tensor:
    try:
        out = leaf(x)
    except Exception as error:
        raise NIRConversionError(
            f"to_nir: {path} ({type(leaf).__name__}) fails on a step of shape {tuple(x.shape)}: {error}. "
            "sample_input must be one time step (batch, ...)"
        ) from error
    if not isinstance(out, torch.Tensor):
        raise NIRConversionError(f"to_nir: {path} ({type(leaf).__name__}) does not return a tensor")
    return out


def _version() -> str:
    from norse_core import __version__

    return __version__


# -- import -------------------------------------------------------------------------------


def _value(array: Any, dtype: torch.dtype) -> Union[float, torch.Tensor]:
    """A Python float when every entry is equal, else a tensor (per-neuron parameters)."""
    array = np.asarray(array, dtype=np.float64)
    if array.size == 0:
        raise NIRConversionError("from_nir: empty parameter array")
    first = array.reshape(-1)[0]
    if np.all(array == first):
        return float(first)
    return torch.as_tensor(array, dtype=dtype)


def _inverse(tau: Any, dtype: torch.dtype, what: str) -> Union[float, torch.Tensor]:
    tau = np.asarray(tau, dtype=np.float64)
    if np.any(~(tau > 0)):
        raise NIRConversionError(f"from_nir: {what} must be positive, got values in [{tau.min()}, {tau.max()}]")
    return _value(1.0 / tau, dtype)


def _meta(node: Any, key: str, default: Any) -> Any:
    value = (getattr(node, "metadata", None) or {}).get(META_PREFIX + key, default)
    if isinstance(value, bytes):
        value = value.decode("utf8")
    if isinstance(value, np.generic):
        value = value.item()
    return value


def _input_scale(factor: Any, dtype: torch.dtype) -> Optional[Scale]:
    factor = np.asarray(factor, dtype=np.float64)
    if np.allclose(factor, 1.0, rtol=1e-9, atol=0.0):
        return None
    return Scale(factor, dtype=dtype)


def _import_node(
    node: Any, name: str, dt: float, over_time: bool, dtype: torch.dtype, norse: bool = False
) -> List[nn.Module]:
    """The modules for one node; ``norse``: read the node in Norse 1.1.0's convention
    (``tau = dt/tau_inv``, inputs jump in unscaled: see :func:`from_nir`)."""
    nir = _nir()
    if norse:
        node = _norse_node_as_nir(node, dt)
    kind = type(node).__name__
    neuron_kwargs = lambda: {"method": str(_meta(node, "method", "super")), "alpha": float(_meta(node, "alpha", 100.0))}  # noqa: E731
    lift = (lambda m: Lift(m)) if over_time else (lambda m: m)  # noqa: E731

    def tensor(array: Any) -> torch.Tensor:
        return torch.as_tensor(np.array(array), dtype=dtype)

    if isinstance(node, (nir.Input, nir.Output)):
        return []
    if isinstance(node, (nir.Affine, nir.Linear)):
        weight = np.asarray(node.weight)
        if weight.ndim != 2:
            raise NIRConversionError(f"from_nir: node {name!r} ({kind}) has a weight of shape {weight.shape}; only 2-D weights map to nn.Linear")
        bias = getattr(node, "bias", None)
        linear = nn.Linear(weight.shape[1], weight.shape[0], bias=bias is not None, dtype=dtype)
        with torch.no_grad():
            linear.weight.copy_(tensor(weight))
            if bias is not None:
                linear.bias.copy_(tensor(np.broadcast_to(bias, (weight.shape[0],))))
        return [lift(linear)]
    if isinstance(node, (nir.Conv1d, nir.Conv2d)):
        weight = np.asarray(node.weight)
        conv_type = nn.Conv1d if isinstance(node, nir.Conv1d) else nn.Conv2d
        ints = lambda v: int(np.asarray(v).reshape(-1)[0]) if conv_type is nn.Conv1d else tuple(int(i) for i in np.broadcast_to(np.asarray(v), (2,)))  # noqa: E731
        padding = node.padding
        if isinstance(padding, bytes):
            padding = padding.decode("utf8")
        if not isinstance(padding, str):
            padding = ints(padding)
        groups = int(np.asarray(node.groups))
        conv = conv_type(
            weight.shape[1] * groups, weight.shape[0], tuple(weight.shape[2:]), stride=ints(node.stride),
            padding=padding, dilation=ints(node.dilation), groups=groups, bias=True, dtype=dtype,
        )
        with torch.no_grad():
            conv.weight.copy_(tensor(weight))
            conv.bias.copy_(tensor(np.broadcast_to(np.asarray(node.bias), (weight.shape[0],))))
        return [lift(conv)]
    if isinstance(node, nir.Flatten):
        start, end = int(node.start_dim), int(node.end_dim)
        return [lift(nn.Flatten(start + 1 if start >= 0 else start, end + 1 if end >= 0 else end))]
    if isinstance(node, nir.AvgPool2d):
        return [lift(nn.AvgPool2d(tuple(_pair_of(node.kernel_size)), tuple(_pair_of(node.stride)), tuple(_pair_of(node.padding))))]
    if isinstance(node, nir.SumPool2d):
        return [lift(SumPool2d(tuple(_pair_of(node.kernel_size)), tuple(_pair_of(node.stride)), tuple(_pair_of(node.padding))))]
    if isinstance(node, nir.Scale):
        return [lift(Scale(np.asarray(node.scale), dtype=dtype))]
    if isinstance(node, nir.NIRGraph):
        return [from_nir(node, dt, over_time=over_time, dtype=dtype, convention="norse" if norse else "nir")]

    def neuron(scale: Any, cell_type: type, layer_type: type, p: Any) -> List[nn.Module]:
        modules: List[nn.Module] = []
        factor = _input_scale(scale, dtype)
        if factor is not None:
            modules.append(lift(factor))
        try:
            modules.append((layer_type if over_time else cell_type)(p, dt=dt))
        except ValueError as error:
            hint = ""
            if "Euler" in str(error):
                hint = f" (tau_*_inv = 1/tau: the node's time constants must be longer than dt = {dt}"
                hint += ")" if norse else "; a graph written by Norse 1.1.0's to_nir needs convention='norse')"
            raise NIRConversionError(f"from_nir: node {name!r} ({kind}): {error}{hint}") from error
        return modules

    if isinstance(node, nir.LIF):
        p = LIFBoxParameters(
            tau_mem_inv=_inverse(node.tau, dtype, f"{name}.tau"), v_leak=_value(node.v_leak, dtype),
            v_th=_value(node.v_threshold, dtype), v_reset=_value(node.v_reset, dtype), **neuron_kwargs(),
        )
        return neuron(node.r, LIFBoxCell, LIFBox, p)
    if isinstance(node, nir.CubaLIF):
        p = LIFParameters(
            tau_syn_inv=_inverse(node.tau_syn, dtype, f"{name}.tau_syn"), tau_mem_inv=_inverse(node.tau_mem, dtype, f"{name}.tau_mem"),
            v_leak=_value(node.v_leak, dtype), v_th=_value(node.v_threshold, dtype), v_reset=_value(node.v_reset, dtype),
            **neuron_kwargs(),
        )
        return neuron(np.asarray(node.r) * np.asarray(node.w_in) * dt / np.asarray(node.tau_syn, dtype=np.float64), LIFCell, LIF, p)
    if isinstance(node, nir.LI):
        p = LIBoxParameters(tau_mem_inv=_inverse(node.tau, dtype, f"{name}.tau"), v_leak=_value(node.v_leak, dtype))
        return neuron(node.r, LIBoxCell, LIBox, p)
    if isinstance(node, nir.CubaLI):
        p = LIParameters(
            tau_syn_inv=_inverse(node.tau_syn, dtype, f"{name}.tau_syn"), tau_mem_inv=_inverse(node.tau_mem, dtype, f"{name}.tau_mem"),
            v_leak=_value(node.v_leak, dtype),
        )
        return neuron(np.asarray(node.r) * np.asarray(node.w_in) * dt / np.asarray(node.tau_syn, dtype=np.float64), LICell, LI, p)
    if isinstance(node, nir.IF):
        p = IAFParameters(v_th=_value(node.v_threshold, dtype), v_reset=_value(node.v_reset, dtype), **neuron_kwargs())
        return neuron(np.asarray(node.r, dtype=np.float64) * dt, IAFCell, IAF, p)
    raise NIRConversionError(
        f"from_nir: node {name!r} is a NIR {kind}, which norse_core cannot run; supported: Affine, Linear, "
        f"Conv1d, Conv2d, Flatten, AvgPool2d, SumPool2d, Scale, {', '.join(NIR_NEURONS)} and subgraphs"
    )


#: Neuron nodes and their time-constant fields.
_TAU_FIELDS = {"LIF": ("tau",), "LI": ("tau",), "CubaLIF": ("tau_syn", "tau_mem"), "CubaLI": ("tau_syn", "tau_mem")}


def _norse_node_as_nir(node: Any, dt: float) -> Any:
    """A node written by Norse 1.1.0's ``to_nir`` restated in the NIR convention of this
    module (same neuron, same outputs). Norse writes ``tau = dt/tau_inv`` (for a 10 ms
    membrane at dt = 1 ms: 1e-5) and means the input to jump into a neuron unscaled
    (``r = 1``; CubaLIF with ``w_in = 1`` is its ``LIFCell``, whose input jumps into the
    current; IF with ``r = 1`` its ``IAFCell``, ``v = v + x``). So ``tau -> tau/dt``, and the
    input factors that :func:`from_nir` divides out again: CubaLIF/CubaLI ``w_in ->
    w_in*tau_syn/dt``, IF ``r -> r/dt``."""
    import copy

    kind = type(node).__name__
    if kind not in _TAU_FIELDS and kind != "IF":
        return node
    node = copy.copy(node)
    for field in _TAU_FIELDS.get(kind, ()):
        setattr(node, field, np.asarray(getattr(node, field), dtype=np.float64) / dt)
    if kind in ("CubaLIF", "CubaLI"):
        node.w_in = np.asarray(node.w_in, dtype=np.float64) * np.asarray(node.tau_syn) / dt
    if kind == "IF":
        node.r = np.asarray(node.r, dtype=np.float64) / dt
    return node


def _has_norse_core_metadata(graph: Any) -> bool:
    if "dt" in (getattr(graph, "metadata", None) or {}):
        return True
    nodes = graph.nodes.values() if hasattr(graph, "nodes") else [graph]
    return any(str(key).startswith(META_PREFIX) for node in nodes for key in (getattr(node, "metadata", None) or {}))


def _time_constants(graph: Any) -> List[Tuple[str, np.ndarray]]:
    nodes = graph.nodes.items() if hasattr(graph, "nodes") else [(type(graph).__name__, graph)]
    found = []
    for name, node in nodes:
        for field in _TAU_FIELDS.get(type(node).__name__, ()):
            found.append((f"{name}.{field}", np.asarray(getattr(node, field), dtype=np.float64)))
        if hasattr(node, "nodes"):
            found.extend((f"{name}.{inner}", tau) for inner, tau in _time_constants(node))
    return found


def _detect_convention(graph: Any, dt: float) -> str:
    """``"norse"`` when the graph has none of our metadata and every time constant is
    shorter than ``dt`` (no NIR graph meant for ``dt`` can have those: they cannot be
    integrated) but at least ``dt**2`` (integrable once read as Norse's ``dt/tau_inv``);
    else ``"nir"``."""
    if _has_norse_core_metadata(graph):
        return "nir"
    taus = _time_constants(graph)
    if taus and all(np.all(tau < dt) and np.all(tau >= dt * dt * (1 - 1e-6)) for _, tau in taus):
        return "norse"
    return "nir"


def _pair_of(value: Any) -> Tuple[int, int]:
    return tuple(int(v) for v in np.broadcast_to(np.asarray(value).reshape(-1), (2,)))


def _chain_order(graph: Any) -> Optional[List[str]]:
    """The node names from the Input to the Output when the graph is a simple chain, else None."""
    nir = _nir()
    inputs = [k for k, n in graph.nodes.items() if isinstance(n, nir.Input)]
    outputs = [k for k, n in graph.nodes.items() if isinstance(n, nir.Output)]
    if len(inputs) != 1 or len(outputs) != 1:
        return None
    succ: Dict[str, List[str]] = {k: [] for k in graph.nodes}
    pred: Dict[str, List[str]] = {k: [] for k in graph.nodes}
    for src, dst in graph.edges:
        succ[src].append(dst)
        pred[dst].append(src)
    if any(len(v) > 1 for v in succ.values()) or any(len(v) > 1 for v in pred.values()):
        return None
    order, node = [inputs[0]], inputs[0]
    while succ[node]:
        node = succ[node][0]
        if node in order:
            return None
        order.append(node)
    if node != outputs[0] or len(order) != len(graph.nodes):
        return None
    return order


def from_nir(
    graph: Any,
    dt: Optional[float] = None,
    *,
    over_time: bool = False,
    dtype: Optional[torch.dtype] = None,
    convention: str = "auto",
) -> nn.Module:
    """Builds norse_core modules from a NIR graph (or a path to a ``.nir`` file).

    Args:
        graph: a ``nir.NIRGraph``, a single NIR node, or a file name for ``nir.read``.
        dt: the time step to run at. ``None`` takes the graph's ``metadata["dt"]`` (written by
            `to_nir`), else 0.001. A ``dt`` that differs from the graph's runs the same
            ODEs at another step, so outputs change; this warns.
        over_time: ``False`` (default) builds cells, one call per time step:
            ``out, state = net(x_t, state)`` with ``x_t`` of shape ``(batch, ...)``. ``True``
            builds layers over time (``Lift`` around stateless modules, ``LIF`` instead of
            ``LIFCell``...) that take ``(time, batch, ...)``.
        dtype: dtype of weights and per-neuron parameters (default: torch's default dtype).
        convention: how the graph states time constants. ``"nir"``: the NIR convention of
            this module (``tau`` in seconds, ``tau_*_inv = 1/tau``). ``"norse"``: as Norse
            1.1.0's ``to_nir`` writes them, ``tau = dt/tau_*_inv`` with inputs jumping in
            unscaled (its graphs carry no ``dt``: pass the ``dt`` it exported at, default
            0.001). ``"auto"`` (default) reads a graph as Norse's when it has none of
            norse_core's metadata and every time constant is shorter than ``dt`` but at
            least ``dt**2`` (a NIR graph with such time constants cannot be run at ``dt``),
            and warns that it did; else as ``"nir"``.

    A neuron whose time constants cannot be integrated at ``dt`` (``dt/tau`` must be
    below 1; at most 1 for LIF and LI) raises ``NIRConversionError`` naming the node.

    A chain ``Input -> ... -> Output`` becomes a ``SequentialState``. Other topologies
    (branches, skip or recurrent connections) are wired by ``nirtorch.nir_to_torch`` with
    the same node mapping: the result is called once per step,
    ``out, state = net(x_t, state)`` with ``state`` a dict; ``over_time`` is not available.
    """
    nir = _nir()
    if isinstance(graph, (str, pathlib.Path)):
        graph = nir.read(graph)
    dtype = dtype or torch.get_default_dtype()
    metadata = getattr(graph, "metadata", None) or {}
    graph_dt = metadata.get("dt")
    graph_dt = float(graph_dt) if graph_dt is not None else None
    if dt is None:
        dt = graph_dt if graph_dt is not None else DEFAULT_DT
    elif graph_dt is not None and not math.isclose(dt, graph_dt, rel_tol=1e-9):
        warnings.warn(
            f"from_nir: the graph was exported at dt={graph_dt} and is imported at dt={dt}: the same ODEs at "
            "another step, so the outputs differ from the exporter's", NIRConversionWarning, stacklevel=2,
        )
    if not isinstance(dt, (int, float)) or not dt > 0:
        raise ValueError(f"from_nir: dt must be a positive float, got {dt!r}")
    dt = float(dt)
    if convention not in ("auto", "nir", "norse"):
        raise ValueError(f"from_nir: convention must be 'auto', 'nir' or 'norse', got {convention!r}")
    if convention == "auto":
        convention = _detect_convention(graph, dt)
        if convention == "norse":
            warnings.warn(
                f"from_nir: every time constant of this graph is shorter than dt = {dt}; reading it as written by "
                "Norse 1.1.0's to_nir (tau = dt/tau_inv, e.g. 1e-5 for a 10 ms membrane at dt = 1 ms). Pass "
                "convention='norse' (or 'nir') to choose", NIRConversionWarning, stacklevel=2,
            )
    norse = convention == "norse"
    if not isinstance(graph, nir.NIRGraph):
        modules = _import_node(graph, type(graph).__name__, dt, over_time, dtype, norse)
        return modules[0] if len(modules) == 1 else SequentialState(*modules)
    order = _chain_order(graph)
    if order is not None:
        modules = [m for name in order for m in _import_node(graph.nodes[name], name, dt, over_time, dtype, norse)]
        return SequentialState(*modules)
    if over_time:
        raise NIRConversionError(
            "from_nir: over_time=True needs a chain graph (Input -> ... -> Output); this graph branches or "
            "has recurrent edges, import it with over_time=False and step it"
        )
    return _import_graph_nirtorch(graph, dt, dtype, norse)


def _import_graph_nirtorch(graph: Any, dt: float, dtype: torch.dtype, norse: bool = False) -> nn.Module:
    nir = _nir()
    try:
        import nirtorch
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError(
            "from_nir: this graph is not a chain; wiring it needs the 'nirtorch' package: "
            "pip install 'norse-core[nir]'"
        ) from error

    def mapper(node: Any) -> nn.Module:
        modules = _import_node(node, type(node).__name__, dt, False, dtype, norse)
        if len(modules) == 1:
            return modules[0]
        return SequentialState(*modules)  # an input scale and its neuron, stepped together

    node_types = {type(node) for node in graph.nodes.values() if not isinstance(node, (nir.Input, nir.Output))}
    node_map = {kind: mapper for kind in node_types}
    return nirtorch.nir_to_torch(graph, node_map, dtype=dtype)
