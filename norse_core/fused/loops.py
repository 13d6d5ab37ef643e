"""The ``fused_loop`` implementations of the layers over time.

Each ``*_fused_loop(x, state, [w_in, w_rec,] p, dt)`` returns ``(outputs, final_state)``
exactly like the step-by-step loop of :class:`~norse_core.module.snn.SNN`, or
``NotImplemented`` (the layer then runs the step-by-step loop) when:

* a parameter is a tensor that requires a gradient (trainable parameters: the reference
  loop's autograd graph gives their gradients), or
* a tensor parameter has another dtype than the input, or would broadcast the state to a
  larger shape, or a state tensor has another dtype/device than the input, or ``T = 0``.

Backends: the compiled C++ loops (CPU; LIF, LIFBox, IAF, LI, LIBox, LSNN; float32/float64,
built-in Heaviside-forward surrogates, Python-number parameters; once built), Triton kernels
(CUDA tensors; LIF, LIFBox; same conditions), otherwise the portable PyTorch kernels of
:mod:`norse_core.fused.portable` (every model, dtype and device), which handle every
registered surrogate: user-registered ones, and the stochastic ``logistic`` one, whose forward
samples through the registered spike function exactly as the step loop does (same random
numbers in the same order), with the registered derivative in backward. Recurrent LIF and
LSNN layers have C++ loops too (CPU; parameters may be per-neuron tensors; chosen automatically
up to ``RECURRENT_CPP_MAX_NEURONS`` hidden neurons); IAFRecurrent and recurrent layers on other
devices use the portable kernels.
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F

from norse_core.functional.iaf import IAFFeedForwardState, IAFState
from norse_core.functional.li import LIState
from norse_core.functional.li_box import LIBoxState
from norse_core.functional.lif import LIFFeedForwardState, LIFState
from norse_core.functional.lif_box import LIFBoxFeedForwardState
from norse_core.functional.lsnn import LSNNFeedForwardState, LSNNState
from norse_core.fused import portable
from norse_core.fused._common import (
    Surrogate,
    all_python_numbers,
    differentiable,
    forced_backend,
    params_usable,
    per_neuron_ok,
    run_kernel,
    tensors_usable,
    trainable_fields,
)

PORTABLE: Dict[str, Any] = {
    "lif": portable.LIFTorch,
    "lif_box": portable.LIFBoxTorch,
    "iaf": portable.IAFTorch,
    "li": portable.LITorch,
    "li_box": portable.LIBoxTorch,
    "lsnn": portable.LSNNTorch,
    "lif_recurrent": portable.LIFRecurrentTorch,
    "iaf_recurrent": portable.IAFRecurrentTorch,
    "lsnn_recurrent": portable.LSNNRecurrentTorch,
}


#: Compiled kernels that take tensor parameters holding one value per neuron.
PER_NEURON_PARAMETERS = ("lif_recurrent", "lsnn_recurrent")
#: Feed-forward C++ kernels (CPU) that take tensor parameters broadcasting to the state's shape
#: (in the input's dtype) and differentiate them.
PER_ELEMENT_PARAMETERS = ("lif", "lif_box")
#: The recurrent C++ loops run the backward's transposed recurrent matmul row by row; beyond
#: this many neurons the portable kernels' per-step BLAS matmuls are as fast or faster
#: (docs/benchmarks.md, section 4), so the automatic choice keeps them there.
RECURRENT_CPP_MAX_NEURONS = 128


def select_kernel(name: str, x: torch.Tensor, cfg: Any, sur: Optional[Surrogate]) -> Any:
    """The kernel for model ``name`` on input ``x``: Triton on CUDA / the C++ loop on CPU where
    they have a kernel for the model and the call qualifies, else the portable kernel. Under
    :func:`~norse_core.fused.use_backend` the named backend replaces the automatic choice
    (loaded or built at once; it raises if that fails) and the portable kernel covers the rest.
    Trainable parameters (config fields needing a gradient) need a kernel that differentiates
    them (its ``PARAMS``); ``None`` when none does (the layer then runs the step loop)."""
    kernel = _select(name, x, cfg, sur)
    trainable = trainable_fields(cfg)
    if trainable and not differentiable(kernel, trainable):
        kernel = PORTABLE[name] if differentiable(PORTABLE[name], trainable) else None
    return kernel


def _select(name: str, x: torch.Tensor, cfg: Any, sur: Optional[Surrogate]) -> Any:
    forced = forced_backend()
    if forced == "torch":
        return PORTABLE[name]
    numbers = [value for value in cfg if not isinstance(value, (Surrogate, bool))]
    if name in PER_NEURON_PARAMETERS:  # the recurrent C++ loops take one value per neuron
        params_ok = x.device.type == "cpu" and per_neuron_ok(numbers, x.shape[-1])
    elif name in PER_ELEMENT_PARAMETERS and x.device.type == "cpu":
        params_ok = params_usable(numbers, x.shape[1:], x.dtype) and all(
            v.device == x.device if isinstance(v, torch.Tensor) else all_python_numbers(v) for v in numbers
        )
    else:
        params_ok = all_python_numbers(*numbers)
    compiled_ok = (
        (sur is None or (sur.native_id is not None and all_python_numbers(sur.alpha)))
        and params_ok
        and x.dtype in (torch.float32, torch.float64)
    )
    if forced is not None:
        kernel = _compiled_kernel(forced, name, x, force=True) if compiled_ok else None
        return PORTABLE[name] if kernel is None else kernel
    if name in PER_NEURON_PARAMETERS and x.shape[-1] > RECURRENT_CPP_MAX_NEURONS:
        compiled_ok = False
    if compiled_ok:
        backend = "triton" if x.device.type == "cuda" else "cpp" if x.device.type == "cpu" else None
        kernel = _compiled_kernel(backend, name, x, force=False) if backend else None
        if kernel is not None:
            return kernel
    return PORTABLE[name]


def _run(name: str, x: torch.Tensor, cfg: Any, sur: Optional[Surrogate], *inputs: torch.Tensor) -> Any:
    """Runs the kernel :func:`select_kernel` picks, or returns ``NotImplemented`` if none fits."""
    kernel = select_kernel(name, x, cfg, sur)
    return NotImplemented if kernel is None else run_kernel(kernel, cfg, *inputs)


def _compiled_kernel(backend: str, name: str, x: torch.Tensor, force: bool) -> Any:
    if backend == "cpp":
        from norse_core.fused import cpp

        return cpp.kernel(name, x.numel(), force)
    if backend == "triton":
        from norse_core.fused import triton_backend

        return triton_backend.kernel(name, force)
    return None


#: The parameter behind each kernel config field (the others are not neuron parameters).
CONFIG_SOURCES = {"a": "tau_mem_inv", "b": "tau_syn_inv", "c": "tau_adapt_inv", "v_leak": "v_leak",
                  "v_th": "v_th", "v_reset": "v_reset", "beta": "beta"}


def _usable(x: torch.Tensor, state: Sequence[torch.Tensor], p: Any, extra: Sequence[torch.Tensor] = (),
            cfg_type: Any = None) -> bool:
    """Inputs, states and parameters a fused loop can take; a trainable parameter (a tensor
    needing a gradient) only if it feeds a field of the kernel config ``cfg_type``."""
    if not (tensors_usable(x, (*state, *extra)) and params_usable(p, state[0].shape, x.dtype)):
        return False
    if torch.is_grad_enabled():
        fed = {CONFIG_SOURCES.get(field) for field in getattr(cfg_type, "_fields", ())}
        for field, value in zip(p._fields, p):
            if isinstance(value, torch.Tensor) and value.requires_grad and field not in fed:
                return False
    return True


# -- feed-forward ------------------------------------------------------------------------------

def lif_config(p: Any, dt: float) -> portable.LIFConfig:
    return portable.LIFConfig(
        dt * p.tau_mem_inv, dt * p.tau_syn_inv, p.v_leak, p.v_th, p.v_reset, Surrogate.of(p.method, p.alpha)
    )


def lsnn_config(p: Any, dt: float) -> portable.LSNNConfig:
    return portable.LSNNConfig(
        dt * p.tau_mem_inv, dt * p.tau_syn_inv, dt * p.tau_adapt_inv, p.v_leak, p.v_th, p.v_reset,
        p.beta, Surrogate.of(p.method, p.alpha),
    )


def lif_fused_loop(x: torch.Tensor, state: LIFFeedForwardState, p: Any, dt: float):
    """Fused :class:`~norse_core.LIF` loop: ``(z (T, ...), LIFFeedForwardState)``."""
    if not _usable(x, state, p, cfg_type=portable.LIFConfig):
        return NotImplemented
    cfg = lif_config(p, dt)
    out = _run("lif", x, cfg, cfg.sur, x, state.v, state.i)  # NotImplemented: trainable, no kernel
    if out is NotImplemented:
        return out
    z, v, i = out
    return z, LIFFeedForwardState(v, i)


def lif_box_fused_loop(x: torch.Tensor, state: LIFBoxFeedForwardState, p: Any, dt: float):
    """Fused :class:`~norse_core.LIFBox` loop (both reset methods)."""
    if not _usable(x, state, p, cfg_type=portable.LIFBoxConfig) or p.reset_method not in ("value", "subtract"):
        return NotImplemented
    cfg = portable.LIFBoxConfig(
        dt * p.tau_mem_inv, p.v_leak, p.v_th, p.v_reset, p.reset_method == "subtract", Surrogate.of(p.method, p.alpha)
    )
    out = _run("lif_box", x, cfg, cfg.sur, x, state.v)
    if out is NotImplemented:
        return out
    z, v = out
    return z, LIFBoxFeedForwardState(v)


def iaf_fused_loop(x: torch.Tensor, state: IAFFeedForwardState, p: Any, dt: float):
    """Fused :class:`~norse_core.IAF` loop."""
    if not _usable(x, state, p):
        return NotImplemented
    cfg = portable.IAFConfig(p.v_th, p.v_reset, Surrogate.of(p.method, p.alpha))
    z, v = run_kernel(select_kernel("iaf", x, cfg, cfg.sur), cfg, x, state.v)
    return z, IAFFeedForwardState(v)


def li_fused_loop(x: torch.Tensor, state: LIState, p: Any, dt: float):
    """Fused :class:`~norse_core.LI` loop: ``(v (T, ...), LIState)``."""
    if not _usable(x, state, p):
        return NotImplemented
    cfg = portable.LIConfig(dt * p.tau_mem_inv, dt * p.tau_syn_inv, p.v_leak)
    out, v, i = run_kernel(select_kernel("li", x, cfg, None), cfg, x, state.v, state.i)
    return out, LIState(v, i)


def li_box_fused_loop(x: torch.Tensor, state: LIBoxState, p: Any, dt: float):
    """Fused :class:`~norse_core.LIBox` loop."""
    if not _usable(x, state, p):
        return NotImplemented
    cfg = portable.LIBoxConfig(dt * p.tau_mem_inv, p.v_leak)
    out, v = run_kernel(select_kernel("li_box", x, cfg, None), cfg, x, state.v)
    return out, LIBoxState(v)


def lsnn_fused_loop(x: torch.Tensor, state: LSNNFeedForwardState, p: Any, dt: float):
    """Fused :class:`~norse_core.LSNN` loop."""
    if not _usable(x, state, p):
        return NotImplemented
    cfg = lsnn_config(p, dt)
    z, v, i, b = run_kernel(select_kernel("lsnn", x, cfg, cfg.sur), cfg, x, state.v, state.i, state.b)
    return z, LSNNFeedForwardState(v, i, b)


# -- recurrent -----------------------------------------------------------------------------------
# The input projection linear(x, W_in) runs once for the whole sequence (autograd handles it);
# one fused node runs the loop with the per-step recurrent matmul and its hand-written backward.

def lif_recurrent_fused_loop(
    x: torch.Tensor, state: LIFState, w_in: torch.Tensor, w_rec: torch.Tensor, p: Any, dt: float
):
    """Fused :class:`~norse_core.LIFRecurrent` loop."""
    if not _usable(x, state[1:], p, (state.z, w_in, w_rec)):
        return NotImplemented
    cfg = lif_config(p, dt)
    xin = F.linear(x, w_in)
    z, z_last, v, i = run_kernel(select_kernel("lif_recurrent", xin, cfg, cfg.sur), cfg, xin, state.z, state.v, state.i, w_rec)
    return z, LIFState(z_last, v, i)


def iaf_recurrent_fused_loop(
    x: torch.Tensor, state: IAFState, w_in: torch.Tensor, w_rec: torch.Tensor, p: Any, dt: float
):
    """Fused :class:`~norse_core.IAFRecurrent` loop."""
    if not _usable(x, state[1:], p, (state.z, w_in, w_rec)):
        return NotImplemented
    cfg = portable.IAFConfig(p.v_th, p.v_reset, Surrogate.of(p.method, p.alpha))
    xin = F.linear(x, w_in)
    z, z_last, v = run_kernel(select_kernel("iaf_recurrent", x, cfg, cfg.sur), cfg, xin, state.z, state.v, w_rec)
    return z, IAFState(z_last, v)


def lsnn_recurrent_fused_loop(
    x: torch.Tensor, state: LSNNState, w_in: torch.Tensor, w_rec: torch.Tensor, p: Any, dt: float
):
    """Fused :class:`~norse_core.LSNNRecurrent` loop."""
    if not _usable(x, state[1:], p, (state.z, w_in, w_rec)):
        return NotImplemented
    cfg = lsnn_config(p, dt)
    xin = F.linear(x, w_in)
    z, z_last, v, i, b = run_kernel(
        select_kernel("lsnn_recurrent", xin, cfg, cfg.sur), cfg, xin, state.z, state.v, state.i, state.b, w_rec
    )
    return z, LSNNState(z_last, v, i, b)
