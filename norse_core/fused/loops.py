"""The fused loops of the layers over time and the choice of a kernel per call.

:func:`fused_loop` turns a model's :class:`~norse_core.functional.dynamics.Dynamics` into the
``fused_loop(x, state, [w_in, w_rec,] p, dt)`` of its layer, which returns
``(outputs, final_state)`` like the step loop of :class:`~norse_core.module.snn.SNN`, or
``NotImplemented`` (the layer then runs the step loop) when a trainable parameter does not feed
the kernel's config (e.g. ``alpha``), a tensor parameter has another dtype than the input or
would enlarge the state, or a state tensor has another dtype/device than the input.
:func:`select_kernel` picks the backend per call (docs/fused.md says what each one covers; the
recurrent C++ loops reset to a value only, so a recurrent layer with ``reset_method="subtract"``
runs the portable kernel).
"""

from __future__ import annotations

import sys
from typing import Any, Callable, Dict, Optional, Tuple

import torch
import torch.nn.functional as F

from norse_core.functional.dynamics import CONFIG_FIELDS, Dynamics
from norse_core.fused import portable
from norse_core.fused._common import (
    Surrogate,
    all_python_numbers,
    differentiable,
    forced_backend,
    params_usable,
    run_kernel,
    trainable_fields,
)

#: The dynamics of every model with a fused loop, by name (filled by :func:`fused_loop`).
DYNAMICS: Dict[str, Dynamics] = {}
#: The recurrent C++ loops run the backward's transposed recurrent matmul as a plain loop
#: (blocked over batch rows, no BLAS); beyond this many hidden neurons the portable kernels'
#: per-step BLAS matmuls are faster (docs/benchmarks.md section 4, the width sweep: the C++ LIF
#: loop won at 512 hidden neurons in 7 of 8 runs, 0.95-1.22x, and lost at 1024 in all 8).
RECURRENT_CPP_MAX_NEURONS = 512
#: The same limit for the adaptive (LSNN) loop (won at 512, 1.19-1.50x; at 1024 0.90-1.09x).
RECURRENT_CPP_MAX_NEURONS_ADAPTIVE = 512


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
        fallback = portable.kernel(DYNAMICS[name])
        kernel = fallback if differentiable(fallback, trainable) else None
    return kernel


def _select(name: str, x: torch.Tensor, cfg: Any, sur: Optional[Surrogate]) -> Any:
    forced, recurrent = forced_backend(), DYNAMICS[name].recurrent
    if recurrent and getattr(cfg, "subtract", False):
        return portable.kernel(DYNAMICS[name])  # the recurrent C++ loops reset to a value only
    numbers = [value for value in cfg if not isinstance(value, (Surrogate, bool))]
    if forced == "triton" or (forced is None and x.device.type == "cuda"):
        params_ok = True  # the Triton kernels take numbers and per-neuron tensors alike
    elif x.device.type == "cpu":  # the C++ kernels: tensors broadcasting to the state (recurrent: per neuron)
        n = x.shape[-1]
        params_ok = params_usable(numbers, x.shape[1:], x.dtype) and all(
            v.device == x.device and (not recurrent or v.numel() == 1 or v.numel() == v.shape[-1] == n)
            if isinstance(v, torch.Tensor) else all_python_numbers(v)
            for v in numbers
        )
    else:
        params_ok = all_python_numbers(*numbers)
    compiled_ok = (
        (sur is None or (sur.native_id is not None and all_python_numbers(sur.alpha)))
        and params_ok
        and x.dtype in (torch.float32, torch.float64)
    )
    limit = RECURRENT_CPP_MAX_NEURONS_ADAPTIVE if DYNAMICS[name].adaptive else RECURRENT_CPP_MAX_NEURONS
    if forced is None and recurrent and x.shape[-1] > limit:
        compiled_ok = False
    backend = forced if forced is not None else {"cuda": "triton", "cpu": "cpp"}.get(x.device.type)
    kernel = None
    if compiled_ok and backend == "cpp":
        from norse_core.fused import cpp

        kernel = cpp.kernel(DYNAMICS[name], x.numel(), forced is not None)
    elif compiled_ok and backend == "triton":
        from norse_core.fused import triton_backend

        kernel = triton_backend.kernel(DYNAMICS[name], forced is not None)
    return portable.kernel(DYNAMICS[name]) if kernel is None else kernel


