"""Triton kernels for CUDA tensors, made from each model's
:class:`~norse_core.functional.dynamics.Dynamics`: ONE generic forward and ONE generic
backward kernel whose terms are ``tl.constexpr`` flags, compiled per feed-forward model. One
program per block of neurons with the time loop inside (state in registers); parameters arrive
as one row per field and neuron (numbers and per-neuron tensors alike, in the input's dtype)
and trainable ones get their gradients summed over time in the backward. Saved per step: what
the portable kernel saves (:meth:`norse_core.fused.portable._Kernel._saves`). Compiled with
``enable_fp_fusion=False``, the forward is the step loop's arithmetic (``exp`` of LIFEx/LIFAdEx
may differ in the last bit from torch's). Imported only when a fused loop sees a CUDA tensor
(or ``use_backend("triton")``); with ``TRITON_INTERPRET=1`` set before triton is imported, the
kernels run on CPU tensors in Triton's interpreter (what the tests do).
"""

from __future__ import annotations

import functools
import os
import warnings
from typing import Any, Dict, List, Optional, Sequence

import torch

from norse_core.functional.dynamics import Dynamics
from norse_core.functional.lif import LIF_DYNAMICS
from norse_core.fused._common import Surrogate
from norse_core.fused.portable import PARAMETER_FIELDS, Tensors, config_type, kernel as portable_kernel

try:  # noqa: SIM105
    import triton
    import triton.language as tl

    _IMPORT_ERROR: Optional[str] = None
except Exception as error:  # noqa: BLE001
    triton = None  # type: ignore[assignment]
    tl = None  # type: ignore[assignment]
    _IMPORT_ERROR = f"{type(error).__name__}: {error}"

_INTERPRET = os.environ.get("TRITON_INTERPRET", "") not in ("", "0")
_warned = False
BLOCK = 256
#: Parameter rows of the kernels: the config fields, then the surrogate's alpha.
ROWS = (*PARAMETER_FIELDS, "alpha")


def kernel(dynamics: Dynamics, force: bool = False) -> Any:
    """The Triton kernel of ``dynamics`` (``None`` if it is recurrent, a matrix product per step,
    or triton is missing or fails its first run on this GPU)."""
    global _warned
    if dynamics.recurrent:
        return None
    if triton is None:
        if force:
            raise RuntimeError(f"triton is unavailable: {_IMPORT_ERROR}")
        if not _warned:
            _warned = True
            warnings.warn(f"norse_core: triton unavailable ({_IMPORT_ERROR}); using the portable loops", RuntimeWarning)
        return None
    if not force and not _INTERPRET and not _probe():
        return None
    return triton_kernel(dynamics)


_probe_result: Optional[bool] = None


def _probe() -> bool:
    """Runs the LIF kernels once on a small CUDA problem against the portable kernel; any
    failure (driver, compiler, mismatch) warns once and keeps the portable loops."""
    global _probe_result
    if _probe_result is None:
        try:
            g = torch.Generator().manual_seed(0)
            x = (torch.randn(20, 3, 300, generator=g) * 3 + 0.8).cuda()
            v0, i0 = torch.zeros(3, 300, device="cuda"), torch.zeros(3, 300, device="cuda")
            cfg = config_type(LIF_DYNAMICS)(0.3, 0.2, 0.0, 0.6, 0.0, Surrogate.of("super", 10.0))
            k = triton_kernel(LIF_DYNAMICS)
            (z, v, i), saved = k.forward(cfg, (x, v0, i0), True)
            (z_ref, v_ref, _), _ = portable_kernel(LIF_DYNAMICS).forward(cfg, (x, v0, i0), False)
            k.backward(cfg, saved, (torch.ones_like(z), torch.ones_like(v), torch.ones_like(i)), (True,) * 3)
            torch.cuda.synchronize()
            if not (torch.equal(z, z_ref) and torch.equal(v, v_ref)):
                raise RuntimeError("Triton LIF kernel disagrees with the portable loop")
            _probe_result = True
        except Exception as error:  # noqa: BLE001
            _probe_result = False
            first = (str(error).strip().splitlines() or [type(error).__name__])[0][:200]
            warnings.warn(f"norse_core: Triton kernels unavailable ({type(error).__name__}: {first}); "
                          "using the portable loops", RuntimeWarning)
    return _probe_result


