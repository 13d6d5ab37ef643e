"""Containers that thread neuron state: :class:`SequentialState` and :class:`Lift`."""

from __future__ import annotations

import inspect
from typing import Any, List, Optional

import torch

from norse_core.module.snn import SNNCell


def has_state(module: torch.nn.Module) -> bool:
    """Whether ``module`` is stateful: its ``stateful`` attribute if it has one, else whether
    ``module.forward`` takes a ``state`` argument (cells and layers do)."""
    declared = getattr(module, "stateful", None)
    if isinstance(declared, bool):
        return declared
    try:
        return "state" in inspect.signature(module.forward).parameters
    except (TypeError, ValueError):
        return False


class SequentialState(torch.nn.Sequential):
    """Like :class:`torch.nn.Sequential`, but threads the state of stateful children.

    ``forward(x, state=None) -> (output, states)`` where ``states`` has one entry per child:
    its new state, or ``None`` for a stateless child. Pass ``states`` back on the next call.
    With ``return_hidden=True`` the output is the list of every child's output instead.

    A child is stateful when :func:`has_state` says so (a ``state`` argument in its
    ``forward``, or a ``stateful`` attribute); it must return ``(output, state)``. A stateless
    child must return a tensor: a tuple from it (typically ``(output, state)`` from a module
    whose ``forward`` has no ``state`` argument) raises a ``TypeError`` naming the child.
    """

    def __init__(self, *modules: torch.nn.Module, return_hidden: bool = False):
        super().__init__(*modules)
        self.return_hidden = return_hidden
        self._stateful_key: tuple = ()
        self._stateful: List[bool] = []

    def _stateful_children(self) -> List[bool]:
        key = tuple(id(m) for m in self)
        if key != self._stateful_key:  # children were added, replaced or removed
            self._stateful_key, self._stateful = key, [has_state(m) for m in self]
        return self._stateful

    def forward(self, input_tensor: torch.Tensor, state: Optional[List[Any]] = None):
        if state is None:
            state = [None] * len(self)
        elif not isinstance(state, (list, tuple)) or len(state) != len(self):
            got = f"a {type(state).__name__} of length {len(state)}" if isinstance(state, (list, tuple)) else type(state).__name__
            raise ValueError(
                f"SequentialState: state must be None or a list with one entry per module "
                f"({len(self)}), got {got}"
            )
        new_state: List[Any] = []
        hidden: List[Any] = []
        x = input_tensor
        for index, (module, stateful, s) in enumerate(zip(self, self._stateful_children(), state)):
            if stateful:
                result = module(x, s)
                if not _is_pair(result):
                    raise TypeError(_returned(index, module, result, "takes a `state` argument, so it must return "
                                              "a pair (output, state)"))
                x, s = result
            else:
                x, s = module(x), None
                if isinstance(x, tuple):
                    raise TypeError(_returned(index, module, x, (
                        "has no `state` argument in forward, so it is stateless and must return a tensor; if it "
                        "returns (output, state), add a `state` argument (forward(x, state=None) -> (output, "
                        "state)) or set its attribute `stateful = True`"
                    )))
            new_state.append(s)
            if self.return_hidden:
                hidden.append(x)
        return (hidden if self.return_hidden else x), new_state


def _is_pair(result: Any) -> bool:
    """Whether ``result`` is an ``(output, state)`` pair (a plain tuple or list of two)."""
    return isinstance(result, (tuple, list)) and not hasattr(result, "_fields") and len(result) == 2


def _returned(index: int, module: torch.nn.Module, result: Any, expected: str) -> str:
    if isinstance(result, tuple):
        got = f"a {type(result).__name__} of {len(result)} values ({', '.join(type(r).__name__ for r in result)})"
    else:
        got = f"a {type(result).__name__}"
    return f"SequentialState: module {index} ({type(module).__name__}) returned {got}; it {expected}"


class Lift(torch.nn.Module):
    """Applies ``module`` to every step of an input ``(T, ...)`` and stacks the results.

    A stateless module (``forward(x) -> y``) is by default applied once to the input with
    time folded into the batch, ``(T, B, ...) -> (T*B, ...)``, which equals the step-by-step
    loop for modules that treat samples independently (linear, conv, pooling, flatten) and is
    much faster; ``fold_time=False`` loops instead (e.g. for a batch norm that must see each
    step's statistics separately). A cell (a module with a ``state`` argument) is stepped with
    its state threaded through time (``forward(x, state=None) -> (y, state)``).

    An input of no steps (``T = 0``) gives empty outputs ``(0, ...)``: a stateless module
    runs once on the empty folded batch; a norse cell returns ``(0, *its state shape)`` and
    the given (or initial) state."""

    def __init__(self, module: torch.nn.Module, fold_time: bool = True):
        super().__init__()
        self.lifted_module = module
        self.stateful = has_state(module)
        self.fold_time = fold_time

    def forward(self, input_tensor: torch.Tensor, state: Any = None):
        if not isinstance(input_tensor, torch.Tensor) or input_tensor.dim() < 1:
            shape = tuple(input_tensor.shape) if isinstance(input_tensor, torch.Tensor) else type(input_tensor).__name__
            raise ValueError(f"Lift: input must be a tensor with a time dimension (dim 0), got {shape}")
        if input_tensor.shape[0] == 0:
            return self._no_steps(input_tensor, state)
        if self.fold_time and not self.stateful and input_tensor.dim() >= 2:
            output = self.lifted_module(input_tensor.flatten(0, 1))
            return output.unflatten(0, input_tensor.shape[:2])
        outputs = []
        for x in input_tensor.unbind(0):
            if self.stateful:
                x, state = self.lifted_module(x, state)
            else:
                x = self.lifted_module(x)
            outputs.append(x)
        stacked = torch.stack(outputs)
        return (stacked, state) if self.stateful else stacked

    def _no_steps(self, input_tensor: torch.Tensor, state: Any):
        module = self.lifted_module
        if not self.stateful and input_tensor.dim() >= 2:
            return module(input_tensor.flatten(0, 1)).unflatten(0, input_tensor.shape[:2])
        if self.stateful and isinstance(module, SNNCell) and not module._time_dims:
            step = input_tensor.new_empty(input_tensor.shape[1:])
            return module._no_steps(input_tensor, module._prepare(step, state))
        raise ValueError(
            f"Lift: the input of shape {tuple(input_tensor.shape)} has no time steps and the output shape of "
            f"{type(module).__name__} cannot be known without running it; pass at least one step"
        )
