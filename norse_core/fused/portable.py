"""Portable (pure PyTorch) fused kernels: forward loops without an autograd graph, and the
hand-derived backpropagation through time of the spec equations.

Notation per step ``t`` (``a = dt*tau_mem_inv``, ``b = dt*tau_syn_inv``, ``c = dt*tau_adapt_inv``,
``s_t = s(vd_t - v_th, alpha)`` the registered surrogate derivative, ``g·`` gradients)::

    LIF     j = i + x;  vd = v + a((v_leak - v) + j);  i' = (1 - b) j;  z = Θ(vd - v_th)
            v' = (1 - z) vd + z v_reset
    backward (reverse in time; u_t = dL/dvd_t):
            u_t   = gv'_t ((1 - z_t) + (v_reset - vd_t) s_t) + gz_t s_t
            gv_t  = (1 - a) u_t                  (gradient to the voltage before step t)
            gj_t  = a u_t + (1 - b) gj_{t+1}     (gj_T = gi of the final state)
            gx_t  = gi_t = gj_t

Only what backward needs is saved: the pre-reset voltages ``vd`` and the spikes (an output,
alive anyway), plus for LSNN the threshold argument ``vd - b_d``; LI and LIBox save nothing.
Recurrent kernels save the spikes (inputs of the recurrent matmul) and the recurrent weights.
Backward passes run step by step on one step's tensors (they stay in cache); the surrogate
derivative is the registered ``s(x, alpha)``, so every surrogate works.

The forward loops repeat the reference step functions' arithmetic operation by operation, so
outputs and states are bitwise identical to the step-by-step loop. With a Heaviside forward,
spikes are ``gt(vd - v_th, 0)`` written straight into the output and the reset
``(1 - z)*vd + z*v_reset`` is ``lerp(vd, v_reset, z)`` (the same value for ``z`` in {0, 1});
any other registered forward (the stochastic ``logistic``, user functions) is called through
``threshold`` exactly as the step loop calls it, and the reset uses the reference formula.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F

from norse_core.fused._common import Surrogate

Number = Union[float, torch.Tensor]
Tensors = Tuple[torch.Tensor, ...]


class LIFConfig(NamedTuple):
    a: Number
    b: Number
    v_leak: Number
    v_th: Number
    v_reset: Number
    sur: Surrogate


class LIFBoxConfig(NamedTuple):
    a: Number
    v_leak: Number
    v_th: Number
    v_reset: Number
    subtract: bool
    sur: Surrogate


class IAFConfig(NamedTuple):
    v_th: Number
    v_reset: Number
    sur: Surrogate


class LIConfig(NamedTuple):
    a: Number
    b: Number
    v_leak: Number


class LIBoxConfig(NamedTuple):
    a: Number
    v_leak: Number


class LSNNConfig(NamedTuple):
    a: Number
    b: Number
    c: Number
    v_leak: Number
    v_th: Number
    v_reset: Number
    beta: Number
    sur: Surrogate


# -- helpers -----------------------------------------------------------------------------------

def _add_scaled_(target: torch.Tensor, other: torch.Tensor, scale: Number) -> torch.Tensor:
    """``target += scale*other`` in place (``scale`` a number or a broadcastable tensor)."""
    if isinstance(scale, torch.Tensor):
        return target.addcmul_(other, scale)
    return target.add_(other, alpha=scale)


class _Spiker:
    """Spikes and resets of one forward loop (see the module docstring)."""

    def __init__(self, sur: Surrogate, v_reset: Number, like: torch.Tensor):
        self.sur = sur
        self.fast = sur.heaviside_forward
        self.v_reset = v_reset
        if self.fast:
            self.v_reset_t = v_reset if isinstance(v_reset, torch.Tensor) else torch.tensor(v_reset, dtype=like.dtype, device=like.device)

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


def _steps(t: Optional[torch.Tensor]):
    return t.unbind(0) if t is not None else None


def _keep_unspiked(gv: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """``gv*(1 - z)`` as a new tensor."""
    return torch.addcmul(gv, gv, z, value=-1)


def _reset_term(d: torch.Tensor, v_reset: Number, gv: torch.Tensor, gz: torch.Tensor) -> torch.Tensor:
    """``gz + gv*(v_reset - vd)``: the gradient reaching the spike (value reset)."""
    return torch.rsub(d, v_reset).mul_(gv).add_(gz)


def _input_current_grad(u: torch.Tensor, a: Number, bp: Number, gi: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """``gj = a*u + (1 - b)*gi`` written into ``out``."""
    torch.mul(u, a, out=out)
    return _add_scaled_(out, gi, bp)


# -- feed-forward kernels ---------------------------------------------------------------------

class LIFTorch:
    """Current-based LIF over time. inputs ``(x, v0, i0)``, outputs ``(z, v_T, i_T)``."""

    @staticmethod
    def forward(cfg: LIFConfig, inputs: Tensors, save: bool, params: Sequence[str] = ()):
        x, v, i = inputs
        a, b, vl, vth, vr, sur = cfg
        spiker = _Spiker(sur, vr, x)
        z = x.new_empty(x.shape)
        vds = x.new_empty(x.shape) if save else None
        xs, zs, vdl = x.unbind(0), z.unbind(0), _steps(vds)
        for t in range(len(xs)):
            j = i + xs[t]
            dv = a * ((vl - v) + j)
            vd = torch.add(v, dv, out=vdl[t]) if save else v + dv
            i = j - b * j
            v = spiker.reset(vd, spiker.spike(vd - vth, zs[t]))
        return (z, v, i), ((vds, z) if save else ())

    @staticmethod
    def backward(cfg: LIFConfig, saved: Tensors, grads: Tensors, needs: Sequence[bool], params: Sequence[str] = ()):
        a, b, vl, vth, vr, sur = cfg
        vd, z = saved
        gz, gv, gi = grads
        ap, bp = 1 - a, 1 - b
        gx = torch.empty_like(vd)
        vds, gzs, zs, gxs = vd.unbind(0), gz.unbind(0), z.unbind(0), gx.unbind(0)
        for t in range(len(vds) - 1, -1, -1):
            d = vds[t]
            s = sur.derivative(d - vth)
            u = _keep_unspiked(gv, zs[t]).addcmul_(_reset_term(d, vr, gv, gzs[t]), s)  # dL/dvd_t
            gi = _input_current_grad(u, a, bp, gi, gxs[t])                               # gx_t = gi_t = gj_t
            gv = u.mul_(ap)
        return gx, gv, gi.clone()


class LIFBoxTorch:
    """Box LIF over time. inputs ``(x, v0)``, outputs ``(z, v_T)``; reset to ``v_reset`` or
    by subtracting ``v_th``::

        u_t = gv'_t (1 - z_t) + (gz_t + gv'_t (v_reset - vd_t)) s_t      (value)
        u_t = gv'_t + (gz_t - gv'_t v_th) s_t                            (subtract)
        gx_t = a u_t;  gv_t = (1 - a) u_t
    """

    @staticmethod
    def forward(cfg: LIFBoxConfig, inputs: Tensors, save: bool, params: Sequence[str] = ()):
        x, v = inputs
        a, vl, vth, vr, subtract, sur = cfg
        spiker = _Spiker(sur, vr, x)
        z = x.new_empty(x.shape)
        vds = x.new_empty(x.shape) if save else None
        xs, zs, vdl = x.unbind(0), z.unbind(0), _steps(vds)
        for t in range(len(xs)):
            dv = a * ((vl - v) + xs[t])
            vd = torch.add(v, dv, out=vdl[t]) if save else v + dv
            diff = vd - vth
            zt = spiker.spike(diff, zs[t])
            v = spiker.reset_subtract(vd, diff, zt, vth) if subtract else spiker.reset(vd, zt)
        return (z, v), ((vds, z) if save else ())

    @staticmethod
    def backward(cfg: LIFBoxConfig, saved: Tensors, grads: Tensors, needs: Sequence[bool], params: Sequence[str] = ()):
        a, vl, vth, vr, subtract, sur = cfg
        vd, z = saved
        gz, gv = grads
        ap = 1 - a
        gx = torch.empty_like(vd)
        vds, gzs, zs, gxs = vd.unbind(0), gz.unbind(0), z.unbind(0), gx.unbind(0)
        for t in range(len(vds) - 1, -1, -1):
            d = vds[t]
            s = sur.derivative(d - vth)
            if subtract:
                u = torch.addcmul(gv, torch.mul(gv, vth).neg_().add_(gzs[t]), s)
            else:
                u = _keep_unspiked(gv, zs[t]).addcmul_(_reset_term(d, vr, gv, gzs[t]), s)
            torch.mul(u, a, out=gxs[t])
            gv = u.mul_(ap)
        return gx, gv


class IAFTorch:
    """Integrate-and-fire over time. inputs ``(x, v0)``, outputs ``(z, v_T)``::

        vd = v + x;  z = Θ(vd - v_th);  v' = (1 - z) vd + z v_reset
        u_t = gv'_t (1 - z_t) + (gz_t + gv'_t (v_reset - vd_t)) s_t;  gx_t = gv_t = u_t
    """

    @staticmethod
    def forward(cfg: IAFConfig, inputs: Tensors, save: bool, params: Sequence[str] = ()):
        x, v = inputs
        vth, vr, sur = cfg
        spiker = _Spiker(sur, vr, x)
        z = x.new_empty(x.shape)
        vds = x.new_empty(x.shape) if save else None
        xs, zs, vdl = x.unbind(0), z.unbind(0), _steps(vds)
        for t in range(len(xs)):
            vd = torch.add(v, xs[t], out=vdl[t]) if save else v + xs[t]
            v = spiker.reset(vd, spiker.spike(vd - vth, zs[t]))
        return (z, v), ((vds, z) if save else ())

    @staticmethod
    def backward(cfg: IAFConfig, saved: Tensors, grads: Tensors, needs: Sequence[bool], params: Sequence[str] = ()):
        vth, vr, sur = cfg
        vd, z = saved
        gz, gv = grads
        gx = torch.empty_like(vd)
        vds, gzs, zs, gxs = vd.unbind(0), gz.unbind(0), z.unbind(0), gx.unbind(0)
        for t in range(len(vds) - 1, -1, -1):
            d = vds[t]
            s = sur.derivative(d - vth)
            gv = torch.addcmul(_keep_unspiked(gv, zs[t]), _reset_term(d, vr, gv, gzs[t]), s, out=gxs[t])
        return gx, gv.clone()


class LITorch:
    """Leaky integrator over time. inputs ``(x, v0, i0)``, outputs ``(v, v_T, i_T)``; linear,
    so nothing is saved::

        u_t = gout_t + gv'_t;  gj_t = a u_t + (1 - b) gi'_t;  gx_t = gi_t = gj_t;  gv_t = (1 - a) u_t
    """

    @staticmethod
    def forward(cfg: LIConfig, inputs: Tensors, save: bool, params: Sequence[str] = ()):
        x, v, i = inputs
        a, b, vl = cfg
        out = x.new_empty(x.shape)
        xs, outs = x.unbind(0), out.unbind(0)
        for t in range(len(xs)):
            j = i + xs[t]
            v = torch.add(v, a * ((vl - v) + j), out=outs[t])
            i = j - b * j
        return (out, v.clone(), i), ()

    @staticmethod
    def backward(cfg: LIConfig, saved: Tensors, grads: Tensors, needs: Sequence[bool], params: Sequence[str] = ()):
        a, b, vl = cfg
        gout, gv, gi = grads
        ap, bp = 1 - a, 1 - b
        gx = gout.new_empty(gout.shape)
        gos, gxs = gout.unbind(0), gx.unbind(0)
        for t in range(len(gos) - 1, -1, -1):
            u = gos[t] + gv
            gi = _input_current_grad(u, a, bp, gi, gxs[t])
            gv = u.mul_(ap)
        return gx, gv, gi.clone()


class LIBoxTorch:
    """Box leaky integrator over time. inputs ``(x, v0)``, outputs ``(v, v_T)``; saves nothing::

        u_t = gout_t + gv'_t;  gx_t = a u_t;  gv_t = (1 - a) u_t
    """

    @staticmethod
    def forward(cfg: LIBoxConfig, inputs: Tensors, save: bool, params: Sequence[str] = ()):
        x, v = inputs
        a, vl = cfg
        out = x.new_empty(x.shape)
        xs, outs = x.unbind(0), out.unbind(0)
        for t in range(len(xs)):
            v = torch.add(v, a * ((vl - v) + xs[t]), out=outs[t])
        return (out, v.clone()), ()

    @staticmethod
    def backward(cfg: LIBoxConfig, saved: Tensors, grads: Tensors, needs: Sequence[bool], params: Sequence[str] = ()):
        a, vl = cfg
        gout, gv = grads
        ap = 1 - a
        gx = gout.new_empty(gout.shape)
        gos, gxs = gout.unbind(0), gx.unbind(0)
        for t in range(len(gos) - 1, -1, -1):
            u = gos[t] + gv
            torch.mul(u, a, out=gxs[t])
            gv = u.mul_(ap)
        return gx, gv


class LSNNTorch:
    """Adaptive-threshold LIF over time. inputs ``(x, v0, i0, b0)``, outputs ``(z, v_T, i_T, b_T)``::

        bd = b + c (v_th - b);  z = Θ(vd - bd);  b' = bd + beta z   (rest as LIF)
        w_t   = (gz_t + gv'_t (v_reset - vd_t) + gb'_t beta) s_t
        u_t   = gv'_t (1 - z_t) + w_t;   gb_t = (1 - c)(gb'_t - w_t);   gv_t = (1 - a) u_t
    Saves ``vd``, ``vd - bd`` and the spikes.
    """

    @staticmethod
    def forward(cfg: LSNNConfig, inputs: Tensors, save: bool, params: Sequence[str] = ()):
        x, v, i, bb = inputs
        a, b, c, vl, vth, vr, beta, sur = cfg
        spiker = _Spiker(sur, vr, x)
        z = x.new_empty(x.shape)
        vds = x.new_empty(x.shape) if save else None
        diffs = x.new_empty(x.shape) if save else None
        xs, zs, vdl, dfl = x.unbind(0), z.unbind(0), _steps(vds), _steps(diffs)
        for t in range(len(xs)):
            j = i + xs[t]
            dv = a * ((vl - v) + j)
            vd = torch.add(v, dv, out=vdl[t]) if save else v + dv
            i = j - b * j
            bd = bb + c * (vth - bb)
            diff = torch.sub(vd, bd, out=dfl[t]) if save else vd - bd
            zt = spiker.spike(diff, zs[t])
            v = spiker.reset(vd, zt)
            bb = bd + beta * zt
        return (z, v, i, bb), ((vds, diffs, z) if save else ())

    @staticmethod
    def backward(cfg: LSNNConfig, saved: Tensors, grads: Tensors, needs: Sequence[bool], params: Sequence[str] = ()):
        a, b, c, vl, vth, vr, beta, sur = cfg
        vd, diff_all, z = saved
        gz, gv, gi, gb = grads
        ap, bp, cp = 1 - a, 1 - b, 1 - c
        gx = torch.empty_like(vd)
        vds, dfs, gzs, zs, gxs = vd.unbind(0), diff_all.unbind(0), gz.unbind(0), z.unbind(0), gx.unbind(0)
        for t in range(len(vds) - 1, -1, -1):
            s = sur.derivative(dfs[t])
            w = _add_scaled_(_reset_term(vds[t], vr, gv, gzs[t]), gb, beta).mul_(s)
            u = _keep_unspiked(gv, zs[t]).add_(w)
            gb = (gb - w).mul_(cp)
            gi = _input_current_grad(u, a, bp, gi, gxs[t])
            gv = u.mul_(ap)
        return gx, gv, gi.clone(), gb


# -- recurrent kernels (elementwise dynamics fused; the recurrent matmul per step) -------------

def _flat(t: torch.Tensor) -> torch.Tensor:
    return t.reshape(-1, t.shape[-1])


def _recurrent_weight_grad(gj: torch.Tensor, z: torch.Tensor, z0: torch.Tensor) -> torch.Tensor:
    """``dL/dW = sum_t gj_t^T z_{t-1}`` for ``linear(z_{t-1}, W)``, as two matmuls."""
    gw = _flat(gj[0]).T @ _flat(z0)
    if gj.shape[0] > 1:
        gw.addmm_(_flat(gj[1:]).T, _flat(z[:-1]))
    return gw


class LIFRecurrentTorch:
    """Recurrent LIF: inputs ``(xin, z0, v0, i0, W)`` with ``xin = linear(x, W_in)`` computed
    outside; ``j = i + xin + linear(z_prev, W)``; the reset uses detached spikes, so
    ``u_t = gv'_t (1 - z_t) + (gz_t + gj_{t+1} W) s_t``. Outputs ``(z, z_T, v_T, i_T)``."""

    @staticmethod
    def forward(cfg: LIFConfig, inputs: Tensors, save: bool, params: Sequence[str] = ()):
        xin, z_prev, v, i, W = inputs
        a, b, vl, vth, vr, sur = cfg
        spiker = _Spiker(sur, vr, xin)
        z = xin.new_empty(xin.shape)
        vds = xin.new_empty(xin.shape) if save else None
        xs, zs, vdl = xin.unbind(0), z.unbind(0), _steps(vds)
        for t in range(len(xs)):
            j = (i + xs[t]) + F.linear(z_prev, W)
            dv = a * ((vl - v) + j)
            vd = torch.add(v, dv, out=vdl[t]) if save else v + dv
            i = j - b * j
            z_prev = spiker.spike(vd - vth, zs[t])
            v = spiker.reset(vd, z_prev)
        return (z, z[-1].clone(), v, i), ((vds, z, inputs[1], W) if save else ())

    @staticmethod
    def backward(cfg: LIFConfig, saved: Tensors, grads: Tensors, needs: Sequence[bool], params: Sequence[str] = ()):
        a, b, vl, vth, vr, sur = cfg
        vd, z, z0, W = saved
        gz, gz_final, gv, gi = grads
        ap, bp = 1 - a, 1 - b
        gxin = torch.empty_like(vd)
        vds, zs, gzs, gxs = vd.unbind(0), z.unbind(0), gz.unbind(0), gxin.unbind(0)
        r = gz_final
        for t in range(len(vds) - 1, -1, -1):
            s = sur.derivative(vds[t] - vth)
            u = _keep_unspiked(gv, zs[t]).addcmul_(gzs[t] + r, s)  # reset detached: no (v_reset - vd) term
            gi = _input_current_grad(u, a, bp, gi, gxs[t])
            gv = u.mul_(ap)
            r = gi @ W
        gw = _recurrent_weight_grad(gxin, z, z0) if needs[4] else None
        return gxin, r, gv, gi.clone(), gw