if triton is not None:

    @triton.jit
    def _surrogate(x, alpha, METHOD: tl.constexpr):
        # ids as in norse_core.fused._common.NATIVE_METHODS
        if METHOD == 0:
            s = x * 0.0
        elif METHOD == 1:
            d = alpha * tl.abs(x) + 1.0
            s = 1.0 / (d * d)
        elif METHOD == 2:
            s = tl.where(1.0 - tl.abs(x) > 0.0, alpha * (1.0 - tl.abs(x)), 0.0 * x)
        elif METHOD == 3:  # 1 - tanh(y)^2 = 4 sigmoid(2y) (1 - sigmoid(2y))
            q = tl.sigmoid(2.0 * alpha * x)
            s = 4.0 * q * (1.0 - q)
        elif METHOD == 4:
            q = alpha * alpha + x * x
            s = alpha * alpha * alpha / (q * tl.sqrt(q))
        elif METHOD == 5:
            y = alpha * x
            s = 1.1283791670955126 * tl.exp(-y * y)
        elif METHOD == 6:
            y = 1.5707963267948966 * alpha * x
            s = alpha / 2.0 / (1.0 + y * y)
        else:
            q = tl.sigmoid(alpha * x)
            s = alpha * q * (1.0 - q)
        return s

    @triton.jit
    def _row(prm_ptr, k: tl.constexpr, offs, mask, N):
        return tl.load(prm_ptr + k * N + offs, mask=mask, other=1.0)

    @triton.jit
    def _parameters(prm_ptr, offs, mask, N):
        """The parameter rows (ROWS order) of a block of neurons."""
        return (
            _row(prm_ptr, 0, offs, mask, N), _row(prm_ptr, 1, offs, mask, N), _row(prm_ptr, 2, offs, mask, N),
            _row(prm_ptr, 3, offs, mask, N), _row(prm_ptr, 4, offs, mask, N), _row(prm_ptr, 5, offs, mask, N),
            _row(prm_ptr, 6, offs, mask, N), _row(prm_ptr, 7, offs, mask, N), _row(prm_ptr, 8, offs, mask, N),
            _row(prm_ptr, 9, offs, mask, N), _row(prm_ptr, 10, offs, mask, N), _row(prm_ptr, 11, offs, mask, N),
            _row(prm_ptr, 12, offs, mask, N),
        )

    @triton.jit
    def _load_if(ptr, offs, mask, zero, ON: tl.constexpr):
        value = zero
        if ON:
            value = tl.load(ptr + offs, mask=mask, other=0.0)
        return value

    @triton.jit
    def _store_if(ptr, value, offs, mask, ON: tl.constexpr):
        if ON:
            tl.store(ptr + offs, value, mask=mask)

    @triton.jit
    def _forward_kernel(
        x_ptr, out_ptr, v_ptr, i_ptr, w_ptr, rho_ptr, vT_ptr, iT_ptr, wT_ptr, rhoT_ptr,
        s_vd, s_diff, s_v, s_j, s_w, s_rho, s_zin, prm_ptr, T, N,
        CURRENT: tl.constexpr, LEAK: tl.constexpr, SPIKING: tl.constexpr, ADAPTIVE: tl.constexpr,
        EXPO: tl.constexpr, ADAPT_CUR: tl.constexpr, SUBTRACT: tl.constexpr, REFRAC: tl.constexpr,
        SAVES: tl.constexpr, BLOCK_SIZE: tl.constexpr,
    ):
        # SAVES: bits 0..6 for vd, vd - bd, v, j, b or w, rho, inner spikes (portable _saves order)
        offs = tl.program_id(0).to(tl.int64) * BLOCK_SIZE + tl.arange(0, BLOCK_SIZE)
        mask = offs < N
        a, b, c, d, dT, ac, asp, vl, vth, vr, beta, rho_reset, alpha = _parameters(prm_ptr, offs, mask, N)
        v = tl.load(v_ptr + offs, mask=mask, other=0.0)
        cur = _load_if(i_ptr, offs, mask, v * 0.0, CURRENT)
        w = _load_if(w_ptr, offs, mask, v * 0.0, ADAPTIVE or ADAPT_CUR)
        rho = _load_if(rho_ptr, offs, mask, v * 0.0, REFRAC)
        p = offs
        for _ in range(T):
            _store_if(s_v, v, p, mask, (SAVES & 4) != 0)
            _store_if(s_w, w, p, mask, (SAVES & 16) != 0)
            x = tl.load(x_ptr + p, mask=mask, other=0.0)
            j = x
            if CURRENT:
                j = cur + x
            _store_if(s_j, j, p, mask, (SAVES & 8) != 0)
            if LEAK:
                drive = vl - v
                if EXPO:
                    drive = drive + dT * tl.exp((v - vth) / dT)
                drive = drive + j
                if ADAPT_CUR:
                    drive = drive - w
                vd = v + a * drive
            else:
                vd = v + j
            _store_if(s_vd, vd, p, mask, (SAVES & 1) != 0)
            if CURRENT:
                cur = j - b * j
            if SPIKING:
                if ADAPT_CUR:
                    w = w + d * (ac * (v - vl) - w)
                if ADAPTIVE:
                    bd = w + c * (vth - w)
                    diff = vd - bd
                    _store_if(s_diff, diff, p, mask, (SAVES & 2) != 0)
                else:
                    diff = vd - vth
                spk = diff > 0.0
                z = spk.to(vd.dtype)
                if SUBTRACT:
                    if ADAPTIVE:  # v_th, not the adapted threshold, is subtracted
                        v_new = tl.where(spk, vd - vth, vd)
                    else:
                        v_new = tl.where(spk, diff, vd)
                else:
                    v_new = tl.where(spk, vr, vd)
                if ADAPTIVE:
                    w = bd + beta * z
                if ADAPT_CUR:
                    w = w + z * asp
                if REFRAC:
                    _store_if(s_rho, rho, p, mask, (SAVES & 32) != 0)
                    _store_if(s_zin, z, p, mask, (SAVES & 64) != 0)
                    m = (rho > 0.0).to(vd.dtype)
                    v_new = (1.0 - m) * v_new + m * v
                    z = (1.0 - m) * z
                    rho = (1.0 - z) * tl.maximum(rho - m, 0.0) + z * rho_reset
                tl.store(out_ptr + p, z.to(out_ptr.dtype.element_ty), mask=mask)
                v = v_new
            else:  # a leaky integrator: the voltage is the output
                v = vd
                tl.store(out_ptr + p, v, mask=mask)
            p += N
        tl.store(vT_ptr + offs, v, mask=mask)
        _store_if(iT_ptr, cur, offs, mask, CURRENT)
        _store_if(wT_ptr, w, offs, mask, ADAPTIVE or ADAPT_CUR)
        _store_if(rhoT_ptr, rho, offs, mask, REFRAC)

    @triton.jit
    def _backward_kernel(
        gout_ptr, z_ptr, gv_ptr, gi_ptr, gw_ptr, grho_ptr, gx_ptr, gv0_ptr, gi0_ptr, gw0_ptr, grho0_ptr,
        s_vd, s_diff, s_v, s_j, s_w, s_rho, s_zin, prm_ptr, gprm_ptr, T, N,
        CURRENT: tl.constexpr, LEAK: tl.constexpr, SPIKING: tl.constexpr, ADAPTIVE: tl.constexpr,
        EXPO: tl.constexpr, ADAPT_CUR: tl.constexpr, SUBTRACT: tl.constexpr, REFRAC: tl.constexpr,
        WANT: tl.constexpr, METHOD: tl.constexpr, BLOCK_SIZE: tl.constexpr,
    ):
        # WANT: bit k set = the gradient of parameter row k (ROWS order) is written to gprm row k
        offs = tl.program_id(0).to(tl.int64) * BLOCK_SIZE + tl.arange(0, BLOCK_SIZE)
        mask = offs < N
        a, b, c, d, dT, ac, asp, vl, vth, vr, beta, rho_reset, alpha = _parameters(prm_ptr, offs, mask, N)
        gv = tl.load(gv_ptr + offs, mask=mask, other=0.0)
        zero = gv * 0.0
        gi = _load_if(gi_ptr, offs, mask, zero, CURRENT)
        gw = _load_if(gw_ptr, offs, mask, zero, ADAPTIVE or ADAPT_CUR)
        grho = _load_if(grho_ptr, offs, mask, zero, REFRAC)
        g_a, g_b, g_c, g_d, g_dT, g_ac, g_as, g_vl, g_vth, g_vr, g_beta, g_rho = (
            zero, zero, zero, zero, zero, zero, zero, zero, zero, zero, zero, zero)
        p = offs + (T - 1).to(tl.int64) * N
        for _ in range(T):
            gz = tl.load(gout_ptr + p, mask=mask, other=0.0)
            gv_kept = zero
            if REFRAC:  # m = Θ(rho) carries no gradient
                rho_b = tl.load(s_rho + p, mask=mask, other=0.0)
                m = (rho_b > 0.0).to(gz.dtype)
                z_out = tl.load(z_ptr + p, mask=mask, other=0.0).to(gz.dtype)
                rho_arg = rho_b - m
                gz = gz + grho * (rho_reset - tl.maximum(rho_arg, 0.0))
                g_rho += grho * z_out
                grho = grho * (1.0 - z_out) * (rho_arg > 0.0).to(gz.dtype)
                gz = gz * (1.0 - m)
                gv_kept = gv * m
                gv = gv * (1.0 - m)
            if SPIKING:
                if REFRAC:
                    zt = tl.load(s_zin + p, mask=mask, other=0.0)
                else:
                    zt = tl.load(z_ptr + p, mask=mask, other=0.0).to(gz.dtype)
                if ADAPTIVE:
                    diff = tl.load(s_diff + p, mask=mask, other=0.0)
                else:
                    diff = tl.load(s_vd + p, mask=mask, other=0.0) - vth
                spike = gz
                if SUBTRACT:
                    spike = spike - gv * vth
                    g_vth += -(gv * zt)
                else:
                    spike = (vr - tl.load(s_vd + p, mask=mask, other=0.0)) * gv + spike
                    g_vr += gv * zt
                if ADAPTIVE:
                    g_beta += gw * zt
                    spike = spike + gw * beta
                if ADAPT_CUR:
                    g_as += gw * zt
                    spike = spike + gw * asp
                s = spike * _surrogate(diff, alpha, METHOD)
                if SUBTRACT:
                    u = gv + s
                else:
                    u = (gv - gv * zt) + s
                if ADAPTIVE:
                    gbd = gw - s
                    if (WANT & 4) != 0:
                        g_c += gbd * (vth - tl.load(s_w + p, mask=mask, other=0.0))
                    g_vth += gbd * c
                    gw = gbd * (1.0 - c)
                else:
                    g_vth += -s
            else:
                u = gz + gv
            if LEAK:
                ua = u * a
                if (WANT & 1) != 0:
                    v_pre = tl.load(s_v + p, mask=mask, other=0.0)
                    drive = vl - v_pre
                    if EXPO:
                        drive = drive + dT * tl.exp((v_pre - vth) / dT)
                    drive = drive + tl.load(s_j + p, mask=mask, other=0.0)
                    if ADAPT_CUR:
                        drive = drive - tl.load(s_w + p, mask=mask, other=0.0)
                    g_a += u * drive
                g_vl += ua
                gj = ua
                gvp = u * (1.0 - a)
                if EXPO:
                    v_pre = tl.load(s_v + p, mask=mask, other=0.0)
                    scaled = (v_pre - vth) / dT
                    uae = ua * tl.exp(scaled)
                    gvp = gvp + uae
                    g_vth += -uae
                    g_dT += uae * (1.0 - scaled)
                if ADAPT_CUR:
                    v_pre = tl.load(s_v + p, mask=mask, other=0.0)
                    gwd = gw * d
                    gvp = gvp + gwd * ac
                    g_vl += -(gwd * ac)
                    if (WANT & 8) != 0:
                        g_d += gw * (ac * (v_pre - vl) - tl.load(s_w + p, mask=mask, other=0.0))
                    g_ac += gwd * (v_pre - vl)
                    gw = gw * (1.0 - d) - ua
                gv = gvp
            else:
                gj = u
                gv = u
            if REFRAC:
                gv = gv + gv_kept
            if CURRENT:
                if (WANT & 2) != 0:
                    g_b += -(gi * tl.load(s_j + p, mask=mask, other=0.0))
                gj = gj + (1.0 - b) * gi
                gi = gj
            tl.store(gx_ptr + p, gj, mask=mask)
            p -= N
        tl.store(gv0_ptr + offs, gv, mask=mask)
        _store_if(gi0_ptr, gi, offs, mask, CURRENT)
        _store_if(gw0_ptr, gw, offs, mask, ADAPTIVE or ADAPT_CUR)
        _store_if(grho0_ptr, grho, offs, mask, REFRAC)
        _store_if(gprm_ptr + 0 * N, g_a, offs, mask, (WANT & 1) != 0)
        _store_if(gprm_ptr + 1 * N, g_b, offs, mask, (WANT & 2) != 0)
        _store_if(gprm_ptr + 2 * N, g_c, offs, mask, (WANT & 4) != 0)
        _store_if(gprm_ptr + 3 * N, g_d, offs, mask, (WANT & 8) != 0)
        _store_if(gprm_ptr + 4 * N, g_dT, offs, mask, (WANT & 16) != 0)
        _store_if(gprm_ptr + 5 * N, g_ac, offs, mask, (WANT & 32) != 0)
        _store_if(gprm_ptr + 6 * N, g_as, offs, mask, (WANT & 64) != 0)
        _store_if(gprm_ptr + 7 * N, g_vl, offs, mask, (WANT & 128) != 0)
        _store_if(gprm_ptr + 8 * N, g_vth, offs, mask, (WANT & 256) != 0)
        _store_if(gprm_ptr + 9 * N, g_vr, offs, mask, (WANT & 512) != 0)
        _store_if(gprm_ptr + 10 * N, g_beta, offs, mask, (WANT & 1024) != 0)
        _store_if(gprm_ptr + 11 * N, g_rho, offs, mask, (WANT & 2048) != 0)


