"""Compiled fused loops for CPU: ``csrc/fused.cpp`` (package data), built with
:func:`torch.utils.cpp_extension.load_inline` at the first CPU call with at least
:data:`MIN_NUMEL_TO_BUILD` input elements (or :func:`build`, ``use_backend("cpp")``) into torch's
extension cache, one folder per installation (:func:`build_directory`); later processes load it
at their first CPU call of any size.
Any build or load error: ONE warning, then the portable loops; ``NORSE_CORE_NO_EXTENSION=1``
disables it. Feed-forward models run ONE generic block code specialised by compile-time flags
(:func:`flags`, :data:`COMPILED_FLAGS`) with its own autograd node (``ff_train``); LIFRecurrent
and LSNNRecurrent have loops of their own. Parameters: numbers or tensors over trailing state
dimensions, all trainable (``PARAMS``). Built with ``-ffp-contract=off``, the forward is bitwise
the step loop's (``std::exp`` of LIFEx/LIFAdEx may differ in the last bit). docs/fused.md has the rest.
"""

from __future__ import annotations

import functools
import os
import platform
import sys
import threading
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch

from norse_core.functional.dynamics import Dynamics
from norse_core.functional.lif import LIF_DYNAMICS
from norse_core.functional.lsnn import LSNN_DYNAMICS
from norse_core.fused.portable import PARAMETER_FIELDS, Tensors, _recurrent_weight_grad, kernel as portable_kernel
from norse_core.utils.native import (  # MIN_NUMEL_TO_BUILD: small calls build nothing (they load a cached build)
    MIN_NUMEL_TO_BUILD, build_once, extension_directory, extension_disabled, library_name, read_source, worth_loading,
)

#: The C++ source, shipped as package data next to this module (``csrc/fused.cpp``).
SOURCE_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "csrc", "fused.cpp")
SOURCE = read_source(SOURCE_PATH)


def _cflags() -> List[str]:
    """No fused multiply-adds (bitwise the step loop's arithmetic); no FP traps, so loops with
    selects vectorise. On Linux: code for this CPU's vector units (512-bit on x86-64 with AVX-512,
    the forward's blocks 256: fused.cpp; per neuron the same IEEE operations) and torch's OpenMP
    threads (``fused.cpp``, ``for_chunks``), where torch has OpenMP."""
    cflags = ["-O3", "-ffp-contract=off", "-fno-trapping-math"]
    if sys.platform.startswith("linux"):
        cflags.append("-march=native")
        if platform.machine().lower() in ("x86_64", "amd64"):
            cflags.append("-mprefer-vector-width=512")
        if torch.backends.openmp.is_available():
            cflags.append("-fopenmp")
    return cflags


_EXTRA_CFLAGS = _cflags()
_NAME = library_name("norse_core_fused_", SOURCE, _EXTRA_CFLAGS)
#: What one build takes on a 2-core machine (measured: 83 to 100 s), for the message at its start.
BUILD_SECONDS = 100

_lock = threading.Lock()
_status: Dict[str, Any] = {"loaded": False, "error": None}


def _ops() -> Any:
    return torch.ops.norse_core_fused


def build_directory() -> str:
    """Where the fused loops are built and cached (:func:`extension_directory`)."""
    return extension_directory(_NAME)


def build(verbose: bool = False) -> bool:
    """Builds (or loads from the cache) the C++ loops now (:func:`build_once`); ``True`` when usable."""
    return build_once(_status, _lock, _NAME, SOURCE, SOURCE_PATH, _EXTRA_CFLAGS, lambda: _ops().ff_fwd,
                      "fused CPU kernels", f"{BUILD_SECONDS} s", "; later runs load them",
                      "fused loops", "portable PyTorch loops", verbose)


def loaded() -> bool:
    """Whether the C++ loops are loaded (built or found in the cache) in this process."""
    return bool(_status["loaded"])


def error() -> Optional[str]:
    """The build/load error, if one happened."""
    return _status["error"]


def kernel(dynamics: Dynamics, numel: int, force: bool = False) -> Any:
    """The C++ kernel of ``dynamics``, loading a cached build, or building the loops when ``numel``
    reaches :data:`MIN_NUMEL_TO_BUILD` (``force``: at once, raising if unavailable); ``None`` when
    there is none (:func:`has_kernel`) or it is not (yet) available."""
    if not has_kernel(dynamics):
        return None
    if extension_disabled():
        if force:
            raise RuntimeError("the C++ fused loops are disabled by NORSE_CORE_NO_EXTENSION")
        return None
    if not _status["loaded"]:
        if force:
            if not build():
                raise RuntimeError(f"the C++ fused loops are unavailable: {_status['error']}")
        elif not (worth_loading(_NAME, numel) and build()):
            return None
    return cpp_kernel(dynamics)


