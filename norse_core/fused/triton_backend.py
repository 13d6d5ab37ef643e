"""Triton kernels for CUDA tensors, made from each model's
:class:`~norse_core.functional.dynamics.Dynamics`: ONE generic forward and ONE generic
backward kernel whose terms are ``tl.constexpr`` flags, so every feed-forward model (LIF,
LIFBox, IAF, LI, LIBox, LSNN, LIFEx, LIFAdEx and their refractory variants) compiles to its
own specialised loop. One program per block of neurons with the time loop inside (state in
registers); parameters arrive as one row per field and neuron (numbers and per-neuron
tensors alike) and trainable ones get their gradients summed over time in the backward.

Imported only when a fused loop sees a CUDA tensor (or ``use_backend("triton")``). With
``TRITON_INTERPRET=1`` set before triton is imported, the same kernels run on CPU tensors in
Triton's interpreter (what the tests do). Parameters are tensors in the input's dtype, so
float64 runs in float64; kernels are compiled with ``enable_fp_fusion=False`` so the forward
arithmetic matches the step-by-step loop (``exp`` of LIFEx/LIFAdEx may differ in the last
bit from torch's). Saved per step: what the portable kernel saves
(:meth:`norse_core.fused.portable._Kernel._saves`). Recurrent layers use the portable
kernels (their per-step matrix product is cuBLAS's job).
"""

from __future__ import annotations

import functools
import os
import warnings
from typing import Any, Dict, Optional, Sequence

import torch

from norse_core.functional.dynamics import Dynamics
from norse_core.fused.portable import PARAMETER_FIELDS, Tensors, kernel as portable_kernel

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


def available() -> bool:
    return triton is not None


def supports(dynamics: Dynamics) -> bool:
    """Feed-forward dynamics (recurrent ones need a matrix product per step)."""
    return not dynamics.recurrent


