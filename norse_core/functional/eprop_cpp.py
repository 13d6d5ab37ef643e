"""e-prop's compiled time loops: the C++ source ``csrc/eprop.cpp`` (package data), built with
:func:`torch.utils.cpp_extension.load_inline` the first time they are worth it, into torch's
extension cache (``TORCH_EXTENSIONS_DIR``, default ``~/.cache/torch_extensions``); later
processes load the cached library. The loops are the forward of a recurrent LIF/LSNN layer
over a chunk of steps and the backward recursion of the eligibility traces over it
(:func:`norse_core.functional.eprop.trace_adjoint`); :mod:`norse_core.functional.eprop`
runs the same loops in PyTorch, step by step, where the library is not loaded.

* Nothing is compiled at import. The build starts at the first sequence of at least
  :data:`MIN_NUMEL_TO_BUILD` neuron-steps (``T x batch x hidden``), or at :func:`build`, and
  takes about a minute once; smaller sequences use the PyTorch loops until it is loaded (they
  load a cached build themselves).
* No compiler, no ninja, any build or load error: ONE warning, then the PyTorch loops.
* ``NORSE_CORE_NO_EXTENSION=1`` disables it (as for the fused loops).
"""

from __future__ import annotations

import os
import threading
from typing import Any, Dict, Optional

import torch

from norse_core.utils.native import (  # MIN_NUMEL_TO_BUILD: shorter sequences build nothing (they load a cached build)
    MIN_NUMEL_TO_BUILD, build_once, extension_directory, extension_disabled, library_name, read_source, worth_loading,
)

SOURCE_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "csrc", "eprop.cpp")
_EXTRA_CFLAGS = ["-O3", "-fno-trapping-math"]


SOURCE = read_source(SOURCE_PATH)
_NAME = library_name("norse_core_eprop_", SOURCE, _EXTRA_CFLAGS)
_lock = threading.Lock()
_status: Dict[str, Any] = {"loaded": False, "error": None}
#: ``NORSE_CORE_NO_EXTENSION=1`` turns the compiled loops off (as the fused loops').
disabled = extension_disabled


def ops() -> Any:
    """The loaded ops (``forward``, ``adjoint``); call :func:`build` first."""
    return torch.ops.norse_core_eprop


def build_directory() -> str:
    """Where the library is built and cached (:func:`~norse_core.utils.native.extension_directory`)."""
    return extension_directory(_NAME)


def build(verbose: bool = False) -> bool:
    """Builds (or loads from the cache) the loops now; ``True`` when they are usable. A failure
    warns once and returns ``False`` (and ``False`` at every later call)."""
    return build_once(_status, _lock, _NAME, SOURCE, SOURCE_PATH, _EXTRA_CFLAGS, lambda: ops().adjoint,
                      "e-prop loops", "a minute", "", "e-prop loops", "PyTorch loops", verbose)


def available() -> bool:
    """Whether the loops are loaded (never builds)."""
    return bool(_status["loaded"])


def error() -> Optional[str]:
    """The build or load error, if one happened."""
    return _status["error"]


def use(numel: int, compiled: Optional[bool]) -> bool:
    """Whether to run the compiled loops for a sequence of ``numel`` neuron-steps:
    ``compiled=None`` when loaded, cached or (for ``numel >= MIN_NUMEL_TO_BUILD``) once built,
    ``False`` never, ``True`` always (built now; ``RuntimeError`` if unavailable)."""
    if compiled is False:
        return False
    if compiled:
        if disabled():
            raise RuntimeError("EProp: compiled=True, but the compiled loops are disabled by NORSE_CORE_NO_EXTENSION")
        if not build():
            raise RuntimeError(f"EProp: compiled=True, but the compiled e-prop loops are unavailable: {error()}")
        return True
    return available() or (worth_loading(_NAME, numel) and build())
