"""Shared pieces of the fused time loops: surrogate dispatch, applicability checks, the one
autograd Function that runs every fused kernel, and the backend switch.

A *kernel* is any object with two static methods::

    forward(cfg, inputs, save)            -> (outputs, saved)
    backward(cfg, saved, grads, needs)    -> input gradients (None where not needed)

``inputs``/``outputs`` are tuples of tensors, ``cfg`` a NamedTuple of scalar (or non-trainable
tensor) parameters. :func:`run_kernel` calls ``forward`` directly when no gradient is needed
(nothing is saved) and otherwise through :class:`FusedFunction`, which records ONE autograd
node for the whole sequence and calls ``backward`` with the saved tensors.
"""

from __future__ import annotations

import contextlib
import importlib
import os
from typing import Any, Dict, Iterator, List, NamedTuple, Optional, Sequence, Tuple

import torch
from torch.autograd.function import once_differentiable

from norse_core.functional.threshold import surrogate_derivative, threshold

# the module, not the function the package re-exports under the same name
_threshold_module = importlib.import_module("norse_core.functional.threshold")

#: Built-in methods whose forward pass is the deterministic Heaviside step, with the ids the
#: compiled kernels (C++, Triton) use for their native surrogate derivatives.
NATIVE_METHODS: Dict[str, int] = {
    "heaviside": 0,
    "super": 1,
    "superspike": 1,
    "triangle": 2,
    "tanh": 3,
    "circ": 4,
    "heavi_erfc": 5,
    "atan": 6,
    "sigmoid": 7,
}
_BUILTIN_FUNCTIONS = {name: _threshold_module._SPIKE_FUNCTIONS[name] for name in NATIVE_METHODS}

BACKENDS = ("torch", "cpp", "triton")
_forced_backend: Optional[str] = None


def native_method_id(method: str) -> Optional[int]:
    """The native id of ``method`` if it is a built-in Heaviside-forward surrogate that has not
    been overwritten with :func:`register_surrogate`; ``None`` otherwise."""
    builtin = _BUILTIN_FUNCTIONS.get(method)
    if builtin is not None and _threshold_module._SPIKE_FUNCTIONS.get(method) is builtin:
        return NATIVE_METHODS[method]
    return None


class Surrogate(NamedTuple):
    """How a fused loop spikes: ``heaviside_forward`` selects the fast path (boolean spikes,
    ``torch.where`` resets, spikes recomputed from the saved voltage in backward); otherwise
    the registered forward function is called through :func:`threshold` (e.g. the stochastic
    ``logistic`` method samples exactly as the step-by-step loop does) and spikes are saved."""

    method: str
    alpha: float
    heaviside_forward: bool
    native_id: Optional[int]

    @staticmethod
    def of(method: str, alpha: float) -> "Surrogate":
        native = native_method_id(method)
        return Surrogate(method, alpha, native is not None, native)

    def spikes(self, x: torch.Tensor) -> torch.Tensor:
        """The registered forward spike function (no graph)."""
        with torch.no_grad():
            return threshold(x, self.method, self.alpha)

    def derivative(self, x: torch.Tensor) -> torch.Tensor:
        """``s(x, alpha)``, the registered surrogate derivative, as a fresh tensor shaped like
        ``x`` (kernels update it in place; a user function may return ``x`` or a broadcast)."""
        s = surrogate_derivative(self.method)(x, self.alpha)
        if not isinstance(s, torch.Tensor):
            return torch.full_like(x, float(s))
        if s.shape != x.shape or s.dtype != x.dtype or s.data_ptr() == x.data_ptr() or not s.is_contiguous():
            return s.to(x.dtype).expand_as(x).clone(memory_format=torch.contiguous_format)
        return s


# -- applicability -------------------------------------------------------------------------

def params_usable(p: Any, state_shape: torch.Size, dtype: torch.dtype) -> bool:
    """Whether a fused loop may run with parameters ``p``: no tensor parameter needs a gradient
    (trainable parameters use the step-by-step loop), and every tensor parameter has the
    input's dtype and broadcasts to the state shape without enlarging it."""
    grad = torch.is_grad_enabled()
    for value in p:
        if isinstance(value, torch.Tensor):
            if grad and value.requires_grad:
                return False
            if value.dtype != dtype:
                return False
            try:
                if torch.broadcast_shapes(value.shape, state_shape) != state_shape:
                    return False
            except RuntimeError:
                return False
        elif isinstance(value, tuple):  # a nested parameter tuple: not a model we fuse
            return False
    return True


