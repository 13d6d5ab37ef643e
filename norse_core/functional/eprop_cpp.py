"""e-prop's compiled time loops: the C++ source ``csrc/eprop.cpp`` (package data), built with
:func:`torch.utils.cpp_extension.load_inline` the first time they are worth it, into torch's
extension cache (``TORCH_EXTENSIONS_DIR``, default ``~/.cache/torch_extensions``); later
processes load the cached library. The loops are the forward of a recurrent LIF/LSNN layer
over a chunk of steps and the backward recursion of the eligibility traces over it
(:func:`norse_core.functional.eprop.trace_adjoint`); :mod:`norse_core.functional.eprop`
runs the same loops in PyTorch, step by step, where the library is not loaded.

* Nothing is compiled at import. The build starts at the first sequence of at least
  :data:`MIN_NUMEL_TO_BUILD` neuron-steps (``T x batch x hidden``), or at :func:`build`, and
  takes about a minute once; smaller sequences use the PyTorch loops until it is loaded.
* No compiler, no ninja, any build or load error: ONE warning, then the PyTorch loops.
* ``NORSE_CORE_NO_EXTENSION=1`` disables it (as for the fused loops).
"""

from __future__ import annotations

import os
import sys
import threading
import time
import warnings
from typing import Any, Dict, Optional

import torch

from norse_core.fused.cpp import extension_directory, extension_disabled, library_name, load_library

#: Sequences with fewer neuron-steps do not trigger the one-time build (unit tests stay on the
#: PyTorch loops).
MIN_NUMEL_TO_BUILD = 1 << 20
SOURCE_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "csrc", "eprop.cpp")
_EXTRA_CFLAGS = ["-O3", "-fno-trapping-math"]


def _read_source() -> str:
    try:
        with open(SOURCE_PATH, encoding="utf-8") as file:
            return file.read()
    except OSError:
        return ""


SOURCE = _read_source()
_NAME = library_name("norse_core_eprop_", SOURCE, _EXTRA_CFLAGS)
_lock = threading.Lock()
_status: Dict[str, Any] = {"loaded": False, "error": None}
#: ``NORSE_CORE_NO_EXTENSION=1`` turns the compiled loops off (as the fused loops').
disabled = extension_disabled


def ops() -> Any:
    """The loaded ops (``forward``, ``adjoint``); call :func:`build` first."""
    return torch.ops.norse_core_eprop


def build_directory() -> str:
    """Where the library is built and cached (:func:`~norse_core.fused.cpp.extension_directory`)."""
    return extension_directory(_NAME)


def build(verbose: bool = False) -> bool:
    """Builds (or loads from the cache) the loops now; ``True`` when they are usable. A failure
    warns once and returns ``False`` (and ``False`` at every later call)."""
    if _status["loaded"]:
        return True
    if _status["error"] is not None or disabled():
        return False
    with _lock:
        if _status["loaded"] or _status["error"] is not None:
            return _status["loaded"]
        try:
            if not SOURCE:
                raise FileNotFoundError(f"cannot read the C++ source {SOURCE_PATH}")
            directory = build_directory()
            compiling = not os.path.isfile(os.path.join(directory, _NAME + ".so"))
            if compiling:
                started = time.perf_counter()
                os.makedirs(directory, exist_ok=True)
                print(f"norse_core: compiling the e-prop loops once, about a minute (into {directory}) ...",
                      file=sys.stderr, flush=True)
            load_library(_NAME, SOURCE, _EXTRA_CFLAGS, directory, verbose)
            ops().adjoint  # raises if the library did not register its ops
            _status["loaded"] = True
            if compiling:
                print(f"norse_core: compiled the e-prop loops in {time.perf_counter() - started:.0f} s",
                      file=sys.stderr, flush=True)
        except Exception as error:  # noqa: BLE001 - any failure means "use the PyTorch loops"
            first = (str(error).strip().splitlines() or [type(error).__name__])[0][:200]
            _status["error"] = f"{type(error).__name__}: {first}"
            warnings.warn(f"norse_core: compiled e-prop loops unavailable ({_status['error']}); "
                          "using the PyTorch loops", RuntimeWarning, stacklevel=2)
    return _status["loaded"]


def available() -> bool:
    """Whether the loops are loaded (never builds)."""
    return bool(_status["loaded"])


def error() -> Optional[str]:
    """The build or load error, if one happened."""
    return _status["error"]


def use(numel: int, compiled: Optional[bool]) -> bool:
    """Whether to run the compiled loops for a sequence of ``numel`` neuron-steps:
    ``compiled=None`` when loaded or (for ``numel >= MIN_NUMEL_TO_BUILD``) once built,
    ``False`` never, ``True`` always (built now; ``RuntimeError`` if unavailable)."""
    if compiled is False:
        return False
    if compiled:
        if disabled():
            raise RuntimeError("EProp: compiled=True, but the compiled loops are disabled by NORSE_CORE_NO_EXTENSION")
        if not build():
            raise RuntimeError(f"EProp: compiled=True, but the compiled e-prop loops are unavailable: {error()}")
        return True
    return available() or (numel >= MIN_NUMEL_TO_BUILD and build())
