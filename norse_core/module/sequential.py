"""Containers that thread neuron state: :class:`SequentialState` and :class:`Lift`."""

from __future__ import annotations

import inspect
from typing import Any, List, Optional

import torch


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
    """

    def __init__(self, *modules: torch.nn.Module):
        super().__init__(*modules)
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
        x = input_tensor
        for module, stateful, s in zip(self, self._stateful_children(), state):
            if stateful:
                x, s = module(x, s)
            else:
                x, s = module(x), None
            new_state.append(s)
        return x, new_state


class Lift(torch.nn.Module):
    """Applies ``module`` to every step of an input ``(T, ...)`` and stacks the results.

    A stateless module is applied step by step (``forward(x) -> y``); a cell (a module with a
    ``state`` argument) is stepped with its state threaded through time
    (``forward(x, state=None) -> (y, state)``)."""

    def __init__(self, module: torch.nn.Module):
        super().__init__()
        self.lifted_module = module
        self.stateful = has_state(module)

    def forward(self, input_tensor: torch.Tensor, state: Any = None):
        if not isinstance(input_tensor, torch.Tensor) or input_tensor.dim() < 1:
            shape = tuple(input_tensor.shape) if isinstance(input_tensor, torch.Tensor) else type(input_tensor).__name__
            raise ValueError(f"Lift: input must be a tensor with a time dimension (dim 0), got {shape}")
        outputs = []
        for x in input_tensor.unbind(0):
            if self.stateful:
                x, state = self.lifted_module(x, state)
            else:
                x = self.lifted_module(x)
            outputs.append(x)
        stacked = torch.stack(outputs)
        return (stacked, state) if self.stateful else stacked
