"""Fixtures shared by the test modules."""

from pathlib import Path
from types import ModuleType
from typing import Any, Dict, List

import pytest


class FakeExtensionCache:
    """An empty torch extension cache in a test's ``tmp_path`` for the modules that build native
    loops (``norse_core.fused.cpp``, ``norse_core.functional.eprop_cpp``): ``load_inline`` (which
    builds, or loads a cached build) only records its arguments in ``loads`` and, where
    ``leaves_library``, leaves the library file a real build would."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
        self.monkeypatch = monkeypatch
        self.loads: List[Dict[str, Any]] = []
        monkeypatch.setenv("TORCH_EXTENSIONS_DIR", str(tmp_path))
        monkeypatch.delenv("NORSE_CORE_NO_EXTENSION", raising=False)

    def use(self, module: ModuleType, leaves_library: bool = False) -> "FakeExtensionCache":
        """Builds of ``module`` go to this cache; its state forgets any earlier load."""
        import torch.utils.cpp_extension as cpp_extension

        def load_inline(**kwargs: Any) -> None:
            self.loads.append(kwargs)
            if leaves_library:
                Path(kwargs["build_directory"], kwargs["name"] + ".so").touch()

        self.monkeypatch.setattr(cpp_extension, "load_inline", load_inline)
        self.forget(module)
        return self

    def forget(self, module: ModuleType) -> None:
        """``module`` as in a new process: nothing loaded, no error."""
        self.monkeypatch.setattr(module, "_status", {"loaded": False, "error": None})

    @staticmethod
    def leave_library(module: ModuleType) -> None:
        """The library file an earlier run's build of ``module`` left in the cache."""
        Path(module.build_directory()).mkdir(parents=True, exist_ok=True)
        Path(module.build_directory(), module._NAME + ".so").touch()


@pytest.fixture
def fake_extension_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> FakeExtensionCache:
    return FakeExtensionCache(monkeypatch, tmp_path)
