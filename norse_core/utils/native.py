"""Building norse_core's C++ op libraries (the fused loops, :mod:`norse_core.fused.cpp`, and
e-prop's, :mod:`norse_core.functional.eprop_cpp`) with
:func:`torch.utils.cpp_extension.load_inline` on first use, into torch's extension cache
(``TORCH_EXTENSIONS_DIR``, default ``~/.cache/torch_extensions``): one folder per source,
flags, installation and (for native builds) CPU, a line when a compile starts and ends, ONE
warning on any failure. ``NORSE_CORE_NO_EXTENSION=1`` turns both libraries off."""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import platform
import sys
import threading
import time
import warnings
from typing import Any, Callable, Dict, Sequence

import torch


def read_source(path: str) -> str:
    """The text of a C++ source shipped as package data ("" if unreadable: the build then fails
    with that reason, one warning, and the PyTorch loops run)."""
    try:
        with open(path, encoding="utf-8") as file:
            return file.read()
    except OSError:
        return ""


def extension_disabled() -> bool:
    """``NORSE_CORE_NO_EXTENSION=1`` turns the compiled C++ loops off."""
    return os.environ.get("NORSE_CORE_NO_EXTENSION", "").strip() not in ("", "0", "false", "False")


def cpu_features() -> str:
    """This CPU's features (Linux: ``/proc/cpuinfo``'s flags), which a native build depends on."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as file:
            return next((line for line in file if line.split(":")[0].strip() in ("flags", "Features")), "")
    except OSError:
        return f"{platform.machine()} {platform.processor()}"


#: One build folder per source, flags AND installation (Python prefix, torch's location and
#: version): two installs on one machine share none, so neither rebuilds over the other (the
#: build commands name each install's torch headers, so a shared folder rebuilt every time).
def library_name(prefix: str, source: str, cflags: Sequence[str]) -> str:
    """``prefix`` + a hash of the source, the flags and the installation (and the CPU's features
    for a ``-march=native`` build: a home folder shared by machines with other CPUs keeps one
    build per CPU): one build folder each."""
    parts = [source, repr(list(cflags)), sys.prefix, os.path.dirname(torch.__file__), torch.__version__]
    if "-march=native" in cflags:
        parts.append(cpu_features())
    return prefix + hashlib.sha256("\0".join(parts).encode()).hexdigest()[:12]


def _cpp_extension() -> Any:
    """``torch.utils.cpp_extension``, imported without its "No CUDA runtime is found" log line."""
    logger = logging.getLogger("torch.utils.cpp_extension")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        import torch.utils.cpp_extension as cpp_extension
    finally:
        logger.setLevel(level)
    return cpp_extension


def extension_directory(name: str) -> str:
    """Where library ``name`` is built and cached: ``<torch extensions root>/<name>``; the root
    is ``TORCH_EXTENSIONS_DIR`` or torch's default (``~/.cache/torch_extensions``)."""
    return os.path.join(os.environ.get("TORCH_EXTENSIONS_DIR") or _default_root(), name)


@functools.lru_cache(maxsize=None)
def _default_root() -> str:
    """torch's default extension root, looked up once (40 us a time: :func:`is_built` runs per call)."""
    return _cpp_extension().get_default_build_root()


def is_built(name: str) -> bool:
    """Whether library ``name`` is in its cache folder (a build of an earlier run)."""
    return os.path.isfile(os.path.join(extension_directory(name), name + ".so"))


#: Calls with fewer elements (T x neurons) do not start the one-time build of a library (a
#: minute or two); they load a build an earlier run cached (:func:`worth_loading`).
MIN_NUMEL_TO_BUILD = 1 << 20


def worth_loading(name: str, numel: int) -> bool:
    """Whether a call of ``numel`` elements builds or loads library ``name``: it is large enough
    to pay for a first build (:data:`MIN_NUMEL_TO_BUILD`), or a build is cached (loading it takes
    well under a second: 0.07 s on a 2-core machine)."""
    return numel >= MIN_NUMEL_TO_BUILD or is_built(name)


def build_once(status: Dict[str, Any], lock: threading.Lock, name: str, source: str, source_path: str,
               cflags: Sequence[str], probe: Callable[[], Any], what: str, about: str, done: str,
               unavailable: str, fallback: str, verbose: bool) -> bool:
    """Builds (or loads from its cache folder) op library ``name`` once per process (the C++
    loops here, the e-prop loops): a line when a compile starts and ends, ONE warning on any
    failure; ``status`` keeps the outcome, ``probe()`` raises if no ops were registered."""
    with lock:
        if status["loaded"] or status["error"] is not None or extension_disabled():
            return bool(status["loaded"])
        try:
            if not source:
                raise FileNotFoundError(f"cannot read the C++ source {source_path}")
            directory = extension_directory(name)
            compiling = not is_built(name)
            if compiling:
                started = time.perf_counter()
                os.makedirs(directory, exist_ok=True)
                print(f"norse_core: compiling the {what} once, about {about} (into {directory}) ...", file=sys.stderr)
            _cpp_extension().load_inline(name=name, cpp_sources=[source], extra_cflags=list(cflags),
                                         build_directory=directory, is_python_module=False, verbose=verbose)
            probe()
            status["loaded"] = True
            if compiling:
                print(f"norse_core: compiled the {what} in {time.perf_counter() - started:.0f} s{done}", file=sys.stderr)
        except Exception as error:  # noqa: BLE001 - any failure means "use the PyTorch loops"
            first = (str(error).strip().splitlines() or [type(error).__name__])[0][:200]
            status["error"] = f"{type(error).__name__}: {first}"
            warnings.warn(f"norse_core: compiled {unavailable} unavailable ({status['error']}); using the {fallback}",
                          RuntimeWarning, stacklevel=3)
    return status["loaded"]
