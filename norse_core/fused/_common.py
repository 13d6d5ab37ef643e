"""Shared pieces of the fused time loops: surrogate dispatch, applicability checks, the one
autograd Function that runs every fused kernel, and the backend switch.

A *kernel* is a class with two static methods (or ``forward`` and ``train(cfg, inputs, params)
-> outputs``, which builds its own autograd node: the C++ kernels)::

    forward(cfg, inputs, save, params)          -> (outputs, saved)
    backward(cfg, saved, grads, needs, params)  -> input gradients (None where not needed),
                                                   then one gradient per trainable parameter

``inputs``/``outputs`` are tuples of tensors, ``cfg`` a NamedTuple of numbers (or tensors);
``params`` names the config fields that need a gradient, among the kernel's ``PARAMS``. A
parameter's gradient may have the state's shape (summed over time); :class:`FusedFunction`
sums it to the parameter's shape (e.g. over the batch for one value per neuron).
"""

from __future__ import annotations

import contextlib
import importlib
from typing import Any, Dict, Iterator, List, NamedTuple, Optional, Sequence, Tuple

import torch
from torch.autograd.function import once_differentiable

from norse_core.functional.threshold import surrogate_derivative, threshold
from norse_core.utils.state import broadcasts_to

# the module, not the function the package re-exports under the same name
_threshold_module = importlib.import_module("norse_core.functional.threshold")

#: Built-in methods whose forward pass is the deterministic Heaviside step, with the ids the
#: compiled kernels (C++, Triton) use for their native surrogate derivatives.
NATIVE_METHODS: Dict[str, int] = {
    "heaviside": 0, "super": 1, "superspike": 1, "triangle": 2, "tanh": 3, "circ": 4, "heavi_erfc": 5, "atan": 6,
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
    ``lerp`` resets, spikes recomputed from the saved voltage in backward); otherwise
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
    """Whether a fused loop may run with parameters ``p``: every tensor parameter has the
    input's dtype and broadcasts to the state shape without enlarging it. (Trainable ones,
    needing a gradient, run on kernels that differentiate them: :func:`differentiable`.)"""
    for value in p:
        if isinstance(value, torch.Tensor):
            if value.dtype != dtype or not broadcasts_to(value.shape, state_shape):
                return False
        elif isinstance(value, tuple):  # a nested parameter tuple: not a model we fuse
            return False
    return True


def all_python_numbers(*values: Any) -> bool:
    """Whether every value is an ``int`` or ``float`` (not a ``bool``)."""
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)


# -- the autograd node -----------------------------------------------------------------------

def trainable_fields(cfg: Any) -> Tuple[str, ...]:
    """The fields of a kernel config that hold tensors needing a gradient (grad mode on):
    trainable neuron parameters such as ``a = dt*tau_mem_inv`` or ``v_th``."""
    if not torch.is_grad_enabled() or not hasattr(cfg, "_fields"):
        return ()
    return tuple(f for f, v in zip(cfg._fields, cfg) if isinstance(v, torch.Tensor) and v.requires_grad)


class FusedFunction(torch.autograd.Function):
    """One autograd node for a whole sequence: ``apply(kernel, cfg, params, *inputs, *values)``
    with ``params`` the names of the trainable config fields and ``values`` their tensors
    (the kernel protocol: module docstring)."""

    @staticmethod
    def forward(ctx, kernel: Any, cfg: Any, params: Tuple[str, ...], *tensors: torch.Tensor):  # type: ignore[override]
        n = len(tensors) - len(params)
        inputs, values = tensors[:n], tensors[n:]
        if params:
            cfg = cfg._replace(**{name: value.detach() for name, value in zip(params, values)})
        outputs, saved = kernel.forward(cfg, inputs, True, params)
        ctx.kernel, ctx.cfg, ctx.params, ctx.n = kernel, cfg, params, n
        ctx.shapes = [value.shape for value in values]
        ctx.save_for_backward(*saved)
        return outputs

    @staticmethod
    @once_differentiable
    def backward(ctx, *grads: torch.Tensor):  # type: ignore[override]
        needs = ctx.needs_input_grad[3:3 + ctx.n]
        result = ctx.kernel.backward(ctx.cfg, ctx.saved_tensors, grads, needs, ctx.params)
        input_grads, param_grads = result[:ctx.n], result[ctx.n:]
        reduced = [
            None if g is None else g.sum_to_size(shape) if g.shape != shape else g
            for g, shape in zip(param_grads, ctx.shapes)
        ]
        return (None, None, None, *input_grads, *reduced)


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


def run_kernel(kernel: Any, cfg: Any, *inputs: torch.Tensor, prepared: Any = None) -> Tuple[torch.Tensor, ...]:
    """Runs ``kernel`` over the sequence, recording one autograd node if a gradient is needed
    (``prepared``: the call as a function of the input, from the kernel's ``prepare``)."""
    for calls in _recorders:
        calls.append(kernel.__name__)
    if prepared is not None:
        return prepared(inputs[0])
    params = trainable_fields(cfg)
    if params or (torch.is_grad_enabled() and any(t.requires_grad for t in inputs)):
        if hasattr(kernel, "train"):
            return kernel.train(cfg, inputs, params)
        return FusedFunction.apply(kernel, cfg, params, *inputs, *(getattr(cfg, name) for name in params))
    with torch.no_grad():
        outputs, _ = kernel.forward(cfg, inputs, False, ())
    return outputs


def differentiable(kernel: Any, params: Sequence[str]) -> bool:
    """Whether ``kernel`` computes the gradients of the config fields ``params`` (its
    ``PARAMS``, the fields its backward differentiates)."""
    return set(params) <= set(getattr(kernel, "PARAMS", ()))


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
