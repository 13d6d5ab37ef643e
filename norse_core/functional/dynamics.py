"""Declarations of what one explicit Euler step of a neuron model is made of. Each model
declares its :class:`Dynamics` next to its step function (``LIF_DYNAMICS`` in
:mod:`norse_core.functional.lif`); the fused kernels of every backend
(:mod:`norse_core.fused`) are specialised from it, and a layer over time that names it
(``dynamics = LIF_DYNAMICS``) runs them. Per step (``j`` the input current, ``vd`` the
voltage before the reset)::

    current     j = i + x (+ linear(z_prev, W));  i' = j - b j            else j = x
    leak        vd = v + a(((v_leak - v) [+ E]) + j [- w])                else vd = v + j
    exponential E = delta_T exp((v - v_th)/delta_T)                       (LIFEx, LIFAdEx)
    adaptation_current  w' = (w + d(adaptation_current (v - v_leak) - w)) + z adaptation_spike
    spiking     z = Θ(vd - v_th) (adaptive: Θ(vd - bd)), reset v' = (1 - z) vd + z v_reset
                (reset choice, p.reset_method == "subtract": v' = vd - z v_th);
                else the output is v' = vd (leaky integrators)
    adaptive    bd = b + c(v_th - b);  b' = bd + beta z                   (LSNN)
    recurrent   the recurrent input linear(z_prev, W) (inputs: linear(x, W_in), z0, state, W)
    detach_reset  the reset's spike carries no gradient (recurrent layers but IAF)
    refractory  after the step, with m = Θ(rho) (still refractory): v' = (1 - m) v' + m v,
                z = (1 - m) z,  rho' = (1 - z) relu(rho - m) + z rho_reset  (state
                ``(inner state, rho)``, parameters ``(inner parameters, rho_reset)``)

``v`` in ``E`` and ``w'`` is the voltage before the step; ``a = dt*tau_mem_inv``,
``b = dt*tau_syn_inv``, ``c = dt*tau_adapt_inv``, ``d = dt*tau_ada_inv``. The state holds
``v``, then ``i`` (current), then ``b`` (adaptive) or ``w`` (adaptation current); recurrent
states start with the spikes ``z``.
"""

from __future__ import annotations

from typing import Any, Dict, NamedTuple, Tuple

#: Kernel config fields in their fixed order, each with the parameter it comes from and
#: whether it is that parameter times ``dt`` (a rate per step).
CONFIG_FIELDS: Dict[str, Tuple[str, bool]] = {
    "a": ("tau_mem_inv", True),
    "b": ("tau_syn_inv", True),
    "c": ("tau_adapt_inv", True),
    "d": ("tau_ada_inv", True),
    "delta_T": ("delta_T", False),
    "adaptation_current": ("adaptation_current", False),
    "adaptation_spike": ("adaptation_spike", False),
    "v_leak": ("v_leak", False),
    "v_th": ("v_th", False),
    "v_reset": ("v_reset", False),
    "beta": ("beta", False),
    "rho_reset": ("rho_reset", False),
}


class Dynamics(NamedTuple):
    """The terms of a model's Euler step (module docstring). ``name`` keys the compiled
    kernels (C++, Triton) written for it; the portable kernel needs only the terms."""

    name: str
    current: bool = False
    leak: bool = True
    spiking: bool = True
    adaptive: bool = False
    recurrent: bool = False
    detach_reset: bool = False
    exponential: bool = False
    adaptation_current: bool = False
    reset_choice: bool = False
    refractory: bool = False

    def as_recurrent(self, detach_reset: bool = True) -> "Dynamics":
        """The recurrent layer's dynamics (``<name>_recurrent``)."""
        return self._replace(name=self.name + "_recurrent", recurrent=True, detach_reset=detach_reset)

    @property
    def slots(self) -> Tuple[str, ...]:
        """The state tensors the kernels take and return, in order (recurrent: after ``z``)."""
        extra = ("b",) if self.adaptive else ("w",) if self.adaptation_current else ()
        return ("v",) + (("i",) if self.current else ()) + extra + (("rho",) if self.refractory else ())

    @property
    def config_fields(self) -> Tuple[str, ...]:
        """The fields of its kernel config, in order: parameters, then ``subtract`` (reset
        choice) and ``sur`` (spiking models)."""
        used = {
            "a": self.leak, "b": self.current, "c": self.adaptive, "d": self.adaptation_current,
            "delta_T": self.exponential, "adaptation_current": self.adaptation_current,
            "adaptation_spike": self.adaptation_current, "v_leak": self.leak or self.adaptation_current,
            "v_th": self.spiking, "v_reset": self.spiking, "beta": self.adaptive, "rho_reset": self.refractory,
        }
        return tuple(f for f in CONFIG_FIELDS if used[f]) + (("subtract",) if self.reset_choice else ()) + (
            ("sur",) if self.spiking else ()
        )

    def parameter_values(self, p: Any) -> Dict[str, Any]:
        """The parameters ``p`` by name; a refractory model's inner parameters with ``rho_reset``."""
        if self.refractory:
            return {**p[0]._asdict(), "rho_reset": p.rho_reset}
        return p._asdict()

    def config_values(self, p: Any, dt: float) -> Dict[str, Any]:
        """The config's parameter values (all but ``sur``) from parameters ``p`` at step ``dt``."""
        named = self.parameter_values(p)
        values: Dict[str, Any] = {}
        for field in self.config_fields:
            if field in CONFIG_FIELDS:
                source, rate = CONFIG_FIELDS[field]
                values[field] = dt * named[source] if rate else named[source]
            elif field == "subtract":
                values[field] = named["reset_method"] == "subtract"
        return values

    def spikes(self, state: Any) -> Any:
        """A recurrent state's spikes ``z`` (inside the inner state of a refractory one)."""
        return state[0].z if self.refractory else state.z

    def flat_state(self, state: Any) -> Tuple[Any, ...]:
        """The state tensors in the kernels' order (without a recurrent state's ``z``)."""
        if self.refractory:
            return (*self._replace(refractory=False).flat_state(state[0]), state[1])
        return tuple(state[1:]) if self.recurrent else tuple(state)

    def state_like(self, state: Any, tensors: Tuple[Any, ...]) -> Any:
        """A state of ``state``'s type from the kernels' final tensors (``z`` first if recurrent)."""
        if self.refractory:
            return type(state)(self._replace(refractory=False).state_like(state[0], tensors[:-1]), tensors[-1])
        return type(state)(*tensors)
