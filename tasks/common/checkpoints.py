"""Loading checkpoints safely and checking that they fit the task before Lightning uses them.

``torch.load(weights_only=True)`` unpickles tensors and plain containers only, so a
checkpoint cannot run code; Lightning checkpoints of the tasks here are such plain data.
A checkpoint from another model config would otherwise fail deep inside
``load_state_dict`` (or worse, half-load): :func:`check_checkpoint` names the keys that
differ instead.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple

import torch

log = logging.getLogger(__name__)

#: How many keys of each kind the error message lists.
SHOWN = 5


class CheckpointMismatchError(ValueError):
    """The checkpoint's state_dict does not fit the model (different config)."""


def load_checkpoint(path: str | Path) -> Tuple[Dict[str, Any], bool]:
    """``(checkpoint, weights_only)``: loaded with ``weights_only=True`` when possible; otherwise
    (an object that is not plain data inside) with ``weights_only=False`` and a warning saying why."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {str(path)!r} does not exist")
    try:
        return torch.load(path, map_location="cpu", weights_only=True), True
    except Exception as exc:  # noqa: BLE001 - the unpickler raises UnpicklingError or others
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if "weights_only" not in str(exc) and "Unsupported global" not in str(exc):
            raise ValueError(f"checkpoint {str(path)!r} cannot be read (corrupt or truncated?): {reason}") from exc
        warnings.warn(
            f"checkpoint {path} holds objects that weights_only=True refuses ({reason}); loading it with "
            "weights_only=False, which runs code from the file: only do this with checkpoints you trust",
            UserWarning,
            stacklevel=2,
        )
        return torch.load(path, map_location="cpu", weights_only=False), False


def _shape(value: Any) -> Tuple[int, ...] | None:
    return tuple(value.shape) if isinstance(value, torch.Tensor) else None


def _listed(keys: List[str]) -> str:
    shown = "; ".join(keys[:SHOWN])
    return f"{len(keys)} ({shown}{'; ...' if len(keys) > SHOWN else ''})"


def state_dict_differences(saved: Mapping[str, Any], expected: Mapping[str, Any]) -> Dict[str, List[str]]:
    """``{"missing", "unexpected", "shape"}``: keys the model has but the checkpoint lacks, keys
    only the checkpoint has, and keys whose tensor shapes differ (``key: saved -> model``)."""
    missing = [k for k in expected if k not in saved]  # in the model's (execution) order
    unexpected = [k for k in saved if k not in expected]
    shape = [
        f"{k}: {_shape(saved[k])} -> {_shape(expected[k])}"
        for k in expected
        if k in saved and _shape(saved[k]) != _shape(expected[k])
    ]
    return {"missing": missing, "unexpected": unexpected, "shape": shape}


def _config_of(checkpoint: Mapping[str, Any]) -> str:
    hparams = checkpoint.get("hyper_parameters")
    if not isinstance(hparams, Mapping):
        return ""
    parts = []
    model = hparams.get("model")
    if isinstance(model, Mapping) and model.get("name"):
        parts.append(f"model={model['name']}")
    net = hparams.get("net")
    if isinstance(net, Mapping):
        parts += [f"net.{k}={net[k]}" for k in ("channels", "hidden", "seq_length", "batch_norm") if k in net]
    for key in ("input_size",):
        if key in hparams:
            parts.append(f"{key}={hparams[key]}")
    return " ".join(parts)


#: ``ckpt_path`` values that Lightning resolves itself (not checked here).
LIGHTNING_KEYWORDS = ("last", "best", "hpc")


def check_checkpoint(path: str | Path, model: torch.nn.Module) -> Optional[bool]:
    """Raises :class:`CheckpointMismatchError` (a ``ValueError``) when the checkpoint at ``path``
    does not hold ``model``'s state_dict (same keys, same shapes); returns whether it loaded
    with ``weights_only=True`` (pass that on to Lightning), ``None`` for Lightning's own
    ``"last"``/``"best"``/``"hpc"``/``"registry:..."``."""
    if str(path) in LIGHTNING_KEYWORDS or str(path).startswith("registry"):
        return None
    checkpoint, weights_only = load_checkpoint(path)
    if not isinstance(checkpoint, Mapping) or "state_dict" not in checkpoint:
        raise CheckpointMismatchError(f"{path} is not a Lightning checkpoint (no 'state_dict' entry)")
    diff = state_dict_differences(checkpoint["state_dict"], model.state_dict())
    if any(diff.values()):
        lines = [f"checkpoint {path} does not fit this model (was it saved with another model config?):"]
        if diff["missing"]:
            lines.append(f"  missing in the checkpoint: {_listed(diff['missing'])}")
        if diff["unexpected"]:
            lines.append(f"  unexpected (only in the checkpoint): {_listed(diff['unexpected'])}")
        if diff["shape"]:
            lines.append(f"  different shapes (checkpoint -> model): {_listed(diff['shape'])}")
        saved_config = _config_of(checkpoint)
        if saved_config:
            lines.append(f"  the checkpoint was saved with: {saved_config}")
            hparams = getattr(model, "hparams", None)
            current = _config_of({"hyper_parameters": dict(hparams)}) if hparams else ""
            if current and current != saved_config:
                lines.append(f"  this run's model has:          {current}")
        raise CheckpointMismatchError("\n".join(lines))
    return weights_only
