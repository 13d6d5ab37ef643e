"""Build norse_core objects from (plain-dict) task configs."""

from __future__ import annotations

import dataclasses
import typing
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple

import torch
from hydra.utils import get_class, instantiate

import norse_core as snn

from tasks.common.errors import ConfigError

#: The neuron models of conf/model/ whose parameters ``net.neuron`` can set.
NEURON_PARAMETERS = (snn.LIFParameters, snn.LSNNParameters, snn.LIFBoxParameters, snn.LIFExParameters,
                     snn.LIFAdExParameters, snn.IAFParameters, snn.IzhikevichParameters, snn.CobaLIFParameters, snn.LIFRefracParameters)


def _numeric(hint: Any) -> bool:
    return hint is float or float in typing.get_args(hint)


def _listing(kind: type, name: str) -> type:
    """``kind`` named ``name(key, ...)``: Hydra reports a misspelled key as "Key 'x' not in
    '<class name>'", so the name carries the allowed keys (the qualified name stays ``name``:
    pickle finds the class by it)."""
    kind.__name__ = f"{name}({', '.join(f.name for f in dataclasses.fields(kind))})"
    kind.__qualname__ = name
    return kind


#: The ``net.neuron`` block: every numeric parameter of the models above, ``null`` (the model's
#: value) unless set (the surrogate's ``alpha``: the ``surrogate`` group); a name the chosen model lacks is ignored, so that one setting (the LSNN's
#: ``tau_adapt_inv``) can stay while ``model=`` changes. Typed: a misspelled name fails at composition.
NeuronSettings = _listing(dataclasses.make_dataclass("NeuronSettings", [
    (name, Optional[float], dataclasses.field(default=None))
    for name in dict.fromkeys(n for c in NEURON_PARAMETERS for n, h in typing.get_type_hints(c).items() if _numeric(h) and n != "alpha")  # alpha: surrogate=
]), "NeuronSettings")


def layer_settings(name: str, layers: Sequence[str]) -> type:
    """The ``net.layers`` block of a network whose spiking layers are named ``layers``: one
    :data:`NeuronSettings` per layer, set over ``net.neuron`` for that layer only
    (``net.layers.fc1.v_th=0.8``). A misspelled layer or parameter fails at composition,
    naming the key and the allowed ones."""
    return _listing(dataclasses.make_dataclass(name, [
        (layer, NeuronSettings, dataclasses.field(default_factory=NeuronSettings)) for layer in layers]), name)


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


def _plain(settings: Any) -> Dict[str, Any]:
    """A settings block (a dataclass or a mapping) as a dict of the values set (not ``None``)."""
    values = dataclasses.asdict(settings) if dataclasses.is_dataclass(settings) else dict(settings or {})
    return {k: v for k, v in values.items() if v is not None}


def build_neurons(model: Mapping[str, Any], layers: Sequence[str], neuron: Any = None,
                  per_layer: Optional[Mapping[str, Any]] = None) -> Tuple[type, Dict[str, Any]]:
    """``(layer class, {layer: parameters})`` for the spiking ``layers`` of a network, from a
    ``model/`` config (keys ``layer`` and ``p``): ``p_layer = p <- net.neuron <- net.layers.<layer>``
    (:func:`override_parameters`: ``neuron`` over every layer, ``per_layer[layer]`` over one).
    A ``per_layer`` entry that sets something for a layer this network lacks is a
    :class:`~tasks.common.errors.ConfigError` naming ``net.layers.<name>`` and the layers."""
    for key in ("layer", "p"):
        if key not in model:
            raise ValueError(f"model config needs a {key!r} entry, got keys {sorted(model)}")
    if dataclasses.is_dataclass(per_layer):
        per_layer = {f.name: getattr(per_layer, f.name) for f in dataclasses.fields(per_layer)}
    per_layer = {name: _plain(values) for name, values in (per_layer or {}).items()}
    unknown = [name for name, values in per_layer.items() if values and name not in layers]
    if unknown:
        raise ConfigError(f"net.layers.{unknown[0]}={per_layer[unknown[0]]}: this network has no spiking layer "
                          f"{unknown[0]!r}; its spiking layers: {', '.join(layers)}")
    p = override_parameters(instantiate(dict(model["p"])), _plain(neuron))
    return get_class(model["layer"]), {name: override_parameters(p, per_layer.get(name, {})) for name in layers}


