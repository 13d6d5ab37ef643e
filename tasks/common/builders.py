"""Build norse_core objects from (plain-dict) task configs."""

from __future__ import annotations

from typing import Any, Mapping, Optional, Tuple

import torch
from hydra.utils import get_class, instantiate


def build_neuron(model: Mapping[str, Any]) -> Tuple[type, Any]:
    """``(layer class, parameters)`` from a ``model/`` config (keys ``layer`` and ``p``)."""
    for key in ("layer", "p"):
        if key not in model:
            raise ValueError(f"model config needs a {key!r} entry, got keys {sorted(model)}")
    layer = get_class(model["layer"])
    return layer, instantiate(dict(model["p"]))


def build_encoder(encoder: Mapping[str, Any]) -> Tuple[Optional[torch.nn.Module], float]:
    """``(encoder module or None for direct input, input scale)`` from an ``encoder/`` config."""
    module_cfg = encoder.get("module")
    module = instantiate(dict(module_cfg)) if module_cfg else None
    return module, float(encoder.get("scale", 1.0))


def find_setting(config: Mapping[str, Any], key: str, default: Any = None) -> Any:
    """The first value of ``key`` in a nested config (e.g. the threshold ``method`` of a
    model whose parameters nest, like ``LIFRefracParameters(lif=...)``)."""
    if key in config:
        return config[key]
    for value in config.values():
        if isinstance(value, Mapping):
            found = find_setting(value, key)
            if found is not None:
                return found
    return default