class IAFRecurrentTorch:
    """Recurrent IAF: inputs ``(xin, z0, v0, W)``; ``vd = v + xin + linear(z_prev, W)``; the
    reset keeps its gradient (as in ``iaf_step``). Outputs ``(z, z_T, v_T)``."""

    @staticmethod
    def forward(cfg: IAFConfig, inputs: Tensors, save: bool, params: Sequence[str] = ()):
        xin, z_prev, v, W = inputs
        vth, vr, sur = cfg
        spiker = _Spiker(sur, vr, xin)
        z = xin.new_empty(xin.shape)
        vds = xin.new_empty(xin.shape) if save else None
        xs, zs, vdl = xin.unbind(0), z.unbind(0), _steps(vds)
        for t in range(len(xs)):
            lin = F.linear(z_prev, W)
            vd = torch.add(v + xs[t], lin, out=vdl[t]) if save else (v + xs[t]) + lin
            z_prev = spiker.spike(vd - vth, zs[t])
            v = spiker.reset(vd, z_prev)
        return (z, z[-1].clone(), v), ((vds, z, inputs[1], W) if save else ())

    @staticmethod
    def backward(cfg: IAFConfig, saved: Tensors, grads: Tensors, needs: Sequence[bool], params: Sequence[str] = ()):
        vth, vr, sur = cfg
        vd, z, z0, W = saved
        gz, gz_final, gv = grads
        gxin = torch.empty_like(vd)
        vds, zs, gzs, gxs = vd.unbind(0), z.unbind(0), gz.unbind(0), gxin.unbind(0)
        r = gz_final
        for t in range(len(vds) - 1, -1, -1):
            d = vds[t]
            s = sur.derivative(d - vth)
            g = _reset_term(d, vr, gv, gzs[t]).add_(r)  # the reset keeps its gradient
            gv = torch.addcmul(_keep_unspiked(gv, zs[t]), g, s, out=gxs[t])
            r = gv @ W
        gw = _recurrent_weight_grad(gxin, z, z0) if needs[3] else None
        return gxin, r, gv.clone(), gw


