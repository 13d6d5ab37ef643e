"""Build norse_core objects from (plain-dict) task configs."""

from __future__ import annotations

from typing import Any, Dict, Mapping, Optional, Tuple

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


def flat_hparams(values: Mapping[str, Any], prefix: str = "") -> Dict[str, Any]:
    """Flattens nested config dicts to ``a/b`` keys with scalar values (for the HParams
    dashboard); lists become strings and ``_target_`` keys are dropped."""
    out: Dict[str, Any] = {}
    for key, value in values.items():
        if key == "_target_":
            continue
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flat_hparams(value, name + "/"))
        elif isinstance(value, (int, float, str, bool)) or value is None:
            out[name] = "None" if value is None else value
        else:
            out[name] = str(value)
    return out