def kernel(dynamics: Dynamics, force: bool = False) -> Any:
    """The Triton kernel of ``dynamics`` (``None`` if it is recurrent, or triton is missing or
    fails its first run on this GPU)."""
    global _warned
    if not supports(dynamics):
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
            from norse_core.functional.lif import LIF_DYNAMICS
            from norse_core.fused._common import Surrogate
            from norse_core.fused.portable import config_type

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
        cur = v * 0.0
        w = v * 0.0
        rho = v * 0.0
        if CURRENT:
            cur = tl.load(i_ptr + offs, mask=mask, other=0.0)
        if ADAPTIVE or ADAPT_CUR:
            w = tl.load(w_ptr + offs, mask=mask, other=0.0)
        if REFRAC:
            rho = tl.load(rho_ptr + offs, mask=mask, other=0.0)
        p = offs
        for _ in range(T):
            if (SAVES & 4) != 0:
                tl.store(s_v + p, v, mask=mask)
            if (SAVES & 16) != 0:
                tl.store(s_w + p, w, mask=mask)
            x = tl.load(x_ptr + p, mask=mask, other=0.0)
            j = x
            if CURRENT:
                j = cur + x
            if (SAVES & 8) != 0:
                tl.store(s_j + p, j, mask=mask)
            if SPIKING:
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
                if (SAVES & 1) != 0:
                    tl.store(s_vd + p, vd, mask=mask)
                if CURRENT:
                    cur = j - b * j
                if ADAPT_CUR:
                    w = w + d * (ac * (v - vl) - w)
                if ADAPTIVE:
                    bd = w + c * (vth - w)
                    diff = vd - bd
                    if (SAVES & 2) != 0:
                        tl.store(s_diff + p, diff, mask=mask)
                else:
                    diff = vd - vth
                spk = diff > 0.0
                z = spk.to(vd.dtype)
                if SUBTRACT:
                    v_new = tl.where(spk, diff, vd)
                else:
                    v_new = tl.where(spk, vr, vd)
                if ADAPTIVE:
                    w = bd + beta * z
                if ADAPT_CUR:
                    w = w + z * asp
                if REFRAC:
                    if (SAVES & 32) != 0:
                        tl.store(s_rho + p, rho, mask=mask)
                    if (SAVES & 64) != 0:
                        tl.store(s_zin + p, z, mask=mask)
                    m = (rho > 0.0).to(vd.dtype)
                    v_new = (1.0 - m) * v_new + m * v
                    z = (1.0 - m) * z
                    rho = (1.0 - z) * tl.maximum(rho - m, 0.0) + z * rho_reset
                tl.store(out_ptr + p, z.to(out_ptr.dtype.element_ty), mask=mask)
                v = v_new
            else:  # a leaky integrator: the voltage is the output
                v = v + a * ((vl - v) + j)
                if CURRENT:
                    cur = j - b * j
                tl.store(out_ptr + p, v, mask=mask)
            p += N
        tl.store(vT_ptr + offs, v, mask=mask)
        if CURRENT:
            tl.store(iT_ptr + offs, cur, mask=mask)
        if ADAPTIVE or ADAPT_CUR:
            tl.store(wT_ptr + offs, w, mask=mask)
        if REFRAC:
            tl.store(rhoT_ptr + offs, rho, mask=mask)

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
        gi = zero
        gw = zero
        grho = zero
        if CURRENT:
            gi = tl.load(gi_ptr + offs, mask=mask, other=0.0)
        if ADAPTIVE or ADAPT_CUR:
            gw = tl.load(gw_ptr + offs, mask=mask, other=0.0)
        if REFRAC:
            grho = tl.load(grho_ptr + offs, mask=mask, other=0.0)
        g_a = zero
        g_b = zero
        g_c = zero
        g_d = zero
        g_dT = zero
        g_ac = zero
        g_as = zero
        g_vl = zero
        g_vth = zero
        g_vr = zero
        g_beta = zero
        g_rho = zero
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
        if CURRENT:
            tl.store(gi0_ptr + offs, gi, mask=mask)
        if ADAPTIVE or ADAPT_CUR:
            tl.store(gw0_ptr + offs, gw, mask=mask)
        if REFRAC:
            tl.store(grho0_ptr + offs, grho, mask=mask)
        if (WANT & 1) != 0:
            tl.store(gprm_ptr + 0 * N + offs, g_a, mask=mask)
        if (WANT & 2) != 0:
            tl.store(gprm_ptr + 1 * N + offs, g_b, mask=mask)
        if (WANT & 4) != 0:
            tl.store(gprm_ptr + 2 * N + offs, g_c, mask=mask)
        if (WANT & 8) != 0:
            tl.store(gprm_ptr + 3 * N + offs, g_d, mask=mask)
        if (WANT & 16) != 0:
            tl.store(gprm_ptr + 4 * N + offs, g_dT, mask=mask)
        if (WANT & 32) != 0:
            tl.store(gprm_ptr + 5 * N + offs, g_ac, mask=mask)
        if (WANT & 64) != 0:
            tl.store(gprm_ptr + 6 * N + offs, g_as, mask=mask)
        if (WANT & 128) != 0:
            tl.store(gprm_ptr + 7 * N + offs, g_vl, mask=mask)
        if (WANT & 256) != 0:
            tl.store(gprm_ptr + 8 * N + offs, g_vth, mask=mask)
        if (WANT & 512) != 0:
            tl.store(gprm_ptr + 9 * N + offs, g_vr, mask=mask)
        if (WANT & 1024) != 0:
            tl.store(gprm_ptr + 10 * N + offs, g_beta, mask=mask)
        if (WANT & 2048) != 0:
            tl.store(gprm_ptr + 11 * N + offs, g_rho, mask=mask)


def _launch_options() -> Dict[str, Any]:
    return {} if _INTERPRET else {"enable_fp_fusion": False}


def _grid(n: int):
    return (triton.cdiv(n, BLOCK),)


