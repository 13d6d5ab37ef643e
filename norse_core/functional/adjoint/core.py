"""The generic machinery of the adjoint functions: one autograd Function per step whose
backward is the exact discrete adjoint of our step, and a sequence-level loop whose memory
does not grow with the number of steps.

**Hand-derived adjoint** (:func:`adjoint_function`): a model made of the terms of a
:class:`~norse_core.functional.dynamics.Dynamics` (LIF, LSNN, refractory LIF, feed-forward
or recurrent) runs one step of its portable fused kernel (:mod:`norse_core.fused.portable`,
the step functions' arithmetic operation by operation, so outputs and states are bitwise
those of ``lif_feed_forward_step`` and the others) and, in backward, that kernel's
reverse-time recursion for one step: with ``u = dL/dv_d`` (the pre-reset voltage)::

    λ_z  = g_z + g_v'(v_reset - v_d)     (value reset, not detached; recurrent: g_z)
    u    = g_v'(1 - z) + λ_z s(v_d - v_th)
    λ_v  = (1 - dt*tau_mem_inv) u
    λ_i  = dt*tau_mem_inv u + (1 - dt*tau_syn_inv) g_i'         (= dL/dx; recurrent:
    dL/dx = λ_i W_in,  dL/dz_prev = λ_i W_rec,  dL/dW_in = λ_i^T x,  dL/dW_rec = λ_i^T z_prev)

``s`` is the surrogate derivative of the configured ``method``; LSNN's threshold and the
refractory countdown add their terms (:mod:`norse_core.fused.portable`). Saved for backward:
the pre-reset voltage ``v_d`` and the spikes (LSNN also ``v_d - b_d``; refractory models the
countdown before the step and the spikes before the mask; recurrent ones also the input,
``z_prev`` and the weights), not autograd's graph of the step.

**Recomputed adjoint** (:func:`recompute_function`), for the models whose step is not made of
those terms (multi-compartment, conductance-based): forward runs our step without a graph
and saves its inputs; backward re-runs it under autograd (with the forward's random state,
so a stochastic ``logistic`` threshold draws the same spikes) and returns its gradients.

Both give gradients to the input, the state and the weights, equal to autograd through our
step functions; neuron parameters are constants here (a parameter tensor that requires a
gradient is refused: train those with the step functions or the layers).
"""

from __future__ import annotations

import contextlib
import functools
from typing import Any, Callable, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F

from norse_core.functional.dynamics import Dynamics
from norse_core.functional.lif import to_dense

Tensors = Tuple[torch.Tensor, ...]


def check_constant_parameters(p: Any, where: str) -> None:
    """Raises if a parameter in ``p`` (nested tuples included) is a tensor that requires a
    gradient: the adjoint functions give none to neuron parameters."""
    fields = p._asdict() if hasattr(p, "_asdict") else {}
    for name, value in fields.items():
        if isinstance(value, tuple):
            check_constant_parameters(value, where)
        elif isinstance(value, torch.Tensor) and value.requires_grad:
            raise ValueError(
                f"{where}: parameter {name} is a tensor that requires a gradient; the adjoint "
                "functions differentiate the input, state and weights only (train neuron "
                "parameters with the step functions or the layers' trainable=...)"
            )


def _as_tensor(value: Any, like: torch.Tensor) -> torch.Tensor:
    """``value`` itself if a tensor, else a tensor of ``like``'s dtype and device."""
    return value if isinstance(value, torch.Tensor) else torch.as_tensor(value, dtype=like.dtype, device=like.device)


def _flat(t: torch.Tensor) -> torch.Tensor:
    return t.reshape(-1, t.shape[-1])


def _split(args: Sequence[Any], n: int, defaults: Tuple[Any, Any]) -> Tuple[Sequence[Any], Any, Any]:
    """``(tensors, p, dt)`` from ``n`` tensors followed by ``p`` and ``dt`` (each optional)."""
    p, dt = (*args[n:], *defaults[len(args) - n:])
    return args[:n], p, dt


