"""Izhikevich neurons (Izhikevich 2003, 2004): a quadratic membrane ``v`` and a recovery ``u``.

Per step, with ``h = tau_inv*dt`` the step length in model milliseconds::

    v_ = v + h*(sq*v^2 + mn*v + bias - u + I)     (recurrent: I = linear(x, W_in) + linear(z, W_rec))
    u_ = u + h*a*(b*v - u)                        (pre-step v)
    z  = Θ(v_ - v_th);   v' = (1 - z)*v_ + z*c;   u' = u_ + z*d

The 20 firing patterns of Izhikevich (2004, "Which model to use for cortical spiking
neurons?") are module-level presets (:data:`tonic_spiking`, ...; all in
:data:`IZHIKEVICH_BEHAVIORS`), and :data:`IZHIKEVICH_PROTOCOLS` holds the input current
under which each one shows its pattern (after the paper's figure 1; the changes these
equations need are commented there and in docs/models.md).
"""

from __future__ import annotations

import math
from typing import Dict, NamedTuple, Optional, Tuple, Union

import torch
import torch.nn.functional as F

from norse_core.functional.lif import reset_to_value
from norse_core.functional.threshold import threshold

Scalar = Union[float, torch.Tensor]


class IzhikevichParameters(NamedTuple):
    """Parameters of an Izhikevich neuron; ``a, b, c, d`` as in Izhikevich (2003).

    ``dv/dt = sq*v^2 + mn*v + bias - u + I``, ``du/dt = a*(b*v - u)`` (time in ms, one step is
    ``tau_inv*dt`` ms); on ``v > v_th``: ``v <- c``, ``u <- u + d``."""

    a: Scalar
    b: Scalar
    c: Scalar
    d: Scalar
    sq: Scalar = 0.04
    mn: Scalar = 5.0
    bias: Scalar = 140.0
    v_th: Scalar = 30.0
    tau_inv: Scalar = 250.0
    method: str = "super"
    alpha: float = 100.0


class IzhikevichRecurrentState(NamedTuple):
    """State of a recurrent Izhikevich neuron: last spikes ``z``, membrane ``v``, recovery ``u``."""

    z: torch.Tensor
    v: torch.Tensor
    u: torch.Tensor


class IzhikevichState(NamedTuple):
    """State of a feed-forward Izhikevich neuron: membrane ``v`` and recovery ``u`` (Norse's
    name; also available as ``IzhikevichFeedForwardState``)."""

    v: torch.Tensor
    u: torch.Tensor


IzhikevichFeedForwardState = IzhikevichState


class IzhikevichSpikingBehavior(NamedTuple):
    """A firing pattern: parameters ``p`` and the initial state ``s`` (``v``, ``u`` as floats
    or 0-d tensors). Modules take it as their ``p``: ``IzhikevichCell(tonic_spiking)``."""

    p: IzhikevichParameters
    s: IzhikevichState


def _izhikevich_dynamics(
    current: torch.Tensor, v: torch.Tensor, u: torch.Tensor, p: IzhikevichParameters, dt: float
) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    h = p.tau_inv * dt
    v_new = v + h * (p.sq * v * v + p.mn * v + p.bias - u + current)
    u_new = u + h * p.a * (p.b * v - u)
    z = threshold(v_new - p.v_th, p.method, p.alpha)
    return z, reset_to_value(v_new, z, p.c), u_new + z * p.d


def _check_tensor(name: str, value: object) -> None:
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name}: input must be a torch.Tensor, got {type(value).__name__}")


def izhikevich_feed_forward_step(
    input_tensor: torch.Tensor,
    state: IzhikevichState,
    p: IzhikevichParameters,
    dt: float = 0.001,
) -> Tuple[torch.Tensor, IzhikevichState]:
    """One Izhikevich step on input currents ``I`` of any shape; returns ``(z, (v', u'))``::

        v_ = v + tau_inv*dt*(sq*v^2 + mn*v + bias - u + I);  u_ = u + tau_inv*dt*a*(b*v - u)
        z = Θ(v_ - v_th);  v' = (1 - z)*v_ + z*c;  u' = u_ + z*d
    """
    _check_tensor("izhikevich_feed_forward_step", input_tensor)
    z, v, u = _izhikevich_dynamics(input_tensor, state.v, state.u, p, dt)
    return z, IzhikevichState(v, u)


