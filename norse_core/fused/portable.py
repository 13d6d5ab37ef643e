"""Portable (pure PyTorch) fused kernels: ONE generic forward loop without an autograd graph
and its hand-derived backpropagation through time, specialised per model by its
:class:`~norse_core.functional.dynamics.Dynamics` declaration (``kernel(LIF_DYNAMICS)``).

Notation per step ``t`` (``a = dt*tau_mem_inv``, ``b = dt*tau_syn_inv``, ``c = dt*tau_adapt_inv``,
``s_t = s(vd_t - v_th, alpha)`` the registered surrogate derivative, ``g·`` gradients)::

    LIF     j = i + x;  vd = v + a((v_leak - v) + j);  i' = (1 - b) j;  z = Θ(vd - v_th)
            v' = (1 - z) vd + z v_reset
    backward (reverse in time; u_t = dL/dvd_t):
            u_t   = gv'_t ((1 - z_t) + (v_reset - vd_t) s_t) + gz_t s_t
            gv_t  = (1 - a) u_t                  (gradient to the voltage before step t)
            gj_t  = a u_t + (1 - b) gj_{t+1}     (gj_T = gi of the final state)
            gx_t  = gi_t = gj_t
    parameters (summed over time here, over the batch by the autograd node):
            ga = sum_t u_t ((v_leak - v_{t-1}) + j_t);   gv_leak = sum_t a u_t
            gb = -sum_t gi'_t j_t;   gv_th = -sum_t (gz_t + gv'_t (v_reset - vd_t)) s_t
            gv_reset = sum_t gv'_t z_t

The other terms are in :mod:`norse_core.functional.dynamics`; :class:`_Kernel` says what is
saved. The surrogate derivative is the registered ``s(x, alpha)``, so every surrogate works.
The forward repeats the step functions' arithmetic operation by operation (bitwise equal to
the step loop). With a Heaviside forward, spikes are ``gt(vd - v_th, 0)`` written into the
output and the reset ``(1 - z)*vd + z*v_reset`` is ``lerp(vd, v_reset, z)`` (equal for ``z`` in
{0, 1}); any other registered forward (``logistic``, user functions) is called through
``threshold`` as the step loop calls it, and the reset uses the reference formula.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F

from norse_core.functional.dynamics import CONFIG_FIELDS, Dynamics
from norse_core.fused._common import Surrogate

Number = Union[float, torch.Tensor]
Tensors = Tuple[torch.Tensor, ...]


def _camel(name: str) -> str:
    """``lif_adex_recurrent`` -> ``LIFAdExRecurrent``: the class-name stem of a model."""
    special = {"lif": "LIF", "iaf": "IAF", "li": "LI", "lsnn": "LSNN", "adex": "AdEx"}
    return "".join(special.get(part, part.capitalize()) for part in name.split("_"))


@functools.lru_cache(maxsize=None)
def config_type(dynamics: Dynamics) -> type:
    """The kernel config of ``dynamics``: a NamedTuple of its ``config_fields`` (e.g.
    ``LIFConfig(a, b, v_leak, v_th, v_reset, subtract, sur)``); every kernel reads it by field name."""
    name = _camel(dynamics.name.removesuffix("_recurrent")) + "Config"
    return NamedTuple(name, [(field, Any) for field in dynamics.config_fields])


def make_config(dynamics: Dynamics, p: Any, dt: float) -> Any:
    """The kernel config of ``dynamics`` for parameters ``p`` at time step ``dt``."""
    values = dynamics.config_values(p, dt)
    if dynamics.spiking:
        named = dynamics.parameter_values(p)
        values["sur"] = Surrogate.of(named["method"], named["alpha"])
    return config_type(dynamics)(**values)


# -- helpers -----------------------------------------------------------------------------------

class _Spiker:
    """Spikes and resets of one forward loop (see the module docstring)."""

    def __init__(self, sur: Surrogate, v_reset: Number, like: torch.Tensor):
        self.sur = sur
        self.fast = sur.heaviside_forward
        self.v_reset = v_reset
        if self.fast and not isinstance(v_reset, torch.Tensor):
            v_reset = torch.tensor(v_reset, dtype=like.dtype, device=like.device)
        self.v_reset_t = v_reset

    def spike(self, diff: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        """``z = Θ(diff)`` written into ``out``."""
        if self.fast:
            return torch.gt(diff, 0, out=out)
        return out.copy_(self.sur.spikes(diff))

    def reset(self, vd: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """``(1 - z)*vd + z*v_reset``."""
        if self.fast:
            return torch.lerp(vd, self.v_reset_t, z)
        return (1 - z) * vd + z * self.v_reset

    def reset_subtract(self, vd: torch.Tensor, diff: torch.Tensor, z: torch.Tensor, v_th: Number) -> torch.Tensor:
        """``vd - z*v_th`` (``diff = vd - v_th``)."""
        if self.fast:
            return torch.lerp(vd, diff, z)
        return vd - z * v_th


def _flat(t: torch.Tensor) -> torch.Tensor:
    return t.reshape(-1, t.shape[-1])


def _recurrent_weight_grad(gj: torch.Tensor, z: torch.Tensor, z0: torch.Tensor) -> torch.Tensor:
    """``dL/dW = sum_t gj_t^T z_{t-1}`` for ``linear(z_{t-1}, W)``, as two matmuls."""
    gw = _flat(gj[0]).T @ _flat(z0)
    if gj.shape[0] > 1:
        gw.addmm_(_flat(gj[1:]).T, _flat(z[:-1]))
    return gw


# -- the generic kernel --------------------------------------------------------------------------

#: The config fields a kernel may differentiate: trainable neuron parameters.
PARAMETER_FIELDS = tuple(CONFIG_FIELDS)


@functools.lru_cache(maxsize=None)
def kernel(dynamics: Dynamics) -> type:
    """The portable kernel of ``dynamics`` (a class ``<Model>Torch`` with ``forward`` and
    ``backward``, see :mod:`norse_core.fused._common`), differentiating every parameter of
    its config."""
    return type(_camel(dynamics.name) + "Torch", (_Kernel,), {
        "dynamics": dynamics,
        "PARAMS": tuple(f for f in dynamics.config_fields if f in PARAMETER_FIELDS),
        "__doc__": f"Portable fused kernel of {dynamics}.",
    })


def _add(x: torch.Tensor, y: torch.Tensor, out: Optional[torch.Tensor]) -> torch.Tensor:
    """``x + y``, written into ``out`` when given (a saved step of a sequence)."""
    return torch.add(x, y, out=out) if out is not None else x + y


class _Kernel:
    """One generic forward loop and its hand-derived BPTT (module docstring); the subclass's
    ``dynamics`` selects the terms. Saves the spikes and what :meth:`_saves` lists."""

    dynamics: Dynamics
    PARAMS: Tuple[str, ...] = ()

    @classmethod
    def _saves(cls, cfg: Any, params: Sequence[str]) -> Tuple[bool, ...]:
        """Which of (vd, vd - bd, v, j, b or w before the step, rho before the step, inner
        spikes) backward needs: ``vd`` for ``vd - v_th`` and the value reset, the others for
        adaptive, exponential, adaptation-current or refractory terms and trainable parameters."""
        dyn, wants = cls.dynamics, set(params)
        subtract = bool(getattr(cfg, "subtract", False))
        drive = dyn.leak and "a" in wants  # the gradient of a needs the whole drive term
        return (
            dyn.spiking and (not dyn.adaptive or not (dyn.detach_reset or subtract)),
            dyn.spiking and dyn.adaptive,
            drive or dyn.exponential or dyn.adaptation_current,
            drive or (dyn.current and "b" in wants),
            (dyn.adaptive and "c" in wants) or (dyn.adaptation_current and (drive or "d" in wants)),
            dyn.refractory,  # the countdown before each step
            dyn.refractory,  # the inner spikes (before the refractory mask)
        )

    @classmethod
    def forward(cls, cfg: Any, inputs: Tensors, save: bool, params: Sequence[str] = ()):
        dyn = cls.dynamics
        x, rest = inputs[0], list(inputs[1:])
        z_prev = rest.pop(0) if dyn.recurrent else None
        W = rest.pop() if dyn.recurrent else None
        v = rest[0]
        i = rest[1] if dyn.current else None
        rho = rest.pop() if dyn.refractory else None
        w = rest[-1] if dyn.adaptive or dyn.adaptation_current else None  # threshold b or current w
        a, b, c, d, dT, ac, asp, vl, vth, vr, beta, rho_reset = (getattr(cfg, f, 0.0) for f in PARAMETER_FIELDS)
        subtract = bool(getattr(cfg, "subtract", False))
        buffers = [x.new_empty(x.shape) if save and needed else None for needed in cls._saves(cfg, params)]
        vds, diffs, v_pre, js, w_pre, rho_pre, z_inner = (None if buf is None else buf.unbind(0) for buf in buffers)
        if dyn.refractory and z_inner is None:
            z_inner = x.new_empty(x.shape).unbind(0)
        spiker = _Spiker(cfg.sur, vr, x) if dyn.spiking else None
        out = x.new_empty(x.shape)
        xs, outs = x.unbind(0), out.unbind(0)
        for t in range(len(xs)):
            if v_pre is not None:
                v_pre[t].copy_(v)
            if w_pre is not None:
                w_pre[t].copy_(w)
            j = xs[t]
            if dyn.current:
                j = i + j
                if dyn.recurrent:
                    j = j + F.linear(z_prev, W)
            if js is not None:
                js[t].copy_(j)
            vd_out = vds[t] if vds is not None else None if dyn.spiking else outs[t]
            if dyn.leak:
                drive = vl - v
                if dyn.exponential:
                    drive = drive + dT * torch.exp((v - vth) / dT)
                drive = drive + j
                if dyn.adaptation_current:
                    drive = drive - w
                vd = _add(v, a * drive, vd_out)
            elif dyn.recurrent:  # IAF: (v + x) + linear(z_prev, W)
                vd = _add(v + j, F.linear(z_prev, W), vd_out)
            else:
                vd = _add(v, j, vd_out)
            if dyn.current:
                i = j - b * j
            if not dyn.spiking:  # a leaky integrator: the voltage (in the output) is the state
                v = vd
                continue
            if dyn.adaptation_current:  # with the voltage before the step
                w = w + d * (ac * (v - vl) - w)
            if dyn.adaptive:
                bd = w + c * (vth - w)
                diff = torch.sub(vd, bd, out=diffs[t]) if diffs is not None else vd - bd
            else:
                diff = vd - vth
            zt = spiker.spike(diff, z_inner[t] if dyn.refractory else outs[t])
            if subtract:  # vd - z v_th (adaptive models too: v_th, not the adapted threshold)
                v_new = spiker.reset_subtract(vd, vd - vth if dyn.adaptive else diff, zt, vth)
            else:
                v_new = spiker.reset(vd, zt)
            if dyn.adaptive:
                w = bd + beta * zt
            elif dyn.adaptation_current:
                w = w + zt * asp
            if dyn.refractory:  # refractory neurons keep their voltage and do not spike
                if rho_pre is not None:
                    rho_pre[t].copy_(rho)
                m = torch.gt(rho, 0).to(rho.dtype)
                v_new = (1 - m) * v_new + m * v
                zt = torch.mul(1 - m, zt, out=outs[t])
                rho = (1 - zt) * torch.relu(rho - m) + zt * rho_reset
            v = v_new
            z_prev = zt
        final = [v if dyn.spiking else v.clone()] + ([i] if dyn.current else []) + ([w] if w is not None else [])
        final += [rho] if dyn.refractory else []
        outputs = (out, *((out[-1].clone(),) if dyn.recurrent else ()), *final)
        if not save:
            return outputs, ()
        saved = [buf for buf in buffers if buf is not None] + ([out] if dyn.spiking else [])
        return outputs, (*saved, *((inputs[1], W) if dyn.recurrent else ()))

    @classmethod
    def backward(cls, cfg: Any, saved: Tensors, grads: Tensors, needs: Sequence[bool], params: Sequence[str] = ()):
        dyn = cls.dynamics
        a, b, c, d, dT, ac, asp, vl, vth, vr, beta, rho_reset = (getattr(cfg, f, 0.0) for f in PARAMETER_FIELDS)
        subtract = bool(getattr(cfg, "subtract", False))
        wants, pending = set(params), list(saved)
        vds, diffs, v_pre, js, w_pre, rho_pre, z_inner = (
            pending.pop(0) if kept else None for kept in cls._saves(cfg, params)
        )
        z = pending.pop(0) if dyn.spiking else None
        z0, W = pending if dyn.recurrent else (None, None)
        pending = list(grads)
        gout = pending.pop(0)
        r = pending.pop(0) if dyn.recurrent else None  # dL/dz_t through later steps' recurrent input
        gv = pending.pop(0)
        gi = pending.pop(0) if dyn.current else None
        gw = pending.pop(0) if dyn.adaptive or dyn.adaptation_current else None  # of b or w
        grho = pending.pop(0) if dyn.refractory else None
        gx = gout.new_empty(gout.shape)
        sums: dict = {}

        def add(field: str, value: Any) -> None:  # sums a parameter's gradient (or what makes it) over time
            if field in wants:
                value = value() if callable(value) else value
                sums[field] = sums[field].add_(value) if field in sums else value.clone()

        ap, bp, cp, dp = 1 - a, 1 - b, 1 - c, 1 - d
        for t in range(gout.shape[0] - 1, -1, -1):
            gz = gout[t] + r if dyn.recurrent else gout[t]  # dL/dz_t (the output spikes)
            if dyn.refractory:  # m = Θ(rho) carries no gradient
                m = torch.gt(rho_pre[t], 0).to(gz.dtype)
                z_out, rho_arg = z[t], rho_pre[t] - m
                gz = gz + grho * (rho_reset - torch.relu(rho_arg))
                add("rho_reset", grho * z_out)
                grho = grho * (1 - z_out) * torch.gt(rho_arg, 0).to(gz.dtype)
                gz = gz * (1 - m)
                gv_kept, gv = gv * m, gv * (1 - m)  # to the voltage before the step / the inner one
            if dyn.spiking:
                zt = z_inner[t] if dyn.refractory else z[t]
                diff = diffs[t] if dyn.adaptive else vds[t] - vth
                spike = gz  # dL/dz_t (the inner spikes)
                if subtract:
                    if not dyn.detach_reset:
                        spike = spike - gv * vth
                    add("v_th", lambda: -(gv * zt))
                else:
                    add("v_reset", lambda: gv * zt)
                    if not dyn.detach_reset:  # gz + gv (v_reset - vd)
                        spike = torch.rsub(vds[t], vr).mul_(gv).add_(spike)
                if dyn.adaptive:
                    add("beta", lambda: gw * zt)
                    spike = spike + gw * beta
                elif dyn.adaptation_current:
                    add("adaptation_spike", lambda: gw * zt)
                    spike = spike + gw * asp
                s = spike * cfg.sur.derivative(diff)  # dL/d(threshold argument)
                u = gv + s if subtract else torch.addcmul(gv, gv, zt, value=-1).add_(s)  # dL/dvd_t, gv (1 - z) + s
                if dyn.adaptive:
                    gbd = gw - s
                    add("c", lambda: gbd * (vth - w_pre[t]))
                    add("v_th", lambda: gbd * c)
                    gw = gbd.mul_(cp)
                elif "v_th" in wants:
                    add("v_th", -s)
            else:
                u = gout[t] + gv
            if dyn.leak:
                ua = u * a
                if "a" in wants:
                    drive = vl - v_pre[t]
                    if dyn.exponential:
                        drive = drive + dT * torch.exp((v_pre[t] - vth) / dT)
                    drive = drive + js[t]
                    if dyn.adaptation_current:
                        drive = drive - w_pre[t]
                    add("a", u * drive)
                add("v_leak", ua)
                gj = torch.mul(u, a, out=gx[t])
                gv_pre = u.mul_(ap)
                if dyn.exponential:  # E = delta_T exp((v - v_th)/delta_T) of the voltage before
                    scaled = (v_pre[t] - vth) / dT
                    uae = ua * torch.exp(scaled)
                    gv_pre = gv_pre.add_(uae)
                    add("v_th", lambda: -uae)
                    add("delta_T", lambda: uae * (1 - scaled))
                if dyn.adaptation_current:  # w' = w + d(adaptation_current (v - v_leak) - w)
                    gwd = gw * d
                    gv_pre = gv_pre.add_(gwd * ac)
                    add("v_leak", lambda: -(gwd * ac))
                    add("d", lambda: gw * (ac * (v_pre[t] - vl) - w_pre[t]))
                    add("adaptation_current", lambda: gwd * (v_pre[t] - vl))
                    gw = (gw * dp).sub_(ua)
                gv = gv_pre
            else:
                gj = gx[t].copy_(u)
                gv = u
            if dyn.refractory:
                gv = gv + gv_kept
            if dyn.current:
                add("b", lambda: -(gi * js[t]))
                # gx_t = gj_t = a u_t + (1 - b) gi'_t
                gi = gj.addcmul_(gi, bp) if isinstance(bp, torch.Tensor) else gj.add_(gi, alpha=bp)
            if dyn.recurrent:
                r = gj @ W
        result = [gx] + ([r] if dyn.recurrent else []) + [gv]
        result += ([gi.clone()] if dyn.current else []) + ([gw] if gw is not None else [])
        result += [grho] if dyn.refractory else []
        if dyn.recurrent:
            result.append(_recurrent_weight_grad(gx, z, z0) if needs[-1] else None)
        return (*result, *(sums.get(f) for f in params))