def _parameter_rows(cfg: Any, like: torch.Tensor) -> torch.Tensor:
    """``(len(ROWS), N)``: each config field (and alpha) per element of the state ``like``."""
    rows = torch.ones(len(ROWS), *like.shape, dtype=like.dtype, device=like.device)
    for k, field in enumerate(ROWS):
        value = cfg.sur.alpha if field == "alpha" and hasattr(cfg, "sur") else getattr(cfg, field, None)
        if value is not None:
            rows[k] = value
    return rows.reshape(len(ROWS), -1)


def _flags(dyn: Dynamics, cfg: Any) -> Dict[str, Any]:
    return dict(
        CURRENT=dyn.current, LEAK=dyn.leak, SPIKING=dyn.spiking, ADAPTIVE=dyn.adaptive, EXPO=dyn.exponential,
        ADAPT_CUR=dyn.adaptation_current, SUBTRACT=bool(getattr(cfg, "subtract", False)), REFRAC=dyn.refractory,
    )


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
            T, N = x.shape[0], state[0].numel()
            slots = dict(zip(dynamics.slots, state))
            out = torch.empty_like(x)
            finals = {name: torch.empty_like(value) for name, value in slots.items()}
            kept = portable._saves(cfg, params)
            buffers = [torch.empty_like(x) if save and keep else None for keep in kept]
            if dynamics.refractory and buffers[6] is None:
                buffers[6] = torch.empty_like(x)
            bits = sum(1 << k for k, buf in enumerate(buffers) if buf is not None)
            prm = _parameter_rows(cfg, state[0])
            dummy = out
            _forward_kernel[_grid(N)](
                x, out, *(slots.get(n, dummy) for n in ("v", "i", "w" if "w" in slots else "b", "rho")),
                *(finals.get(n, dummy) for n in ("v", "i", "w" if "w" in finals else "b", "rho")),
                *(buf if buf is not None else dummy for buf in buffers), prm, T, N,
                SAVES=bits, BLOCK_SIZE=BLOCK, **_flags(dynamics, cfg), **_launch_options(),
            )
            outputs = (out, *finals.values())
            if not save:
                return outputs, ()
            saved = [buf for buf, keep in zip(buffers, kept) if keep]
            return outputs, (*saved, out, prm)

        @staticmethod
        def backward(cfg: Any, saved: Tensors, grads: Tensors, needs: Sequence[bool], params: Sequence[str] = ()):
            pending = list(saved)
            kept = portable._saves(cfg, params)
            buffers = [pending.pop(0) if keep else None for keep in kept]
            z, prm = pending
            gout, *gstate = (g.contiguous() for g in grads)
            T, N = gout.shape[0], gstate[0].numel()
            gslots = dict(zip(dynamics.slots, gstate))
            results = {name: torch.empty_like(value) for name, value in gslots.items()}
            gx = torch.empty_like(gout)
            want = sum(1 << ROWS.index(name) for name in params)
            gprm = torch.empty_like(prm) if params else prm
            dummy = gx
            third = "w" if "w" in gslots else "b"
            _backward_kernel[_grid(N)](
                gout, z, *(gslots.get(n, dummy) for n in ("v", "i", third, "rho")), gx,
                *(results.get(n, dummy) for n in ("v", "i", third, "rho")),
                *(buf if buf is not None else dummy for buf in buffers), prm, gprm, T, N,
                WANT=want, METHOD=cfg.sur.native_id if dynamics.spiking else 0, BLOCK_SIZE=BLOCK,
                **_flags(dynamics, cfg), **_launch_options(),
            )
            shape = gstate[0].shape
            param_grads = [gprm[ROWS.index(name)].reshape(shape) for name in params]
            return (gx, *results.values(), *param_grads)

    _Triton.__name__ = _Triton.__qualname__ = portable.__name__.replace("Torch", "Triton")
    return _Triton
