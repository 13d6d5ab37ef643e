"""Fused multi-step loops: a layer over time as ONE autograd node with a hand-written backward.

Every layer over time whose step is an explicit Euler update declares its terms once,
next to its step function (:mod:`norse_core.functional.dynamics`: ``LIF_DYNAMICS``), and
names them (``class LIF(SNN, LIFCell): dynamics = LIF_DYNAMICS``): ``LIF``, ``LIFBox``,
``IAF``, ``LI``, ``LIBox``, ``LSNN``, ``LIFEx``, ``LIFAdEx`` and the recurrent ``LIFRecurrent``,
``IAFRecurrent``, ``LSNNRecurrent``, ``LIFExRecurrent``, ``LIFAdExRecurrent``. Their
``fused_loop`` (:func:`fused_loop`) runs whenever ``fused=True`` (the default) and states are
not recorded. Outputs and states equal the step-by-step loop's
(bitwise for the feed-forward layers); gradients are the same backpropagation through time.

Backends, chosen per call (:func:`select_kernel`):

* ``cpp`` — compiled C++ loops for CPU (:mod:`norse_core.fused.cpp`), built on first use into
  torch's extension cache; a failed build warns once and falls back. They save only the
  input and the initial state; backward re-runs the forward block by block in cache.
* ``triton`` — Triton kernels for CUDA tensors (:mod:`norse_core.fused.triton_backend`): one
  generic forward and backward kernel specialised per model by ``tl.constexpr`` flags (every
  feed-forward model; trainable parameters included); a failed first run warns once.
* ``torch`` — ONE generic portable PyTorch kernel (:mod:`norse_core.fused.portable`),
  specialised by each model's dynamics, every model and surrogate; it saves the pre-reset
  voltages and the spikes (LSNN also ``vd - b_d``; LI, LIBox nothing).

Surrogates: backward passes use ``surrogate_derivative(method)``, so every registered method
works, user-registered ones included; the compiled kernels implement the built-in
Heaviside-forward methods natively (``NATIVE_METHODS``; a built-in overwritten with
``register_surrogate(..., overwrite=True)`` is no longer native) and leave the rest to the
portable kernels. The stochastic ``logistic`` forward is sampled through the registered
spike function, exactly as the step loop samples it.

Trainable neuron parameters (``trainable=(...)``: time constants, leak, threshold and reset
potentials, adaptation) run fused too: their gradients are computed in the fused backward,
summed over time and batch (the portable kernels; the compiled ones where their ``PARAMS``
list the field). Fallbacks to the step-by-step loop (the fused loop returns
``NotImplemented``): a trainable parameter no kernel config holds (e.g. ``alpha``), tensor
parameters of another dtype or that enlarge the state, states of another dtype/device than
the input, ``record_states=True``.

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


__all__ = [
    "BACKENDS", "NATIVE_METHODS", "FusedFunction", "Surrogate", "native_method_id", "record_kernels", "use_backend",
    "select_kernel", "fused_loop", "build_extension",
]
