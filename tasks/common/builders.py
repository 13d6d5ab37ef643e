"""Build norse_core objects from (plain-dict) task configs."""

from __future__ import annotations

import dataclasses
import typing
from typing import Any, Mapping, Optional, Tuple

import torch
from hydra.utils import get_class, instantiate

import norse_core as snn

#: The neuron models of conf/model/ whose parameters ``net.neuron`` can set.
NEURON_PARAMETERS = (snn.LIFParameters, snn.LSNNParameters, snn.LIFBoxParameters, snn.LIFExParameters,
                     snn.LIFAdExParameters, snn.IAFParameters, snn.IzhikevichParameters, snn.CobaLIFParameters, snn.LIFRefracParameters)


def _numeric(hint: Any) -> bool:
    return hint is float or float in typing.get_args(hint)


#: The ``net.neuron`` block: every numeric parameter of the models above, ``null`` (the model's
#: value) unless set (the surrogate's ``alpha``: the ``surrogate`` group); a name the chosen model lacks is ignored, so that one setting (the LSNN's
#: ``tau_adapt_inv``) can stay while ``model=`` changes. Typed: a misspelled name fails at composition.
NeuronSettings = dataclasses.make_dataclass("NeuronSettings", [
    (name, Optional[float], dataclasses.field(default=None))
    for name in dict.fromkeys(n for c in NEURON_PARAMETERS for n, h in typing.get_type_hints(c).items() if _numeric(h) and n != "alpha")  # alpha: surrogate=
])


def override_parameters(p: Any, overrides: Mapping[str, Any]) -> Any:
    """``p`` (a parameter NamedTuple, possibly nesting others) with the fields named in
    ``overrides`` replaced wherever they occur; ``None`` values and names ``p`` lacks are
    ignored (see :data:`NeuronSettings`)."""
    overrides = {k: v for k, v in overrides.items() if v is not None}
    if not overrides or not hasattr(p, "_fields"):
        return p
    changes = {}
    for name, value in zip(p._fields, p):
        if name in overrides:
            changes[name] = overrides[name]
        elif hasattr(value, "_fields"):
            changes[name] = override_parameters(value, overrides)
    return p._replace(**changes)


def build_neuron(model: Mapping[str, Any], settings: Optional[Mapping[str, Any]] = None) -> Tuple[type, Any]:
    """``(layer class, parameters)`` from a ``model/`` config (keys ``layer`` and ``p``), with
    the task's ``net.neuron`` ``settings`` over ``p`` (:func:`override_parameters`)."""
    for key in ("layer", "p"):
        if key not in model:
            raise ValueError(f"model config needs a {key!r} entry, got keys {sorted(model)}")
    layer = get_class(model["layer"])
    return layer, override_parameters(instantiate(dict(model["p"])), dict(settings or {}))


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