def izhikevich_recurrent_step(
    input_tensor: torch.Tensor,
    state: IzhikevichRecurrentState,
    input_weights: torch.Tensor,
    recurrent_weights: torch.Tensor,
    p: IzhikevichParameters,
    dt: float = 0.001,
) -> Tuple[torch.Tensor, IzhikevichRecurrentState]:
    """One recurrent Izhikevich step: as :func:`izhikevich_feed_forward_step` with
    ``I = linear(x, W_in) + linear(z_prev, W_rec)``; ``x`` is ``(..., input)``, the weights
    ``(hidden, input)`` and ``(hidden, hidden)``; returns ``(z, (z, v', u'))``."""
    _check_tensor("izhikevich_recurrent_step", input_tensor)
    current = F.linear(input_tensor, input_weights) + F.linear(state.z, recurrent_weights)
    z, v, u = _izhikevich_dynamics(current, state.v, state.u, p, dt)
    return z, IzhikevichRecurrentState(z, v, u)


# -- the 20 firing patterns of Izhikevich (2004) --------------------------------------------

def _behavior(
    a: float, b: float, c: float, d: float, tau_inv: float, v0: float,
    u0: Union[float, None] = None, mn: float = 5.0, bias: float = 140.0,
) -> IzhikevichSpikingBehavior:
    p = IzhikevichParameters(
        a=float(a), b=float(b), c=float(c), d=float(d), mn=float(mn), bias=float(bias), tau_inv=float(tau_inv)
    )
    u = b * v0 if u0 is None else u0
    return IzhikevichSpikingBehavior(p, IzhikevichState(v=float(v0), u=float(u)))


tonic_spiking = _behavior(0.02, 0.2, -65, 6, 250, -70)
phasic_spiking = _behavior(0.02, 0.25, -65, 6, 250, -64)
tonic_bursting = _behavior(0.02, 0.2, -50, 2, 250, -70)
phasic_bursting = _behavior(0.02, 0.25, -55, 0.05, 200, -64)
mixed_mode = _behavior(0.02, 0.2, -55, 4, 250, -70)
spike_frequency_adaptation = _behavior(0.01, 0.2, -65, 8, 250, -70)
class_1_exc = _behavior(0.02, -0.1, -55, 6, 250, -60, u0=6, mn=4.1, bias=108)
class_2_exc = _behavior(0.2, 0.26, -65, 0, 250, -64)
spike_latency = _behavior(0.02, 0.2, -65, 6, 250, -70)
subthreshold_oscillation = _behavior(0.05, 0.26, -60, 0, 250, -62)
resonator = _behavior(0.1, 0.26, -60, -1, 250, -62)
integrator = _behavior(0.02, -0.1, -55, 6, 250, -60, u0=6, mn=4.1, bias=108)
rebound_spike = _behavior(0.03, 0.25, -60, 4, 200, -64)
rebound_burst = _behavior(0.03, 0.25, -52, 0, 200, -64)
threshold_variability = _behavior(0.03, 0.25, -60, 4, 250, -64)
bistability = _behavior(0.1, 0.26, -60, 0, 250, -61)
dap = _behavior(1, 0.2, -60, -21, 100, -70)
accommodation = _behavior(0.02, 1, -55, 4, 500, -65, u0=-16)
inhibition_induced_spiking = _behavior(-0.02, -1, -60, 8, 250, -63.8, u0=63.8)
inhibition_induced_bursting = _behavior(-0.026, -1, -45, -2, 250, -63.8, u0=63.8)

