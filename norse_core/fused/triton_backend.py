"""Triton kernels for CUDA tensors: LIF and LIFBox forward and backward, one program per
block of neurons with the time loop inside (state in registers, one read of the input and
one write of spikes and pre-reset voltage per step).

Imported only when a fused loop sees a CUDA tensor (or ``use_backend("triton")``). With
``TRITON_INTERPRET=1`` set before triton is imported, the same kernels run on CPU tensors in
Triton's interpreter (what the tests do). Parameters reach the kernel as a small tensor in
the input's dtype, so float64 runs in float64; kernels are compiled with
``enable_fp_fusion=False`` so the forward arithmetic matches the step-by-step loop.
"""

from __future__ import annotations

import os
import warnings
from typing import Any, Dict, Optional, Sequence

import torch

from norse_core.fused.portable import LIFBoxConfig, LIFConfig, Tensors

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


def available() -> bool:
    return triton is not None


def kernel(name: str, force: bool = False) -> Any:
    """The Triton kernel for ``name`` (``None`` if there is none, or triton is missing)."""
    global _warned
    k = KERNELS.get(name)
    if k is None:
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
    return k


_probe_result: Optional[bool] = None


def _probe() -> bool:
    """Runs the LIF kernels once on a small CUDA problem against the portable kernel; any
    failure (driver, compiler, mismatch) warns once and keeps the portable loops."""
    global _probe_result
    if _probe_result is None:
        try:
            from norse_core.fused._common import Surrogate
            from norse_core.fused.portable import LIFTorch

            g = torch.Generator().manual_seed(0)
            x = (torch.randn(20, 3, 300, generator=g) * 3 + 0.8).cuda()
            v0, i0 = torch.zeros(3, 300, device="cuda"), torch.zeros(3, 300, device="cuda")
            cfg = LIFConfig(0.3, 0.2, 0.0, 0.6, 0.0, Surrogate.of("super", 10.0))
            (z, v, i), saved = LIFTriton.forward(cfg, (x, v0, i0), True)
            (z_ref, v_ref, _), _ = LIFTorch.forward(cfg, (x, v0, i0), False)
            LIFTriton.backward(cfg, saved, (torch.ones_like(z), torch.ones_like(v), torch.ones_like(i)), (True,) * 3)
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
    def _lif_fwd_kernel(
        x_ptr, v0_ptr, i0_ptr, z_ptr, vd_ptr, vT_ptr, iT_ptr, prm_ptr, T, N,
        SAVE: tl.constexpr, BLOCK_SIZE: tl.constexpr,
    ):
        offs = tl.program_id(0).to(tl.int64) * BLOCK_SIZE + tl.arange(0, BLOCK_SIZE)
        mask = offs < N
        a = tl.load(prm_ptr)
        b = tl.load(prm_ptr + 1)
        vl = tl.load(prm_ptr + 2)
        vth = tl.load(prm_ptr + 3)
        vr = tl.load(prm_ptr + 4)
        v = tl.load(v0_ptr + offs, mask=mask, other=0.0)
        cur = tl.load(i0_ptr + offs, mask=mask, other=0.0)
        p = offs
        for _ in range(T):
            x = tl.load(x_ptr + p, mask=mask, other=0.0)
            j = cur + x
            vd = v + a * ((vl - v) + j)
            cur = j - b * j
            spk = (vd - vth) > 0.0
            tl.store(z_ptr + p, spk.to(z_ptr.dtype.element_ty), mask=mask)
            if SAVE:
                tl.store(vd_ptr + p, vd, mask=mask)
            v = tl.where(spk, vr, vd)
            p += N
        tl.store(vT_ptr + offs, v, mask=mask)
        tl.store(iT_ptr + offs, cur, mask=mask)

    @triton.jit
    def _lif_bwd_kernel(
        gz_ptr, gvT_ptr, giT_ptr, vd_ptr, gx_ptr, gv0_ptr, gi0_ptr, prm_ptr, T, N,
        METHOD: tl.constexpr, BLOCK_SIZE: tl.constexpr,
    ):
        offs = tl.program_id(0).to(tl.int64) * BLOCK_SIZE + tl.arange(0, BLOCK_SIZE)
        mask = offs < N
        a = tl.load(prm_ptr)
        b = tl.load(prm_ptr + 1)
        vth = tl.load(prm_ptr + 3)
        vr = tl.load(prm_ptr + 4)
        alpha = tl.load(prm_ptr + 5)
        gv = tl.load(gvT_ptr + offs, mask=mask, other=0.0)
        gi = tl.load(giT_ptr + offs, mask=mask, other=0.0)
        p = offs + (T - 1).to(tl.int64) * N
        for _ in range(T):
            d = tl.load(vd_ptr + p, mask=mask, other=0.0)
            diff = d - vth
            s = _surrogate(diff, alpha, METHOD)
            g = tl.load(gz_ptr + p, mask=mask, other=0.0)
            u = tl.where(diff > 0.0, 0.0 * gv, gv) + (g + gv * (vr - d)) * s
            gj = a * u + (1.0 - b) * gi
            tl.store(gx_ptr + p, gj, mask=mask)
            gv = (1.0 - a) * u
            gi = gj
            p -= N
        tl.store(gv0_ptr + offs, gv, mask=mask)
        tl.store(gi0_ptr + offs, gi, mask=mask)

    @triton.jit
    def _lif_box_fwd_kernel(
        x_ptr, v0_ptr, z_ptr, vd_ptr, vT_ptr, prm_ptr, T, N,
        SAVE: tl.constexpr, SUBTRACT: tl.constexpr, BLOCK_SIZE: tl.constexpr,
    ):
        offs = tl.program_id(0).to(tl.int64) * BLOCK_SIZE + tl.arange(0, BLOCK_SIZE)
        mask = offs < N
        a = tl.load(prm_ptr)
        vl = tl.load(prm_ptr + 2)
        vth = tl.load(prm_ptr + 3)
        vr = tl.load(prm_ptr + 4)
        v = tl.load(v0_ptr + offs, mask=mask, other=0.0)
        p = offs
        for _ in range(T):
            x = tl.load(x_ptr + p, mask=mask, other=0.0)
            vd = v + a * ((vl - v) + x)
            diff = vd - vth
            spk = diff > 0.0
            tl.store(z_ptr + p, spk.to(z_ptr.dtype.element_ty), mask=mask)
            if SAVE:
                tl.store(vd_ptr + p, vd, mask=mask)
            if SUBTRACT:
                v = tl.where(spk, diff, vd)
            else:
                v = tl.where(spk, vr, vd)
            p += N
        tl.store(vT_ptr + offs, v, mask=mask)

    @triton.jit
    def _lif_box_bwd_kernel(
        gz_ptr, gvT_ptr, vd_ptr, gx_ptr, gv0_ptr, prm_ptr, T, N,
        METHOD: tl.constexpr, SUBTRACT: tl.constexpr, BLOCK_SIZE: tl.constexpr,
    ):
        offs = tl.program_id(0).to(tl.int64) * BLOCK_SIZE + tl.arange(0, BLOCK_SIZE)
        mask = offs < N
        a = tl.load(prm_ptr)
        vth = tl.load(prm_ptr + 3)
        vr = tl.load(prm_ptr + 4)
        alpha = tl.load(prm_ptr + 5)
        gv = tl.load(gvT_ptr + offs, mask=mask, other=0.0)
        p = offs + (T - 1).to(tl.int64) * N
        for _ in range(T):
            d = tl.load(vd_ptr + p, mask=mask, other=0.0)
            diff = d - vth
            s = _surrogate(diff, alpha, METHOD)
            g = tl.load(gz_ptr + p, mask=mask, other=0.0)
            if SUBTRACT:
                u = gv + (g - gv * vth) * s
            else:
                u = tl.where(diff > 0.0, 0.0 * gv, gv) + (g + gv * (vr - d)) * s
            tl.store(gx_ptr + p, a * u, mask=mask)
            gv = (1.0 - a) * u
            p -= N
        tl.store(gv0_ptr + offs, gv, mask=mask)


