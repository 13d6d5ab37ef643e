"""Containers that thread neuron state: :class:`SequentialState`, :class:`RecurrentSequential`
and :class:`Lift`."""

from __future__ import annotations

import inspect
from typing import Any, Callable, List, NamedTuple, Optional, Sequence, Union

import torch

from norse_core.module.snn import SNNCell


def has_state(module: torch.nn.Module) -> bool:
    """Whether ``module`` is stateful: its ``stateful`` attribute if it has one, else whether
    ``module.forward`` takes a ``state`` argument (cells and layers do) or it is a PyTorch
    RNN (``nn.RNN``, ``nn.LSTM``, ``nn.GRU``: ``forward(x, hx) -> (output, h)``), as in Norse."""
    declared = getattr(module, "stateful", None)
    if isinstance(declared, bool):
        return declared
    if isinstance(module, torch.nn.RNNBase):
        return True
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
    ``forward``, a ``stateful`` attribute, or a PyTorch RNN); it must return ``(output,
    state)``. A stateless child must return a tensor: a tuple from it (typically ``(output,
    state)`` from a module whose ``forward`` has no ``state`` argument) raises a
    ``TypeError`` naming the child.

    :meth:`register_forward_state_hooks` puts one forward hook ``hook(module, (x, state),
    (output, new_state))`` on every stateful child (e.g. to record spikes and states);
    :meth:`remove_forward_state_hooks` removes them.
    """

    def __init__(self, *modules: torch.nn.Module, return_hidden: bool = False):
        super().__init__(*modules)
        self.return_hidden = return_hidden
        self._stateful_key: tuple = ()
        self._stateful: List[bool] = []
        self.forward_state_hooks: List[Any] = []

    @property
    def stateful_layers(self) -> List[bool]:
        """Per child, whether it is stateful (Norse's attribute)."""
        return list(self._stateful_children())

    def register_forward_state_hooks(self, forward_hook: Callable[[torch.nn.Module, Any, Any], Any]) -> None:
        """Registers ``forward_hook`` as a forward hook of every stateful child; a
        ``ValueError`` if hooks are already in place (remove them first)."""
        if self.forward_state_hooks:
            raise ValueError(
                "SequentialState: forward state hooks are already registered; call remove_forward_state_hooks() first"
            )
        for module, stateful in zip(self, self._stateful_children()):
            if stateful:
                self.forward_state_hooks.append(module.register_forward_hook(forward_hook))

    def remove_forward_state_hooks(self) -> None:
        """Removes the hooks of :meth:`register_forward_state_hooks`."""
        for handle in self.forward_state_hooks:
            handle.remove()
        self.forward_state_hooks.clear()

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


class RecurrentSequentialState(NamedTuple):
    """State of :class:`RecurrentSequential`: the output fed back (``cache``) and the list of
    the children's states (``state``)."""

    cache: Optional[Any] = None
    state: Optional[Any] = None


class RecurrentSequential(torch.nn.Module):
    """A :class:`SequentialState` whose output is fed back: on every call after the first
    the previous output (``state.cache``) is added to the input.

    ``output_modules`` picks the output among the children's outputs: an index (default
    -1, the last child) or a list of indices (then the output is a list, and the sum of its
    entries is fed back). ``forward(x, state=None) -> (output, RecurrentSequentialState)``.
    """

    def __init__(self, *modules: torch.nn.Module, output_modules: Union[int, Sequence[int]] = -1):
        super().__init__()
        self.module = SequentialState(*modules, return_hidden=True)
        self.output_modules = output_modules

    def forward(self, input_tensor: torch.Tensor, state: Optional[RecurrentSequentialState] = None):
        if state is None:
            state = RecurrentSequentialState()
        elif state.cache is not None:
            cache = state.cache
            input_tensor = input_tensor + (sum(cache) if isinstance(cache, (list, tuple)) else cache)
        outputs, states = self.module(input_tensor, state.state)
        if isinstance(self.output_modules, int):
            output: Any = outputs[self.output_modules]
        else:
            output = [outputs[index] for index in self.output_modules]
        return output, RecurrentSequentialState(output, states)


class Lift(torch.nn.Module):
    """Applies ``module`` to every step of an input ``(T, ...)`` and stacks the results.

    A stateless module (``forward(x) -> y``) is by default applied once to the input with
    time folded into the batch, ``(T, B, ...) -> (T*B, ...)`` (when a step has at least two
    dimensions; a step of one dimension, ``(T, features)``, is looped), which equals the step-by-step
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
        if isinstance(input_tensor, tuple) and len(input_tensor) == 2 and state is None:
            input_tensor, state = input_tensor  # Norse's Lift also takes (x, state)
        if not isinstance(input_tensor, torch.Tensor) or input_tensor.dim() < 1:
            shape = tuple(input_tensor.shape) if isinstance(input_tensor, torch.Tensor) else type(input_tensor).__name__
            raise ValueError(f"Lift: input must be a tensor with a time dimension (dim 0), got {shape}")
        if input_tensor.shape[0] == 0:
            return self._no_steps(input_tensor, state)
        if self.fold_time and not self.stateful and input_tensor.dim() >= 3:
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
        if not self.stateful and input_tensor.dim() >= 3:
            return module(input_tensor.flatten(0, 1)).unflatten(0, input_tensor.shape[:2])
        if not self.stateful and input_tensor.dim() == 2:  # (0, features): no steps, as a batch of none
            return module(input_tensor)
        if self.stateful and isinstance(module, SNNCell) and not module._time_dims:
            step = input_tensor.new_empty(input_tensor.shape[1:])
            return module._no_steps(input_tensor, module._prepare(step, state))
        raise ValueError(
            f"Lift: the input of shape {tuple(input_tensor.shape)} has no time steps and the output shape of "
            f"{type(module).__name__} cannot be known without running it; pass at least one step"
        )