#: name -> preset, in the order of Izhikevich (2004), figure 1 (A to T).
IZHIKEVICH_BEHAVIORS: Dict[str, IzhikevichSpikingBehavior] = {
    "tonic_spiking": tonic_spiking,
    "phasic_spiking": phasic_spiking,
    "tonic_bursting": tonic_bursting,
    "phasic_bursting": phasic_bursting,
    "mixed_mode": mixed_mode,
    "spike_frequency_adaptation": spike_frequency_adaptation,
    "class_1_exc": class_1_exc,
    "class_2_exc": class_2_exc,
    "spike_latency": spike_latency,
    "subthreshold_oscillation": subthreshold_oscillation,
    "resonator": resonator,
    "integrator": integrator,
    "rebound_spike": rebound_spike,
    "rebound_burst": rebound_burst,
    "threshold_variability": threshold_variability,
    "bistability": bistability,
    "dap": dap,
    "accommodation": accommodation,
    "inhibition_induced_spiking": inhibition_induced_spiking,
    "inhibition_induced_bursting": inhibition_induced_bursting,
}


#: Norse's names for the presets' parameters (``tonic_spiking_p = tonic_spiking.p``, ...).
tonic_spiking_p = tonic_spiking.p
phasic_spiking_p = phasic_spiking.p
tonic_bursting_p = tonic_bursting.p
phasic_bursting_p = phasic_bursting.p
mixed_mode_p = mixed_mode.p
spike_frequency_adaptation_p = spike_frequency_adaptation.p
class_1_exc_p = class_1_exc.p
class_2_exc_p = class_2_exc.p
spike_latency_p = spike_latency.p
subthreshold_oscillation_p = subthreshold_oscillation.p
resonator_p = resonator.p
integrator_p = integrator.p
rebound_spike_p = rebound_spike.p
rebound_burst_p = rebound_burst.p
threshold_variability_p = threshold_variability.p
bistability_p = bistability.p
dap_p = dap.p
accommodation_p = accommodation.p
inhibition_induced_spiking_p = inhibition_induced_spiking.p
inhibition_induced_bursting_p = inhibition_induced_bursting.p
accomodation_p = accommodation.p

#: Norse's spelling of :data:`accommodation`.
accomodation = accommodation


def create_izhikevich_spiking_behavior(
    a: float, b: float, c: float, d: float, v_rest: float, u_rest: float, tau_inv: float = 250
) -> IzhikevichSpikingBehavior:
    """A custom firing pattern: parameters ``a, b, c, d, tau_inv`` (the other parameters at
    their defaults) and the initial state ``v = v_rest``, ``u = b*u_rest`` (Norse's
    convention: ``u_rest`` is the voltage at which ``u`` starts in balance), as 0-d tensors."""
    p = IzhikevichParameters(a=a, b=b, c=c, d=d, tau_inv=tau_inv)
    v = torch.tensor(float(v_rest))
    return IzhikevichSpikingBehavior(p, IzhikevichState(v=v, u=torch.tensor(float(u_rest)) * b))


# -- input protocols ---------------------------------------------------------------------------

Segment = Tuple[float, float, float, float]


class IzhikevichProtocol(NamedTuple):
    """An input current in model milliseconds: ``baseline``, except inside each segment
    ``(start, stop, i_start, i_stop)`` (``start < t < stop``), where it goes linearly from
    ``i_start`` to ``i_stop`` (a step when both are equal)."""

    duration: float
    segments: Tuple[Segment, ...] = ()
    baseline: float = 0.0

    def steps(self, step_ms: float) -> int:
        """Number of steps of ``step_ms`` model milliseconds (``tau_inv*dt``) covering the protocol."""
        if not step_ms > 0:
            raise ValueError(f"step_ms must be positive, got {step_ms!r}")
        return int(math.floor(self.duration / step_ms + 1e-9)) + 1

    def times(self, step_ms: float) -> torch.Tensor:
        """Model time in ms of every step, ``0, step_ms, 2*step_ms, ...`` (float64)."""
        return torch.arange(self.steps(step_ms), dtype=torch.float64) * step_ms

    def current(
        self, step_ms: float, steps: Optional[int] = None, dtype: torch.dtype = torch.float32
    ) -> torch.Tensor:
        """The current at every step, shape ``(steps,)``; ``steps`` defaults to
        :meth:`steps` (more steps continue the protocol past its ``duration``)."""
        n = self.steps(step_ms) if steps is None else int(steps)
        t = torch.arange(n, dtype=torch.float64) * step_ms
        current = torch.full_like(t, float(self.baseline))
        for start, stop, i_start, i_stop in self.segments:
            inside = (t > start) & (t < stop)
            if math.isinf(stop):
                ramp = torch.full_like(t, float(i_start))
            else:
                ramp = i_start + (i_stop - i_start) * (t - start) / (stop - start)
            current = torch.where(inside, ramp, current)
        return current.to(dtype)