def _feeds_config(named: Dict[str, Any], cfg: Any) -> bool:
    """Whether every trainable parameter (a tensor needing a gradient, in ``named``) feeds a
    field of the kernel config ``cfg`` (otherwise the kernel could not give it a gradient)."""
    if not torch.is_grad_enabled():
        return True
    fed = {CONFIG_FIELDS[field][0] for field in cfg._fields if field in CONFIG_FIELDS}
    return all(
        field in fed for field, value in named.items() if isinstance(value, torch.Tensor) and value.requires_grad
    )


def fused_loop(dynamics: Dynamics) -> Callable[..., Any]:
    """The ``fused_loop`` of a layer over time whose step is declared by ``dynamics``:
    ``loop(x, state, p, dt)``, or for recurrent dynamics ``loop(x, state, w_in, w_rec, p, dt)``,
    returning ``(outputs, final_state)`` or ``NotImplemented``. A recurrent layer's input
    projection ``linear(x, W_in)`` runs once for the whole sequence (autograd handles it); the
    kernel runs the loop with the per-step recurrent matmul. Registers ``dynamics`` in
    ``DYNAMICS`` under its name."""
    name, recurrent = dynamics.name, dynamics.recurrent
    DYNAMICS[name] = dynamics

    def choose(x: torch.Tensor, state: Any, *args: Any):
        """``(kernel, cfg, kernel inputs)`` of a call, or ``NotImplemented``."""
        *weights, p, dt = args
        tensors = dynamics.flat_state(state)
        extra = (dynamics.spikes(state), *weights) if recurrent else ()
        named = dynamics.parameter_values(p)
        # at least one step, states in the input's dtype and device, parameters fitting (params_usable)
        usable = x.shape[0] > 0 and all(t.dtype == x.dtype and t.device == x.device for t in (*tensors, *extra))
        if not (usable and params_usable(named.values(), tensors[0].shape, x.dtype)):
            return NotImplemented
        if dynamics.reset_choice and named["reset_method"] not in ("value", "subtract"):
            return NotImplemented
        cfg = portable.make_config(dynamics, p, dt)
        if not _feeds_config(named, cfg):
            return NotImplemented
        if recurrent:
            x = F.linear(x, weights[0])
            inputs = (x, dynamics.spikes(state), *tensors, weights[1])
        else:
            inputs = (x, *tensors)
        kernel = select_kernel(name, x, cfg, getattr(cfg, "sur", None))
        return NotImplemented if kernel is None else (kernel, cfg, inputs)

    def loop(x: torch.Tensor, state: Any, *args: Any):
        chosen = choose(x, state, *args)
        if chosen is NotImplemented:
            return NotImplemented
        result = run_kernel(*chosen[:2], *chosen[2])
        return result[0], dynamics.state_like(state, tuple(result[1:]))

    loop.__name__ = loop.__qualname__ = f"{name}_fused_loop"
    loop.__doc__ = f"The fused loop of the {name} dynamics: ``(outputs (T, ...), final state)``."
    loop.choose = choose  # type: ignore[attr-defined]
    return loop


def selection_state() -> Tuple[Optional[str], bool]:
    """What a kernel choice depends on besides the call: the forced backend and whether the C++
    loops are loaded (a layer's plan, :class:`~norse_core.module.snn.SNN`, is redone when it changes)."""
    cpp = sys.modules.get("norse_core.fused.cpp")
    return forced_backend(), bool(cpp is not None and cpp.loaded())