def adjoint_function(dynamics: Dynamics, name: str, default_p: Any, doc: str) -> type:
    """The per-step autograd Function of ``dynamics`` (module docstring), named ``name``:
    ``apply(x, *state, p, dt)`` for feed-forward dynamics, ``apply(x, z, *state, W_in, W_rec,
    p, dt)`` for recurrent ones (``state`` in the kernels' order: ``v``, ``i``, then ``b`` or
    ``rho``; ``p`` defaults to ``default_p``, ``dt`` to 0.001); returns ``(z, *new_state)``."""
    from norse_core.fused import portable

    kernel = portable.kernel(dynamics)
    recurrent = dynamics.recurrent
    n_tensors = 1 + len(dynamics.slots) + (3 if recurrent else 0)

    def forward(ctx, x, *args):
        tensors, p, dt = _split(args, n_tensors - 1, (default_p, 0.001))
        check_constant_parameters(p, name)
        cfg = portable.make_config(dynamics, p, dt)
        tensors = [_as_tensor(t, x) for t in tensors]  # states given as numbers, as in Norse
        if recurrent:
            z0, *state, w_in, w_rec = tensors
            drive = F.linear(x, w_in)
            shape = torch.broadcast_shapes(drive.shape, z0.shape, *(t.shape for t in state))
            inputs = (drive.expand(shape)[None], z0.expand(shape), *(t.expand(shape) for t in state), w_rec)
        else:
            shape = torch.broadcast_shapes(x.shape, *(t.shape for t in tensors))
            inputs = (x.expand(shape)[None], *(t.expand(shape) for t in tensors))
        save = any(ctx.needs_input_grad)
        outputs, saved = kernel.forward(cfg, inputs, save, ())
        ctx.cfg = cfg
        if save:
            ctx.save_for_backward(*saved, *((x, w_in) if recurrent else ()))
        finals = outputs[2:] if recurrent else outputs[1:]
        return (outputs[0][0], *finals)

    def backward(ctx, gz, *gstate):
        needs = ctx.needs_input_grad[:n_tensors]
        saved = ctx.saved_tensors
        if recurrent:  # the kernel runs on the drive linear(x, W_in) and sees z_prev as an input
            *saved, x, w_in = saved
            grads = (gz[None], gz.new_zeros(()), *gstate)
            kernel_needs = (*needs[:-2], needs[-1])
        else:
            grads, kernel_needs = (gz[None], *gstate), needs
        result = list(kernel.backward(ctx.cfg, tuple(saved), grads, kernel_needs, ()))
        gdrive = result[0] = result[0][0]
        if recurrent:
            gx = gdrive @ w_in if needs[0] else None
            gw_in = _flat(gdrive).T @ _flat(x.expand(*gdrive.shape[:-1], x.shape[-1])) if needs[-2] else None
            result = [gx, *result[1:-1], gw_in, result[-1]]
        tail = (None,) * (len(ctx.needs_input_grad) - n_tensors)  # p, dt
        return (*(g if need else None for g, need in zip(result, needs)), *tail)

    return type(name, (torch.autograd.Function,), {
        "forward": staticmethod(forward),
        "backward": staticmethod(backward),
        "dynamics": dynamics,
        "__doc__": doc,
        "__module__": "norse_core.functional.adjoint",
    })


def recompute_function(run: Callable[..., Tensors], n_tensors: int, name: str, default_p: Any, doc: str) -> type:
    """A per-step autograd Function whose backward re-runs ``run(*tensors, p, dt)`` (our step,
    returning a tuple of tensors) under autograd from the saved inputs (module docstring):
    ``apply(*tensors, p, dt)`` with ``n_tensors`` tensors (``p`` defaults to ``default_p``)."""

    def forward(ctx, *args):
        tensors, p, dt = _split(args, n_tensors, (default_p, 0.001))
        check_constant_parameters(p, name)
        tensors = [_as_tensor(t, tensors[0]) for t in tensors]
        ctx.p, ctx.dt = p, dt
        ctx.devices = sorted({t.device.index for t in tensors if t.is_cuda})
        ctx.rng = (torch.get_rng_state(), [torch.cuda.get_rng_state(d) for d in ctx.devices])
        with torch.no_grad():
            outputs = run(*tensors, p, dt)
        ctx.save_for_backward(*tensors)
        return outputs

    def backward(ctx, *grads):
        inputs = [t.detach().requires_grad_(need) for t, need in zip(ctx.saved_tensors, ctx.needs_input_grad)]
        with torch.random.fork_rng(devices=ctx.devices), torch.enable_grad():
            torch.set_rng_state(ctx.rng[0])
            for device, state in zip(ctx.devices, ctx.rng[1]):
                torch.cuda.set_rng_state(state, device)
            outputs = run(*inputs, ctx.p, ctx.dt)
        wanted = [t for t in inputs if t.requires_grad]
        pairs = [(o, g) for o, g in zip(outputs, grads) if o.requires_grad]
        found = iter(torch.autograd.grad([o for o, _ in pairs], wanted, [g for _, g in pairs], allow_unused=True)
                     if wanted and pairs else [None] * len(wanted))
        tail = (None,) * (len(ctx.needs_input_grad) - len(inputs))  # p, dt
        return (*(next(found) if t.requires_grad else None for t in inputs), *tail)

    return type(name, (torch.autograd.Function,), {
        "forward": staticmethod(forward),
        "backward": staticmethod(backward),
        "__doc__": doc,
        "__module__": "norse_core.functional.adjoint",
    })


