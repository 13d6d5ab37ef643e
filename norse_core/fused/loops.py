"""The ``fused_loop`` implementations of the layers over time.

Each ``*_fused_loop(x, state, [w_in, w_rec,] p, dt)`` returns ``(outputs, final_state)``
exactly like the step-by-step loop of :class:`~norse_core.module.snn.SNN`, or
``NotImplemented`` (the layer then runs the step-by-step loop) when:

* a trainable parameter (a tensor that requires a gradient) does not feed the kernel's
  config, or no kernel differentiates it (the portable kernels differentiate every config
  field: time constants, leak, threshold, reset, adaptation), or
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

from typing import Any, Callable, Dict, Optional, Sequence

import torch
import torch.nn.functional as F

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
    "lif_ex": portable.LIFExTorch,
    "lif_ex_recurrent": portable.LIFExRecurrentTorch,
    "lif_adex": portable.LIFAdExTorch,
    "lif_adex_recurrent": portable.LIFAdExRecurrentTorch,
}


#: Compiled kernels that take tensor parameters holding one value per neuron.
PER_NEURON_PARAMETERS = ("lif_recurrent", "lsnn_recurrent")
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
CONFIG_SOURCES = {"a": "tau_mem_inv", "b": "tau_syn_inv", "c": "tau_adapt_inv", "d": "tau_ada_inv",
                  **{name: name for name in ("delta_T", "adaptation_current", "adaptation_spike", "v_leak",
                                             "v_th", "v_reset", "beta")}}


def _usable(x: torch.Tensor, state: Sequence[torch.Tensor], p: Any, extra: Sequence[torch.Tensor] = ()) -> bool:
    return tensors_usable(x, (*state, *extra)) and params_usable(p, state[0].shape, x.dtype)


#: The parameter behind each kernel config field (the others are not neuron parameters).
CONFIG_SOURCES = {"a": "tau_mem_inv", "b": "tau_syn_inv", "c": "tau_adapt_inv", "d": "tau_ada_inv",
                  **{name: name for name in ("delta_T", "adaptation_current", "adaptation_spike", "v_leak",
                                             "v_th", "v_reset", "beta")}}


def _feeds_config(p: Any, cfg: Any) -> bool:
    """Whether every trainable parameter (a tensor needing a gradient) feeds a field of the
    kernel config ``cfg`` (otherwise the kernel could not give it a gradient)."""
    if not torch.is_grad_enabled():
        return True
    fed = {CONFIG_SOURCES.get(field) for field in cfg._fields}
    return all(
        field in fed for field, value in zip(p._fields, p) if isinstance(value, torch.Tensor) and value.requires_grad
    )


# -- kernel configs from parameters ---------------------------------------------------------------

def lif_config(p: Any, dt: float) -> portable.LIFConfig:
    return portable.LIFConfig(
        dt * p.tau_mem_inv, dt * p.tau_syn_inv, p.v_leak, p.v_th, p.v_reset, Surrogate.of(p.method, p.alpha)
    )


def lif_box_config(p: Any, dt: float) -> portable.LIFBoxConfig:
    return portable.LIFBoxConfig(
        dt * p.tau_mem_inv, p.v_leak, p.v_th, p.v_reset, p.reset_method == "subtract", Surrogate.of(p.method, p.alpha)
    )


def iaf_config(p: Any, dt: float) -> portable.IAFConfig:
    return portable.IAFConfig(p.v_th, p.v_reset, Surrogate.of(p.method, p.alpha))


def li_config(p: Any, dt: float) -> portable.LIConfig:
    return portable.LIConfig(dt * p.tau_mem_inv, dt * p.tau_syn_inv, p.v_leak)


def li_box_config(p: Any, dt: float) -> portable.LIBoxConfig:
    return portable.LIBoxConfig(dt * p.tau_mem_inv, p.v_leak)


def lsnn_config(p: Any, dt: float) -> portable.LSNNConfig:
    return portable.LSNNConfig(
        dt * p.tau_mem_inv, dt * p.tau_syn_inv, dt * p.tau_adapt_inv, p.v_leak, p.v_th, p.v_reset,
        p.beta, Surrogate.of(p.method, p.alpha),
    )


def lif_ex_config(p: Any, dt: float) -> portable.LIFExConfig:
    return portable.LIFExConfig(
        dt * p.tau_mem_inv, dt * p.tau_syn_inv, p.delta_T, p.v_leak, p.v_th, p.v_reset, Surrogate.of(p.method, p.alpha)
    )


def lif_adex_config(p: Any, dt: float) -> portable.LIFAdExConfig:
    return portable.LIFAdExConfig(
        dt * p.tau_mem_inv, dt * p.tau_syn_inv, dt * p.tau_ada_inv, p.delta_T, p.adaptation_current,
        p.adaptation_spike, p.v_leak, p.v_th, p.v_reset, Surrogate.of(p.method, p.alpha),
    )


# -- the loops -----------------------------------------------------------------------------------

def fused_loop(name: str, layer: str, config: Callable[[Any, float], Any],
               accepts: Callable[[Any], bool] = lambda p: True) -> Callable[..., Any]:
    """The ``fused_loop`` of a layer over time that runs kernel ``name`` (a key of ``PORTABLE``)
    with the config ``config(p, dt)``: ``loop(x, state, p, dt)``, or for a recurrent kernel
    (``name`` ends in ``_recurrent``) ``loop(x, state, w_in, w_rec, p, dt)``, returning
    ``(outputs, final_state)`` or ``NotImplemented``. A recurrent layer's input projection
    ``linear(x, W_in)`` runs once for the whole sequence (autograd handles it); the kernel
    runs the loop with the per-step recurrent matmul."""
    recurrent = name.endswith("_recurrent")

    def loop(x: torch.Tensor, state: Any, *args: Any):
        *weights, p, dt = args
        tensors = tuple(state[1:]) if recurrent else tuple(state)
        extra = (state.z, *weights) if recurrent else ()
        if not _usable(x, tensors, p, extra) or not accepts(p):
            return NotImplemented
        cfg = config(p, dt)
        if not _feeds_config(p, cfg):
            return NotImplemented
        if recurrent:
            x = F.linear(x, weights[0])
            inputs = (x, state.z, *tensors, weights[1])
        else:
            inputs = (x, *tensors)
        result = _run(name, x, cfg, getattr(cfg, "sur", None), *inputs)
        if result is NotImplemented:
            return result
        out, *final = result
        return out, type(state)(*final)

    loop.__name__ = loop.__qualname__ = f"{name}_fused_loop"
    loop.__doc__ = f"Fused :class:`~norse_core.{layer}` loop: ``(outputs (T, ...), final state)``."
    return loop


lif_fused_loop = fused_loop("lif", "LIF", lif_config)
lif_box_fused_loop = fused_loop("lif_box", "LIFBox", lif_box_config, lambda p: p.reset_method in ("value", "subtract"))
iaf_fused_loop = fused_loop("iaf", "IAF", iaf_config)
li_fused_loop = fused_loop("li", "LI", li_config)
li_box_fused_loop = fused_loop("li_box", "LIBox", li_box_config)
lsnn_fused_loop = fused_loop("lsnn", "LSNN", lsnn_config)
lif_recurrent_fused_loop = fused_loop("lif_recurrent", "LIFRecurrent", lif_config)
iaf_recurrent_fused_loop = fused_loop("iaf_recurrent", "IAFRecurrent", iaf_config)
lsnn_recurrent_fused_loop = fused_loop("lsnn_recurrent", "LSNNRecurrent", lsnn_config)
lif_ex_fused_loop = fused_loop("lif_ex", "LIFEx", lif_ex_config)
lif_ex_recurrent_fused_loop = fused_loop("lif_ex_recurrent", "LIFExRecurrent", lif_ex_config)
lif_adex_fused_loop = fused_loop("lif_adex", "LIFAdEx", lif_adex_config)
lif_adex_recurrent_fused_loop = fused_loop("lif_adex_recurrent", "LIFAdExRecurrent", lif_adex_config)