def _params(x: torch.Tensor, a: Any, b: Any, vl: Any, vth: Any, vr: Any, alpha: Any) -> torch.Tensor:
    return torch.tensor([float(a), float(b), float(vl), float(vth), float(vr), float(alpha)], dtype=x.dtype, device=x.device)


def _launch_options() -> Dict[str, Any]:
    return {} if _INTERPRET else {"enable_fp_fusion": False}


def _grid(n: int):
    return (triton.cdiv(n, BLOCK),)


class LIFTriton:
    @staticmethod
    def forward(cfg: LIFConfig, inputs: Tensors, save: bool, params: Sequence[str] = ()):
        x, v0, i0 = (t.contiguous() for t in inputs)
        T, N = x.shape[0], v0.numel()
        z = torch.empty_like(x)
        vd = torch.empty_like(x) if save else z
        v, i = torch.empty_like(v0), torch.empty_like(i0)
        prm = _params(x, cfg.a, cfg.b, cfg.v_leak, cfg.v_th, cfg.v_reset, cfg.sur.alpha)
        _lif_fwd_kernel[_grid(N)](x, v0, i0, z, vd, v, i, prm, T, N, SAVE=save, BLOCK_SIZE=BLOCK, **_launch_options())
        return (z, v, i), ((vd, prm) if save else ())

    @staticmethod
    def backward(cfg: LIFConfig, saved: Tensors, grads: Tensors, needs: Sequence[bool], params: Sequence[str] = ()):
        vd, prm = saved
        gz, gv, gi = (g.contiguous() for g in grads)
        T, N = vd.shape[0], gv.numel()
        gx, gv0, gi0 = torch.empty_like(vd), torch.empty_like(gv), torch.empty_like(gi)
        _lif_bwd_kernel[_grid(N)](
            gz, gv, gi, vd, gx, gv0, gi0, prm, T, N, METHOD=cfg.sur.native_id, BLOCK_SIZE=BLOCK, **_launch_options()
        )
        return gx, gv0, gi0