def _pulses(*starts: float, width: float, amplitude: float) -> Tuple[Segment, ...]:
    return tuple((s, s + width, amplitude, amplitude) for s in starts)


#: name -> the input under which the preset of that name shows its pattern; after
#: Izhikevich (2004), figure 1, mostly a step or pulse after a silent tenth of the run.
IZHIKEVICH_PROTOCOLS: Dict[str, IzhikevichProtocol] = {
    "tonic_spiking": IzhikevichProtocol(200, ((20, math.inf, 14, 14),)),
    "phasic_spiking": IzhikevichProtocol(200, ((20, math.inf, 0.5, 0.5),)),
    "tonic_bursting": IzhikevichProtocol(220, ((22, math.inf, 15, 15),)),
    "phasic_bursting": IzhikevichProtocol(200, ((20, math.inf, 0.6, 0.6),)),
    "mixed_mode": IzhikevichProtocol(200, ((20, math.inf, 10, 10),)),
    "spike_frequency_adaptation": IzhikevichProtocol(85, ((8.5, math.inf, 30, 30),)),
    "class_1_exc": IzhikevichProtocol(300, ((30, 300, 0, 20.25),)),
    "class_2_exc": IzhikevichProtocol(300, ((30, 300, -0.5, 3.55),), baseline=-0.5),
    # 7.2 instead of the paper's 7.04, which stays subthreshold with these equations
    "spike_latency": IzhikevichProtocol(100, _pulses(10, width=3, amplitude=7.2)),
    "subthreshold_oscillation": IzhikevichProtocol(200, _pulses(20, width=5, amplitude=2)),
    "resonator": IzhikevichProtocol(400, _pulses(40, 60, 280, 320, width=4, amplitude=0.65)),
    "integrator": IzhikevichProtocol(100, _pulses(100 / 11, 100 / 11 + 5, 70, 80, width=2, amplitude=9)),
    "rebound_spike": IzhikevichProtocol(200, _pulses(20, width=5, amplitude=-15)),
    "rebound_burst": IzhikevichProtocol(200, _pulses(20, width=5, amplitude=-15)),
    "threshold_variability": IzhikevichProtocol(
        100, ((10, 15, 1, 1), (70, 75, -6, -6), (80, 85, 1, 1))
    ),
    # the second pulse (paper: 216 ms) must fall 7-9 ms after a spike to switch firing off
    "bistability": IzhikevichProtocol(300, _pulses(37.5, 208, width=5, amplitude=1.24), baseline=0.24),
    # the paper's 20-unit, 2 ms pulse starts repetitive firing with these equations
    "dap": IzhikevichProtocol(50, _pulses(9, width=3, amplitude=9.75)),
    # u relaxes to b*v = v here (paper: du/dt = a*b*(v + 65)), so at I = 0 there is no rest
    # state (the neuron fires tonically); a -55 baseline restores rest near -69.4 mV. Same
    # +8 amplitude: a slow ramp (200 ms) does not fire, a fast one (12.5 ms) does.
    "accommodation": IzhikevichProtocol(
        400, ((100, 300, -55, -47), (350, 362.5, -55, -47)), baseline=-55
    ),
    "inhibition_induced_spiking": IzhikevichProtocol(350, ((50, 250, 75, 75),), baseline=80),
    # with these equations the cell fires ever faster once inhibited and does not burst
    # (u runs away: a < 0 and d < 0); the paper's bursts come from its integration scheme
    "inhibition_induced_bursting": IzhikevichProtocol(350, ((50, 250, 75, 75),), baseline=80),
}
