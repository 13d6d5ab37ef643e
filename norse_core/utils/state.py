"""Helpers for neuron states.

States are ``NamedTuple``s of tensors; ``torch.utils._pytree`` treats them (and lists of
them, as returned by :class:`~norse_core.SequentialState`) as pytrees, so they flatten,
map and compile like any nested tensor structure.
"""

from __future__ import annotations

from typing import Any, List, Sequence

import torch
from torch.utils._pytree import tree_flatten, tree_map, tree_unflatten


def detach_state(state: Any) -> Any:
    """Detaches every tensor in a (nested) state from the autograd graph.

    Use it between batches for truncated backpropagation through time:
    ``out, state = net(x, detach_state(state))``."""
    return tree_map(lambda t: t.detach() if isinstance(t, torch.Tensor) else t, state)


def stack_states(states: Sequence[Any]) -> Any:
    """Stacks a sequence of equally structured states along a new leading time dimension."""
    if len(states) == 0:
        raise ValueError("stack_states needs at least one state")
    flat: List[List[Any]] = []
    spec = None
    for state in states:
        leaves, spec = tree_flatten(state)
        flat.append(leaves)
    stacked = [
        torch.stack(column) if isinstance(column[0], torch.Tensor) else column[0]
        for column in zip(*flat)
    ]
    return tree_unflatten(stacked, spec)


def clone_tensor(x: Any, device: Any = None) -> torch.Tensor:
    """A detached copy of ``x`` as a tensor (numbers become 0-d tensors), on ``device``
    if given (Norse's ``utils.clone.clone_tensor``)."""
    tensor = x.detach().clone() if isinstance(x, torch.Tensor) else torch.as_tensor(x)
    return tensor if device is None else tensor.to(device)


def broadcasts_to(shape: Sequence[int], target: Sequence[int]) -> bool:
    """Whether a tensor of ``shape`` broadcasts to ``target`` without enlarging it (trailing
    dimensions equal or 1); ``torch.broadcast_shapes(shape, target) == target`` without its
    cost (tens of microseconds per call, on every fused call)."""
    if len(shape) > len(target):
        return False
    return all(s == t or s == 1 for s, t in zip(reversed(shape), reversed(target)))
