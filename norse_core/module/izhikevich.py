"""Izhikevich modules: :class:`IzhikevichCell` (one step), :class:`Izhikevich` (over time) and
their recurrent variants; the dynamics are :mod:`norse_core.functional.izhikevich`.

The modules take a firing pattern (parameters and initial state) as ``p``, as in Norse::

    cell = IzhikevichCell(tonic_spiking)          # state starts at tonic_spiking.s
"""

from __future__ import annotations

from typing import Any

from norse_core.functional.izhikevich import (
    IzhikevichState,
    IzhikevichParameters,
    IzhikevichSpikingBehavior,
    IzhikevichRecurrentState,
    izhikevich_feed_forward_step,
    izhikevich_recurrent_step,
)
from norse_core.module.snn import SNN, SNNCell, SNNRecurrentCell

#: state field -> initial value read from the behaviour's initial state ``p.s``
_INITIAL_VALUES = {"v": lambda like, p: p.s.v, "u": lambda like, p: p.s.u}


def _check_behavior(owner: type, p: Any) -> None:
    name = owner.__name__
    if p is None:
        raise TypeError(
            f"{name}: p is required: pass a firing pattern such as tonic_spiking, or "
            "IzhikevichSpikingBehavior(IzhikevichParameters(a, b, c, d), IzhikevichState(v0, u0))"
        )
    if isinstance(p, IzhikevichParameters):
        raise TypeError(
            f"{name}: p must be an IzhikevichSpikingBehavior (parameters and initial state), got "
            "IzhikevichParameters; wrap it: IzhikevichSpikingBehavior(p, IzhikevichState(v0, u0))"
        )


class _IzhikevichMixin:
    """What the feed-forward and recurrent cells share: ``p`` is an
    :class:`IzhikevichSpikingBehavior`; ``step`` gets its parameters ``p.p``; the state
    starts at ``p.s``."""

    parameters_type = IzhikevichSpikingBehavior
    initial_values = _INITIAL_VALUES

    def _check_parameters(self, p: Any) -> None:
        if not isinstance(p.p, IzhikevichParameters):
            raise TypeError(
                f"{type(self).__name__}: p.p must be IzhikevichParameters, got {type(p.p).__name__}"
            )
        if not (hasattr(p.s, "v") and hasattr(p.s, "u")):
            raise TypeError(
                f"{type(self).__name__}: p.s must hold the initial v and u "
                f"(an IzhikevichState), got {type(p.s).__name__}"
            )
        super()._check_parameters(p)  # type: ignore[misc]

    def _step_p(self) -> IzhikevichParameters:
        return self.p.p  # type: ignore[attr-defined]


class IzhikevichCell(_IzhikevichMixin, SNNCell):
    """One Izhikevich step: ``(z, IzhikevichState) = IzhikevichCell(behavior)(I, state)``.

    ``v_ = v + tau_inv*dt*(sq*v^2 + mn*v + bias - u + I); u_ = u + tau_inv*dt*a*(b*v - u)``;
    ``z = Θ(v_ - v_th)``; ``v' = c`` and ``u' = u_ + d`` where it spiked. The state starts
    at the behaviour's ``s`` (``v``, ``u``)."""

    state_type = IzhikevichState
    step = staticmethod(izhikevich_feed_forward_step)

    def __init__(self, p: IzhikevichSpikingBehavior, dt: float = 0.001, **kwargs: Any):
        _check_behavior(type(self), p)
        super().__init__(p, dt, **kwargs)


class Izhikevich(SNN, IzhikevichCell):
    """:class:`IzhikevichCell` over time: currents ``(T, ...)`` -> spikes ``(T, ...)``."""


class IzhikevichRecurrentCell(_IzhikevichMixin, SNNRecurrentCell):
    """One recurrent Izhikevich step: input ``(..., input_size)`` -> spikes
    ``(..., hidden_size)`` with ``I = linear(x, W_in) + linear(z_prev, W_rec)``; autapses are
    masked unless ``autapses=True``. State ``(z, v, u)`` starts at ``z = 0`` and the
    behaviour's ``s``."""

    state_type = IzhikevichRecurrentState
    step = staticmethod(izhikevich_recurrent_step)

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        p: IzhikevichSpikingBehavior,
        **kwargs: Any,
    ):
        _check_behavior(type(self), p)
        super().__init__(input_size, hidden_size, p, **kwargs)


class IzhikevichRecurrent(SNN, IzhikevichRecurrentCell):
    """:class:`IzhikevichRecurrentCell` over time: ``(T, ..., input_size)`` -> ``(T, ..., hidden_size)``."""