def _parameter_rows(cfg: Any, like: torch.Tensor) -> torch.Tensor:
    """``(len(ROWS), N)``: each config field (and alpha) per element of the state ``like``."""
    rows = torch.ones(len(ROWS), *like.shape, dtype=like.dtype, device=like.device)
    for k, field in enumerate(ROWS):
        value = cfg.sur.alpha if field == "alpha" and hasattr(cfg, "sur") else getattr(cfg, field, None)
        if value is not None:
            rows[k] = value
    return rows.reshape(len(ROWS), -1)


def _options(dyn: Dynamics, cfg: Any) -> Dict[str, Any]:
    """The kernels' term flags, block size and compile options."""
    return dict(
        CURRENT=dyn.current, LEAK=dyn.leak, SPIKING=dyn.spiking, ADAPTIVE=dyn.adaptive, EXPO=dyn.exponential,
        ADAPT_CUR=dyn.adaptation_current, SUBTRACT=bool(getattr(cfg, "subtract", False)), REFRAC=dyn.refractory,
        BLOCK_SIZE=BLOCK, **({} if _INTERPRET else {"enable_fp_fusion": False}),
    )


def _by_kind(dynamics: Dynamics, tensors: Sequence[torch.Tensor], dummy: torch.Tensor) -> List[torch.Tensor]:
    """The state tensors (or their gradients) as the kernels take them: v, i, b or w, rho
    (``dummy`` where the model has none)."""
    named = dict(zip(dynamics.slots, tensors))
    return [named.get(kind, dummy) for kind in ("v", "i", "w" if "w" in named else "b", "rho")]


