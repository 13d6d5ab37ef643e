"""Typed config blocks made from constructor signatures.

A block's keys, types and defaults are the parameters of the class it configures (the one
place of each default); registered in Hydra's ConfigStore and listed in a task's defaults list,
the block is checked as the config is composed: a misspelled key (``net.hiden=3``) or a value of
the wrong type (``net.hidden=abc``) fails there, before any data or compile work, naming the
key's path and its type, and for a choice (an Enum field) the allowed values. Ranges stay with
the constructors, which name the argument (the runner adds the block: ``data.batch_size``).
"""

from __future__ import annotations

import collections.abc
import dataclasses
import enum
import inspect
import sys
import types
import typing
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING

__all__ = ["schema", "register", "plain_defaults", "REQUIRED"]

_SCALARS = (bool, int, float, str)
#: The default of an ``extra`` key the config must set (``???`` until then).
REQUIRED = inspect.Parameter.empty


def _config_type(hint: Any, owner: str, key: str) -> Any:
    """The OmegaConf type of a parameter annotated ``hint``: scalars as they are, ``Optional``
    kept, a union with a tensor or path as its float or str member, sequences as lists, a
    NamedTuple of parameters as a nested schema."""
    if hint in _SCALARS or hint is Any or dataclasses.is_dataclass(hint):
        return hint
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        rest = [a for a in args if a is not type(None)]
        if len(rest) < len(args):
            return Optional[_config_type(rest[0] if len(rest) == 1 else typing.Union[tuple(rest)], owner, key)]
        for scalar in (str, float, int, bool):
            if scalar in rest:
                return scalar
    if origin in (list, tuple, collections.abc.Sequence) and args:
        return List[_config_type(args[0], owner, key)]
    if origin in (dict, collections.abc.Mapping) and args:  # a block passed on whole (data.env)
        return Dict[str, _config_type(args[1], owner, key)]
    if isinstance(hint, type) and issubclass(hint, tuple) and hasattr(hint, "_fields"):
        return schema(hint, f"{owner}_{key}")
    raise TypeError(f"{owner}.{key}: no config type for the annotation {hint!r}")


def _default(kind: Any, value: Any) -> dataclasses.Field:
    if value is inspect.Parameter.empty:  # required: the config must set it (``???`` until then)
        return dataclasses.field(default=MISSING)
    if dataclasses.is_dataclass(value):
        return dataclasses.field(default_factory=lambda: dataclasses.replace(value))
    if isinstance(value, tuple) and hasattr(value, "_fields"):  # NamedTuple parameters
        return dataclasses.field(default_factory=lambda: kind(**value._asdict()))
    if isinstance(value, (list, tuple)):
        return dataclasses.field(default_factory=lambda: list(value))
    return dataclasses.field(default=value)


def schema(fn: Callable, name: str, keys: Optional[Sequence[str]] = None, rename: Mapping[str, str] = {},
           choices: Mapping[str, Sequence[str]] = {}, target: bool = False,
           extra: Mapping[str, Tuple[type, Any]] = {}) -> type:
    """A dataclass ``name`` with one field per parameter of ``fn`` named in ``keys`` (default:
    every parameter that has a default), typed by its annotation, defaulting to its default.
    ``rename``: config key -> parameter (``readout`` -> ``readout_p``); ``choices``: key ->
    allowed strings (an Enum field); ``target``: a ``_target_`` field naming ``fn``; ``extra``:
    key -> ``(type, default)`` of keys the task reads besides ``fn``'s (``net.neuron``)."""
    signature = inspect.signature(fn)
    hints = typing.get_type_hints(fn.__init__ if inspect.isclass(fn) and not hasattr(fn, "_fields") else fn)
    if keys is None:
        keys = [k for k, p in signature.parameters.items() if p.default is not inspect.Parameter.empty]
    fields: List[Any] = []
    if target:
        fields.append(("_target_", str, dataclasses.field(default=f"{fn.__module__}.{fn.__qualname__}")))
    for key in keys:
        parameter = signature.parameters[rename.get(key, key)]
        default = parameter.default
        if key in choices:
            kind: Any = enum.Enum(f"{name}_{key}", {c: c for c in choices[key]})
            default = kind[default]
        else:
            kind = _config_type(hints[parameter.name], name, key)
        fields.append((key, kind, _default(kind, default)))
    fields += [(key, kind, _default(kind, default)) for key, (kind, default) in extra.items()]
    made = dataclasses.make_dataclass(name, fields)
    made.__module__ = fn.__module__
    return made


def _made_types(kind: Any) -> List[type]:
    """The dataclasses and Enums in the type ``kind`` (its fields' types too, nested in
    ``Optional``, ``List``, ``Dict`` and base classes)."""
    found: List[type] = []
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        found.append(kind)
    elif dataclasses.is_dataclass(kind) and isinstance(kind, type):
        found.append(kind)
        for base in kind.__mro__[1:]:
            if dataclasses.is_dataclass(base):
                found += _made_types(base)
        for field in dataclasses.fields(kind):
            found += _made_types(field.type)
    for arg in typing.get_args(kind):
        found += _made_types(arg)
    return found


def _make_importable(kinds: Sequence[type], module: str) -> None:
    """Makes each made type found by name in its module, so configs holding it pickle (a
    ``ddp_spawn`` process receives the config): one that is not becomes an attribute of
    ``module`` (the task package, imported again by the pickle in the other process)."""
    target = sys.modules[module]
    for kind in kinds:
        if getattr(sys.modules.get(kind.__module__), kind.__qualname__, None) is kind:
            continue
        if getattr(target, kind.__qualname__, kind) is not kind:
            raise TypeError(f"config type {kind.__qualname__!r}: {module} already has another object of that name")
        kind.__module__ = module
        setattr(target, kind.__qualname__, kind)


def register(task: str, blocks: Dict[str, type], module: Optional[str] = None) -> None:
    """Stores each ``blocks[key]`` schema in Hydra's ConfigStore as ``<task>_<key>_schema``
    (package ``key``); ``conf/<task>.yaml`` lists these names first in its defaults. The
    schema types made at run time become attributes of ``module`` (default: the caller's, the
    task package) so that a composed config can be pickled."""
    module = module or sys._getframe(1).f_globals["__name__"]
    _make_importable([made for node in blocks.values() for made in _made_types(node)], module)
    store = ConfigStore.instance()
    for key, node in blocks.items():
        store.store(name=f"{task}_{key}_schema", node=node, package=key)


def plain_defaults(kind: type) -> Dict[str, Any]:
    """The defaults of a schema dataclass as plain values (an Enum as its value)."""
    values = dataclasses.asdict(kind())
    return {k: v.value if isinstance(v, enum.Enum) else v for k, v in values.items()}