# -- feed-forward kernels: one generic block code, specialised by the Dynamics ------------------

#: The compile-time flags of the generic block code in ``fused.cpp``, one per term.
FLAGS = {"current": 1, "leak": 2, "spiking": 4, "adaptive": 8, "exponential": 16, "adaptation_current": 32,
         "subtract": 64, "refractory": 128}
#: The flag sets ``fused.cpp`` compiles (its ``Compiled`` list, the built-in feed-forward models:
#: LIF, LIFBox, IAF, LSNN, LIFEx, LIFAdEx, LIFRefrac, LIFAdExRefrac with either reset (+ 64:
#: subtract), LI, LIBox); its ``ff_flags`` op returns the same list (a test checks).
COMPILED_FLAGS = frozenset({7, 71, 6, 70, 4, 68, 3, 2, 15, 79, 23, 87, 55, 119, 135, 199, 183, 247})


@functools.lru_cache(maxsize=None)
def flags(dynamics: Dynamics, subtract: bool = False) -> int:
    """The compile-time flags of feed-forward ``dynamics`` (``subtract``: its subtract reset)."""
    terms = dynamics._asdict()
    terms["subtract"] = subtract
    return sum(bit for term, bit in FLAGS.items() if terms[term])


@functools.lru_cache(maxsize=None)
def has_kernel(dynamics: Dynamics) -> bool:
    """Whether ``fused.cpp`` has a kernel for ``dynamics``: a feed-forward model whose terms
    (with either reset, if it has the choice) are compiled, or recurrent LIF and LSNN."""
    if dynamics.recurrent:
        return dynamics._replace(name="") in RECURRENT_TERMS
    resets = (False, True) if dynamics.reset_choice else (False,)
    return not dynamics.detach_reset and all(flags(dynamics, sub) in COMPILED_FLAGS for sub in resets)


_NUMBER = torch.empty(0)  # in ``per``: this parameter is the number in ``p``


def _parameters(cfg: Any, like: torch.Tensor, params: Sequence[str]) -> Tuple[List[float], List[torch.Tensor]]:
    """``(p, per)`` for the ops: ``p`` every field of :data:`PARAMETER_FIELDS` as a number (0 where
    absent); ``per`` empty when all are numbers (or one-element tensors) and no gradient is needed,
    else per field: empty (the number applies) or the parameter over the trailing state dimensions
    it spans, contiguous (a trainable one-element tensor too: ``ff_train`` returns its gradient)."""
    p: List[float] = []
    per: List[torch.Tensor] = []
    for name in PARAMETER_FIELDS:
        value = getattr(cfg, name, 0.0)
        if isinstance(value, torch.Tensor) and value.numel() == 1 and name in params:
            p.append(0.0)
            per.append(value.reshape(1))
        elif isinstance(value, torch.Tensor) and value.numel() > 1:
            dims = value.dim() - next(d for d, size in enumerate(value.shape) if size != 1)  # but leading 1s
            shape = like.shape[like.dim() - dims:]
            p.append(0.0)
            fits = value.shape == shape and value.is_contiguous()  # e.g. one value per neuron: as it is
            per.append(value if fits else value.reshape(value.shape[-dims:]).expand(shape).contiguous())
        else:
            p.append(float(value))
            per.append(_NUMBER)
    return p, [] if not params and all(t is _NUMBER for t in per) else per


def _surrogate(cfg: Any) -> Tuple[int, float]:
    """The kernels' surrogate arguments: its id and alpha, ``(0, 0.0)`` without one (leaky integrators)."""
    sur = getattr(cfg, "sur", None)
    return (0, 0.0) if sur is None else (sur.native_id, float(sur.alpha))