def tensors_usable(x: torch.Tensor, tensors: Sequence[torch.Tensor]) -> bool:
    """Fused loops need at least one time step and states in the input's dtype and device."""
    if x.shape[0] == 0:
        return False
    return all(t.dtype == x.dtype and t.device == x.device for t in tensors)


def all_python_numbers(*values: Any) -> bool:
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)


def per_neuron_ok(values: Sequence[Any], n: int) -> bool:
    """Whether every parameter is a number or a tensor of one value per neuron (shape
    broadcasting to ``(n,)``): what the recurrent C++ loops take."""
    for value in values:
        if isinstance(value, torch.Tensor):
            if not (value.numel() == 1 or (value.numel() == n and value.dim() >= 1 and value.shape[-1] == n)):
                return False
        elif not isinstance(value, (int, float)) or isinstance(value, bool):
            return False
    return True


def needs_grad(tensors: Sequence[torch.Tensor]) -> bool:
    return torch.is_grad_enabled() and any(t.requires_grad for t in tensors)


# -- the autograd node -----------------------------------------------------------------------

class FusedFunction(torch.autograd.Function):
    """One autograd node for a whole sequence: ``apply(kernel, cfg, *inputs) -> outputs``."""

    @staticmethod
    def forward(ctx, kernel: Any, cfg: Any, *inputs: torch.Tensor):  # type: ignore[override]
        outputs, saved = kernel.forward(cfg, inputs, True)
        ctx.kernel, ctx.cfg = kernel, cfg
        ctx.save_for_backward(*saved)
        return outputs

    @staticmethod
    @once_differentiable
    def backward(ctx, *grads: torch.Tensor):  # type: ignore[override]
        needs = ctx.needs_input_grad[2:]
        input_grads = ctx.kernel.backward(ctx.cfg, ctx.saved_tensors, grads, needs)
        return (None, None, *input_grads)


_recorders: List[List[str]] = []


@contextlib.contextmanager
def record_kernels() -> Iterator[List[str]]:
    """Lists the name of every kernel that runs inside the block (e.g. ``["LIFTorch"]``), so a
    test can prove that a fused path ran instead of silently falling back to the step loop."""
    calls: List[str] = []
    _recorders.append(calls)
    try:
        yield calls
    finally:
        _recorders.remove(calls)


def run_kernel(kernel: Any, cfg: Any, *inputs: torch.Tensor) -> Tuple[torch.Tensor, ...]:
    """Runs ``kernel`` over the sequence, recording one autograd node if a gradient is needed."""
    for calls in _recorders:
        calls.append(kernel.__name__)
    if needs_grad(inputs):
        return FusedFunction.apply(kernel, cfg, *inputs)
    with torch.no_grad():
        outputs, _ = kernel.forward(cfg, inputs, False)
    return outputs


# -- backend choice --------------------------------------------------------------------------

@contextlib.contextmanager
def use_backend(name: Optional[str]) -> Iterator[None]:
    """Forces the fused loops onto one backend (``"torch"``, ``"cpp"``, ``"triton"``) inside
    the block; ``None`` restores automatic choice. A forced backend that cannot run a call
    (e.g. ``"cpp"`` for a method it does not implement) raises instead of falling back."""
    global _forced_backend
    if name is not None and name not in BACKENDS:
        raise ValueError(f"unknown fused backend {name!r}; valid: {', '.join(BACKENDS)}")
    previous, _forced_backend = _forced_backend, name
    try:
        yield
    finally:
        _forced_backend = previous


def forced_backend() -> Optional[str]:
    return _forced_backend


def extension_disabled() -> bool:
    """``NORSE_CORE_NO_EXTENSION=1`` turns the compiled C++ loops off."""
    return os.environ.get("NORSE_CORE_NO_EXTENSION", "").strip() not in ("", "0", "false", "False")


def zeros_if_none(grad: Optional[torch.Tensor], like: torch.Tensor) -> torch.Tensor:
    return torch.zeros_like(like) if grad is None else grad