def sparse_function(dense: type, name: str, sparse_spikes: bool, doc: str) -> type:
    """``dense`` for sparse (COO) inputs and state spikes: they are made dense before the step
    (gradients pass), and the spikes come back sparse when ``sparse_spikes``."""

    def apply(cls, *args):
        outputs = dense.apply(*(to_dense(a) if isinstance(a, torch.Tensor) else a for a in args))
        return (outputs[0].to_sparse(), *outputs[1:]) if sparse_spikes else outputs

    return type(name, (dense,), {"apply": classmethod(apply), "__doc__": doc, "__module__": dense.__module__})


# -- whole sequences with memory constant in time -------------------------------------------------

@functools.lru_cache(maxsize=None)
def _loop(dynamics: Dynamics) -> Callable[..., Any]:
    from norse_core.fused.loops import fused_loop

    return fused_loop(dynamics)


def _constant_memory_backend(x: torch.Tensor, dynamics: Dynamics) -> Any:
    """``use_backend("cpp")`` where the C++ loops have a kernel for ``dynamics`` and build
    (CPU tensors), else the automatic choice."""
    from norse_core.fused import cpp, use_backend

    if x.device.type == "cpu" and cpp.has_kernel(dynamics) and cpp.build():
        return use_backend("cpp")
    return contextlib.nullcontext()


def sequence_adjoint(
    dynamics: Dynamics,
    step: Callable[..., Any],
    input_sequence: torch.Tensor,
    state: Any,
    p: Any,
    dt: float,
) -> Tuple[torch.Tensor, Any]:
    """Runs ``dynamics`` over ``input_sequence`` ``(T, ...)`` as ONE autograd node of the fused
    loops (on CPU the C++ kernel, which saves the input and the initial state only and whose
    backward re-runs the forward block by block); where no fused kernel applies, ``step`` in a
    loop. Returns the spikes ``(T, ...)`` and the final state."""
    if not isinstance(input_sequence, torch.Tensor) or input_sequence.dim() < 1 or input_sequence.shape[0] == 0:
        got = tuple(input_sequence.shape) if isinstance(input_sequence, torch.Tensor) else type(input_sequence).__name__
        raise ValueError(f"input_sequence must be a tensor (T, ...) with T >= 1 steps, got {got}")
    state = type(state)(*(_state_field(s, input_sequence) for s in state))
    with _constant_memory_backend(input_sequence, dynamics):
        result = _loop(dynamics)(input_sequence, state, p, dt)
    if result is not NotImplemented:
        return result
    outputs = []
    for x in input_sequence:
        z, state = step(x, state, p, dt)
        outputs.append(z)
    return torch.stack(outputs), state


def _state_field(value: Any, like: torch.Tensor) -> Any:
    """A state field of a sequence as a tensor shaped like one step of ``like`` (numbers and
    0-d tensors broadcast); nested states field by field."""
    if isinstance(value, tuple):
        return type(value)(*(_state_field(v, like) for v in value))
    tensor = _as_tensor(value, like)
    return tensor.expand(like.shape[1:]) if tensor.dim() == 0 else tensor