class LSNNRecurrentTorch:
    """Recurrent LSNN: inputs ``(xin, z0, v0, i0, b0, W)``; reset of ``v`` with detached
    spikes, threshold jump ``b' = bd + beta z`` with gradient. Outputs ``(z, z_T, v_T, i_T, b_T)``;
    saves ``vd - bd`` and the spikes (the detached reset needs no voltage)."""

    @staticmethod
    def forward(cfg: LSNNConfig, inputs: Tensors, save: bool, params: Sequence[str] = ()):
        xin, z_prev, v, i, bb, W = inputs
        a, b, c, vl, vth, vr, beta, sur = cfg
        spiker = _Spiker(sur, vr, xin)
        z = xin.new_empty(xin.shape)
        diffs = xin.new_empty(xin.shape) if save else None
        xs, zs, dfl = xin.unbind(0), z.unbind(0), _steps(diffs)
        for t in range(len(xs)):
            j = (i + xs[t]) + F.linear(z_prev, W)
            vd = v + a * ((vl - v) + j)
            i = j - b * j
            bd = bb + c * (vth - bb)
            diff = torch.sub(vd, bd, out=dfl[t]) if save else vd - bd
            z_prev = spiker.spike(diff, zs[t])
            v = spiker.reset(vd, z_prev)
            bb = bd + beta * z_prev
        return (z, z[-1].clone(), v, i, bb), ((diffs, z, inputs[1], W) if save else ())

    @staticmethod
    def backward(cfg: LSNNConfig, saved: Tensors, grads: Tensors, needs: Sequence[bool], params: Sequence[str] = ()):
        a, b, c, vl, vth, vr, beta, sur = cfg
        diff, z, z0, W = saved
        gz, gz_final, gv, gi, gb = grads
        ap, bp, cp = 1 - a, 1 - b, 1 - c
        gxin = torch.empty_like(diff)
        dfs, zs, gzs, gxs = diff.unbind(0), z.unbind(0), gz.unbind(0), gxin.unbind(0)
        r = gz_final
        for t in range(len(dfs) - 1, -1, -1):
            s = sur.derivative(dfs[t])
            w = _add_scaled_(gzs[t] + r, gb, beta).mul_(s)
            u = _keep_unspiked(gv, zs[t]).add_(w)
            gb = (gb - w).mul_(cp)
            gi = _input_current_grad(u, a, bp, gi, gxs[t])
            gv = u.mul_(ap)
            r = gi @ W
        gw = _recurrent_weight_grad(gxin, z, z0) if needs[5] else None
        return gxin, r, gv, gi.clone(), gb, gw
