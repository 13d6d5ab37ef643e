"""Fused multi-step loops: a layer over time as ONE autograd node with a hand-written backward.

A layer whose class names its :class:`~norse_core.functional.dynamics.Dynamics`
(``class LIF(SNN, LIFCell): dynamics = LIF_DYNAMICS``) runs :func:`fused_loop` whenever
``fused=True`` (the default) and states are not recorded; docs/fused.md describes the design,
the layers covered and the equality with the step loop. Backends, chosen per call
(:func:`select_kernel`): ``cpp``, compiled C++ loops for CPU (:mod:`norse_core.fused.cpp`);
``triton``, Triton kernels for CUDA (:mod:`norse_core.fused.triton_backend`); ``torch``, the
portable PyTorch kernel for every model, device and surrogate (:mod:`norse_core.fused.portable`).

``use_backend("torch" | "cpp" | "triton")`` forces a backend inside a ``with`` block;
``record_kernels()`` lists the kernels that ran inside one (tests use it to prove a fused path ran);
``NORSE_CORE_NO_EXTENSION=1`` disables the C++ build.
"""

from norse_core.fused._common import (
    BACKENDS,
    NATIVE_METHODS,
    FusedFunction,
    Surrogate,
    native_method_id,
    record_kernels,
    use_backend,
)
from norse_core.fused.loops import fused_loop, select_kernel


def build_extension(verbose: bool = False) -> bool:
    """Builds (or loads from the cache) the C++ loops now; ``True`` when usable."""
    from norse_core.fused import cpp

    return cpp.build(verbose)


def empty_cache() -> int:
    """Frees the memory the C++ loops keep for reuse (outputs of sequence size that were freed,
    up to 1 GiB: docs/fused.md) and returns its size in bytes; 0 when the loops are not loaded."""
    from norse_core.fused import cpp

    return int(cpp._ops().empty_cache()) if cpp.loaded() else 0


__all__ = [
    "BACKENDS", "NATIVE_METHODS", "FusedFunction", "Surrogate", "native_method_id", "record_kernels", "use_backend",
    "select_kernel", "fused_loop", "build_extension", "empty_cache",
]
