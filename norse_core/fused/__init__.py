"""Fused multi-step loops: a layer over time as ONE autograd node with a hand-written backward.

The layers ``LIF``, ``LIFBox``, ``IAF``, ``LI``, ``LIBox``, ``LSNN`` and the recurrent
``LIFRecurrent``, ``IAFRecurrent``, ``LSNNRecurrent`` declare these loops as their
``fused_loop``; :class:`~norse_core.module.snn.SNN` runs them whenever ``fused=True`` (the
default) and states are not recorded. Outputs and states equal the step-by-step loop's
(bitwise for the feed-forward layers); gradients are the same backpropagation through time.

Backends, chosen per call (:func:`select_kernel`):

* ``cpp`` — compiled C++ loops for CPU (:mod:`norse_core.fused.cpp`), built on first use into
  torch's extension cache; a failed build warns once and falls back. They save only the
  input and the initial state; backward re-runs the forward block by block in cache.
* ``triton`` — Triton kernels for CUDA tensors (:mod:`norse_core.fused.triton_backend`);
  they save the pre-reset voltages.
* ``torch`` — portable PyTorch kernels (:mod:`norse_core.fused.portable`), every surrogate;
  they save the pre-reset voltages and the spikes (LSNN also ``vd - b_d``; LI, LIBox nothing).

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
from norse_core.fused.loops import (
    iaf_fused_loop,
    iaf_recurrent_fused_loop,
    li_box_fused_loop,
    li_fused_loop,
    lif_box_fused_loop,
    lif_fused_loop,
    lif_recurrent_fused_loop,
    lsnn_fused_loop,
    lsnn_recurrent_fused_loop,
    select_kernel,
)


def build_extension(verbose: bool = False) -> bool:
    """Builds (or loads from the cache) the C++ loops now; ``True`` when usable."""
    from norse_core.fused import cpp

    return cpp.build(verbose)


__all__ = [
    "BACKENDS", "NATIVE_METHODS", "FusedFunction", "Surrogate", "native_method_id", "record_kernels", "use_backend",
    "select_kernel", "build_extension",
    "lif_fused_loop", "lif_box_fused_loop", "iaf_fused_loop", "li_fused_loop", "li_box_fused_loop",
    "lsnn_fused_loop", "lif_recurrent_fused_loop", "iaf_recurrent_fused_loop", "lsnn_recurrent_fused_loop",
]