#: ``net.trainable_per``: one trained value per ``layer``, per ``channel`` (the first state
#: dimension: a conv layer's channels, a dense layer's neurons) or per ``neuron``.
TRAINABLE_PER = ("layer", "channel", "neuron")


def _numeric_paths(p: Any, prefix: str = "") -> Dict[str, str]:
    """Parameter name -> dotted path of every numeric field of ``p`` (nested ones too)."""
    paths: Dict[str, str] = {}
    for name, value in zip(p._fields, p):
        if hasattr(value, "_fields"):
            paths.update({k: v for k, v in _numeric_paths(value, f"{prefix}{name}.").items() if k not in paths})
        elif isinstance(value, (int, float, torch.Tensor)) and not isinstance(value, bool):
            paths.setdefault(name, prefix + name)
    return paths


def trainable_names(model: Mapping[str, Any], trainable: Optional[Sequence[str]]) -> Tuple[str, ...]:
    """The neuron parameters a task trains: ``net.trainable`` when set, else the model's
    ``trainable`` (``conf/model/plif.yaml``), else none."""
    return tuple(model.get("trainable") or ()) if trainable is None else tuple(trainable)


def trainable_options(p: Any, trainable: Sequence[str], per: str, shape: Sequence[int]) -> Dict[str, Any]:
    """The ``trainable`` and ``trainable_shape`` arguments of a norse_core layer with parameters
    ``p`` whose per-sample state has ``shape`` (channels first): the parameters named in
    ``trainable`` (found also in nested parameters, e.g. ``lif.tau_mem_inv``) become
    ``nn.Parameter``s, one per layer, per channel (``(C, 1, ..)``) or per neuron (``shape``)
    as ``per`` says. A name ``p`` lacks raises a ValueError naming ``trainable`` and the allowed names."""
    if per not in TRAINABLE_PER:
        raise ValueError(f"trainable_per must be one of {', '.join(TRAINABLE_PER)}, got {per!r}")
    if not trainable:  # also for layers of other libraries (no parameters p; the benchmarks)
        return {}
    paths = _numeric_paths(p)
    unknown = [name for name in trainable if name not in paths]
    if unknown:
        raise ValueError(f"trainable must name numeric parameters of {type(p).__name__} "
                         f"({', '.join(paths)}), got {unknown[0]!r}")
    sizes = {"layer": None, "channel": (shape[0], *(1,) * (len(shape) - 1)), "neuron": tuple(shape)}
    return {"trainable": tuple(paths[name] for name in trainable), "trainable_shape": sizes[per]}


def build_encoder(encoder: Mapping[str, Any]) -> Tuple[Optional[torch.nn.Module], float]:
    """``(encoder module or None for direct input, input scale)`` from an ``encoder/`` config."""
    module_cfg = encoder.get("module")
    module = instantiate(dict(module_cfg)) if module_cfg else None
    return module, float(encoder.get("scale", 1.0))


def find_setting(config: Any, key: str | Tuple[str, ...], default: Any = None) -> Any:
    """The first value of ``key`` (or of the first of the names ``key`` found) in a nested
    config mapping or parameter NamedTuple, depth first (e.g. the threshold ``method`` of a
    model whose parameters nest, like ``LIFRefracParameters(lif=...)``); ``default`` if none."""
    names = (key,) if isinstance(key, str) else key
    items = config._asdict() if hasattr(config, "_fields") else config
    if not isinstance(items, Mapping):
        return default
    for name in names:
        if name in items:
            return items[name]
    for value in items.values():
        found = find_setting(value, names)
        if found is not None:
            return found
    return default
