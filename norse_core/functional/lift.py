"""``lift(step)``: a step function applied over time (dim 0).

``lift(lif_feed_forward_step)(x, state=s, p=p)`` runs the step on ``x[0], x[1], ...``,
threading the state, and returns ``(stacked outputs, last state)``. Keyword arguments
(``p``, weights, ``dt``) are passed on to every step; a ``p`` given to ``lift`` is the default.
The module counterpart is :class:`norse_core.module.sequential.Lift`.
"""

from __future__ import annotations

from typing import Any, Callable, Optional, Tuple

import torch


class Lifted:
    """The callable :func:`lift` returns (a class, so it pickles for multi-process use)."""

    def __init__(self, activation: Callable[..., Tuple[torch.Tensor, Any]], p: Optional[Any] = None):
        self.activation = activation
        self.p = p

    def __call__(self, input_tensor: torch.Tensor, **kwargs: Any) -> Tuple[torch.Tensor, Any]:
        if self.p is not None:
            kwargs.setdefault("p", self.p)
        state = kwargs.pop("state", None)
        outputs = []
        for x in input_tensor:
            if state is None:
                out, state = self.activation(x, **kwargs)
            else:
                out, state = self.activation(x, state=state, **kwargs)
            outputs.append(out)
        return torch.stack(outputs), state

    def __repr__(self) -> str:
        name = getattr(self.activation, "__name__", repr(self.activation))
        return f"lift({name}" + (f", p={self.p})" if self.p is not None else ")")


def lift(activation: Callable[..., Tuple[torch.Tensor, Any]], p: Optional[Any] = None) -> Lifted:
    """``activation(x, state, ...) -> (out, state)`` lifted to inputs ``(T, ...)``."""
    return Lifted(activation, p)