class LIFBoxTriton:
    @staticmethod
    def forward(cfg: LIFBoxConfig, inputs: Tensors, save: bool, params: Sequence[str] = ()):
        x, v0 = (t.contiguous() for t in inputs)
        T, N = x.shape[0], v0.numel()
        z = torch.empty_like(x)
        vd = torch.empty_like(x) if save else z
        v = torch.empty_like(v0)
        prm = _params(x, cfg.a, 0.0, cfg.v_leak, cfg.v_th, cfg.v_reset, cfg.sur.alpha)
        _lif_box_fwd_kernel[_grid(N)](
            x, v0, z, vd, v, prm, T, N, SAVE=save, SUBTRACT=cfg.subtract, BLOCK_SIZE=BLOCK, **_launch_options()
        )
        return (z, v), ((vd, prm) if save else ())

    @staticmethod
    def backward(cfg: LIFBoxConfig, saved: Tensors, grads: Tensors, needs: Sequence[bool], params: Sequence[str] = ()):
        vd, prm = saved
        gz, gv = (g.contiguous() for g in grads)
        T, N = vd.shape[0], gv.numel()
        gx, gv0 = torch.empty_like(vd), torch.empty_like(gv)
        _lif_box_bwd_kernel[_grid(N)](
            gz, gv, vd, gx, gv0, prm, T, N, METHOD=cfg.sur.native_id, SUBTRACT=cfg.subtract, BLOCK_SIZE=BLOCK,
            **_launch_options(),
        )
        return gx, gv0


KERNELS: Dict[str, Any] = {"lif": LIFTriton, "lif_box": LIFBoxTriton}