@functools.lru_cache(maxsize=None)
def cpp_kernel(dynamics: Dynamics) -> Any:
    """The C++ kernel class ``<Model>Cpp`` of ``dynamics`` (the fused kernel protocol of
    :mod:`norse_core.fused._common`), ``None`` without one (:func:`has_kernel`), differentiating
    every parameter field of the config (``PARAMS``, as the portable kernel). Feed-forward: the
    generic block code specialised by the model's flags."""
    if not has_kernel(dynamics):
        return None
    portable = portable_kernel(dynamics)

    by_reset = {subtract: flags(dynamics, subtract) for subtract in (False, True)}

    def _flags(cfg: Any) -> int:
        return by_reset[bool(getattr(cfg, "subtract", False))]

    class _Cpp:
        """``forward`` without a gradient; ``train`` (instead of ``backward``): an autograd node built in C++,
        whose backward runs no Python; ``prepare``: either as a function of the input (a layer's plan)."""

        @staticmethod
        def prepare(cfg: Any, state: Tensors, train: bool, params: Sequence[str] = ()) -> Any:
            (p, per), flag, states = _parameters(cfg, state[0], params), _flags(cfg), list(state)
            method, alpha = _surrogate(cfg)
            grads = 0 if not params else 1 if tuple(params) == ("a",) else 2  # ff_bwd: 1 only a's (cheaper), 2 all
            fwd, op = _ops().ff_fwd.default, _ops().ff_train.default
            if train:
                return lambda x: op(x, states, per, flag, p, method, alpha, grads)
            return lambda x: fwd(x, states, flag, p, per)

        @staticmethod
        def forward(cfg: Any, inputs: Tensors, save: bool, params: Sequence[str] = ()):
            return tuple(_Cpp.prepare(cfg, inputs[1:], False, params)(inputs[0])), ()

        @staticmethod
        def train(cfg: Any, inputs: Tensors, params: Sequence[str]) -> Tensors:
            return tuple(_Cpp.prepare(cfg, inputs[1:], True, params)(inputs[0]))

    kernel = _RecurrentCpp if dynamics.recurrent else _Cpp
    name = portable.__name__.replace("Torch", "Cpp")
    return type(name, (kernel,), {"PARAMS": portable.PARAMS, "__doc__": f"C++ fused kernel of {dynamics}."})


# -- recurrent kernels: per-neuron parameters ------------------------------------------------

#: The terms of the recurrent C++ loops (LIFRecurrent, LSNNRecurrent).
RECURRENT_TERMS = frozenset(d.as_recurrent()._replace(name="") for d in (LIF_DYNAMICS, LSNN_DYNAMICS))
#: The parameter rows of the recurrent loops (0 where the model has none), then ``1 - a``,
#: ``1 - b``, ``1 - c``; their parameter gradients come in the first seven.
_RECURRENT_FIELDS = ("a", "b", "c", "v_leak", "v_th", "v_reset", "beta")


def _parameter_rows(cfg: Any, n: int, dtype: torch.dtype) -> torch.Tensor:
    """``(10, n)``: the :data:`_RECURRENT_FIELDS` and the complements per neuron, computed like
    the portable kernels do (numbers in double, tensors in their dtype)."""
    values = [getattr(cfg, name, 0.0) for name in _RECURRENT_FIELDS]
    values += [1 - value for value in values[:3]]
    return torch.stack([
        value.to(dtype).reshape(-1).expand(n) if isinstance(value, torch.Tensor)
        else torch.full((n,), float(value), dtype=dtype)
        for value in values
    ])


class _RecurrentCpp:
    """Recurrent LIF/LSNN: inputs ``(xin, z0, v0, i0, [b0,] W)`` as the portable kernels (what
    is saved: ``fused.cpp``); the weight gradient is two matmuls afterwards."""

    @staticmethod
    def forward(cfg: Any, inputs: Tensors, save: bool, params: Sequence[str] = ()):
        xin, z0, *state, W = inputs
        p = _parameter_rows(cfg, xin.shape[-1], xin.dtype)
        z, *finals, diff, drive, j, th = _ops().rec_fwd(xin, z0, state, W, p, save, save and bool(params))
        saved = (diff, z, z0, W, p) + ((drive, j, th) if params else ())
        return (z, *finals), (saved if save else ())

    @staticmethod
    def backward(cfg: Any, saved: Tensors, grads: Tensors, needs: Sequence[bool], params: Sequence[str] = ()):
        diff, z, z0, W, p, *per_step = saved
        gz, *gstate = grads
        gx, *gstate0, gp = _ops().rec_bwd(gz, gstate, diff, z, W, p, *_surrogate(cfg), per_step)
        gw = _recurrent_weight_grad(gx, z, z0) if needs[-1] else None
        per_neuron = gp.sum(0) if params else None  # (7, N): summed over the chunks of rows
        grad_value = ((per_neuron[_RECURRENT_FIELDS.index(name)], getattr(cfg, name)) for name in params)
        # in the shape of each parameter: one value per neuron, or one (summed over the neurons)
        param_grads = [(g if g.numel() == v.numel() else g.sum()).reshape(v.shape) for g, v in grad_value]
        return (gx, *gstate0, gw, *param_grads)