@functools.lru_cache(maxsize=None)
def triton_kernel(dynamics: Dynamics) -> type:
    """The Triton kernel class ``<Model>Triton`` of feed-forward ``dynamics`` (the fused
    kernel protocol of :mod:`norse_core.fused._common`)."""
    portable = portable_kernel(dynamics)

    class _Triton:
        PARAMS = portable.PARAMS

        @staticmethod
        def forward(cfg: Any, inputs: Tensors, save: bool, params: Sequence[str] = ()):
            x, *state = (t.contiguous() for t in inputs)
            out, finals = torch.empty_like(x), [torch.empty_like(value) for value in state]
            kept = portable._saves(cfg, params)
            buffers = [torch.empty_like(x) if save and keep else None for keep in kept]
            if dynamics.refractory and buffers[6] is None:  # the inner spikes: needed by the loop
                buffers[6] = torch.empty_like(x)
            bits = sum(1 << k for k, buf in enumerate(buffers) if buf is not None)
            prm = _parameter_rows(cfg, state[0])
            _forward_kernel[(triton.cdiv(state[0].numel(), BLOCK),)](
                x, out, *_by_kind(dynamics, state, out), *_by_kind(dynamics, finals, out),
                *(out if buf is None else buf for buf in buffers), prm, x.shape[0], state[0].numel(),
                SAVES=bits, **_options(dynamics, cfg),
            )
            saved = [buf for buf, keep in zip(buffers, kept) if keep]
            return (out, *finals), ((*saved, out, prm) if save else ())

        @staticmethod
        def backward(cfg: Any, saved: Tensors, grads: Tensors, needs: Sequence[bool], params: Sequence[str] = ()):
            pending = list(saved)
            buffers = [pending.pop(0) if keep else None for keep in portable._saves(cfg, params)]
            z, prm = pending
            gout, *gstate = (g.contiguous() for g in grads)
            gx, results = torch.empty_like(gout), [torch.empty_like(value) for value in gstate]
            gprm = torch.empty_like(prm) if params else prm
            _backward_kernel[(triton.cdiv(gstate[0].numel(), BLOCK),)](
                gout, z, *_by_kind(dynamics, gstate, gx), gx, *_by_kind(dynamics, results, gx),
                *(gx if buf is None else buf for buf in buffers), prm, gprm, gout.shape[0], gstate[0].numel(),
                WANT=sum(1 << ROWS.index(name) for name in params),
                METHOD=cfg.sur.native_id if dynamics.spiking else 0, **_options(dynamics, cfg),
            )
            param_grads = [gprm[ROWS.index(name)].reshape(gstate[0].shape) for name in params]
            return (gx, *results, *param_grads)

    _Triton.__name__ = _Triton.__qualname__ = portable.__name__.replace("Torch", "Triton")
    return _Triton
