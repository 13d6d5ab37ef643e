"""Loading checkpoints safely and checking that they fit the task before Lightning uses them.

``torch.load(weights_only=True)`` unpickles tensors and plain containers only, so a
checkpoint cannot run code; Lightning checkpoints of the tasks here are such plain data, and
safe loading is the only default. ``ckpt_trusted=true`` (:func:`load_checkpoint`'s
``trusted``) unpickles arbitrary objects, which can run code: only for files you trust.

A file that is not a checkpoint, or a checkpoint of another model config, would otherwise
fail deep inside Lightning or ``load_state_dict`` (or worse, half-load, or load into a model
with other dynamics): :func:`check_checkpoint` names what is wrong instead.
"""

from __future__ import annotations

import logging
import re
import warnings
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple

import torch

from tasks.common.builders import find_setting
from tasks.common.errors import RunError

log = logging.getLogger(__name__)

#: How many keys of each kind the error message lists.
SHOWN = 5
#: What a ``ckpt_path`` should be, for the error messages.
EXPECTED = ("expected a PyTorch Lightning checkpoint written by this project's runner, "
            "e.g. <run dir>/checkpoints/last.ckpt")


class CheckpointError(RunError, ValueError):
    """The file is not a checkpoint this runner can load (missing, unreadable, not a Lightning
    checkpoint, or refused by the safe unpickler)."""


class CheckpointMismatchError(CheckpointError):
    """The checkpoint does not fit the model: other parameter keys or shapes, or saved with
    another neuron model, encoder, surrogate or environment."""


def _reason(exc: Exception) -> str:
    """The gist of why ``torch.load`` failed: its first sentence, or for the (long) messages of
    the safe unpickler the line that says what it met."""
    text = str(exc).strip()
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if text.startswith("Weights only load failed"):
        lines = [ln.replace("WeightsUnpickler error:", "").strip() for ln in lines[1:]]
        lines = [ln for ln in lines if ln and not ln.startswith(("Please file an issue", "Check the documentation"))]
    detail = lines[0].split(". ")[0].rstrip(".") if lines else ""
    return f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__


def load_checkpoint(path: str | Path, trusted: bool = False) -> Dict[str, Any]:
    """The checkpoint at ``path``, loaded with ``torch.load(weights_only=True)`` (with
    ``weights_only=False`` only when ``trusted``). Raises :class:`CheckpointError`, one line
    naming the file and what was expected, for a missing file, a file that is not a Lightning
    checkpoint (text, truncated, not a dict, no ``state_dict``) and one that the safe
    unpickler refuses (naming ``ckpt_trusted=true``)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist; {EXPECTED}")
    try:
        with warnings.catch_warnings():  # torch's note on the pickle protocol of non-torch files
            warnings.filterwarnings("ignore", message=r".*pickle protocol")
            checkpoint = torch.load(path, map_location="cpu", weights_only=not trusted)
    except Exception as exc:  # noqa: BLE001 - the unpickler raises UnpicklingError, KeyError, RuntimeError ...
        refused = re.search(r"GLOBAL ([\w.]+)", str(exc)) if not trusted else None
        if refused:  # an object other than tensors and plain containers
            raise CheckpointError(
                f"checkpoint {path} was refused for safety: it holds {refused.group(1)}, which "
                "torch.load(weights_only=True) does not unpickle (arbitrary objects can run code); "
                f"{EXPECTED}; only for a file you trust, rerun with ckpt_trusted=true"
            ) from exc
        raise CheckpointError(
            f"checkpoint {path} cannot be read (not a checkpoint, or corrupt or truncated?; {_reason(exc)}); "
            f"{EXPECTED}"
        ) from exc
    if not isinstance(checkpoint, Mapping):
        raise CheckpointError(f"checkpoint {path} holds a {type(checkpoint).__name__}, not a checkpoint; {EXPECTED}")
    if not isinstance(checkpoint.get("state_dict"), Mapping):
        keys = ", ".join(map(str, list(checkpoint)[:SHOWN])) or "none"
        raise CheckpointError(f"checkpoint {path} has no 'state_dict' entry (keys: {keys}); {EXPECTED}")
    return dict(checkpoint)


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


def _choices_of(hparams: Any) -> Dict[str, str]:
    """The config choices saved in a task's hyperparameters that change what a model computes
    under the same parameter names: ``model``, ``encoder``, ``env`` (their ``name``) and the
    ``surrogate`` (the model's threshold ``method``)."""
    if not isinstance(hparams, Mapping):
        return {}
    choices = {}
    for group in ("model", "encoder", "env"):
        section = hparams.get(group)
        if isinstance(section, Mapping) and section.get("name") is not None:
            choices[group] = str(section["name"])
    model = hparams.get("model")
    method = find_setting(model, "method") if isinstance(model, Mapping) else None
    if method is not None:
        choices["surrogate"] = str(method)
    return choices


def choice_differences(saved_hparams: Any, current_hparams: Any) -> Tuple[str, str]:
    """``("model=lif", "model=lifbox")``: the choices (:func:`_choices_of`) that differ between a
    checkpoint's and this run's hyperparameters, as saved and as requested (empty: none differ,
    or either side does not record them)."""
    saved, current = _choices_of(saved_hparams), _choices_of(current_hparams)
    differ = [key for key in saved if key in current and saved[key] != current[key]]
    return " ".join(f"{k}={saved[k]}" for k in differ), " ".join(f"{k}={current[k]}" for k in differ)


#: ``ckpt_path`` values that Lightning resolves itself (not checked here).
LIGHTNING_KEYWORDS = ("last", "best", "hpc")


def is_lightning_keyword(path: Any) -> bool:
    """Whether ``ckpt_path`` is one Lightning resolves itself (``last``, ``best``, ``hpc``, ``registry...``)."""
    return str(path) in LIGHTNING_KEYWORDS or str(path).startswith("registry")


def check_checkpoint(
    path: str | Path, model: torch.nn.Module, trusted: bool = False, check_choices: bool = True
) -> Optional[Dict[str, Any]]:
    """The checkpoint at ``path`` (:func:`load_checkpoint`) after checking that it fits ``model``:
    same state_dict keys and shapes and (``check_choices``) the same neuron model, encoder,
    surrogate and environment as ``model.hparams``; raises :class:`CheckpointMismatchError`
    (a ``ValueError``) naming what differs. ``None`` for Lightning's own ``"last"``/``"best"``/
    ``"hpc"``/``"registry:..."``."""
    if is_lightning_keyword(path):
        return None
    checkpoint = load_checkpoint(path, trusted=trusted)
    hparams = getattr(model, "hparams", None)
    current_hparams = dict(hparams) if hparams else {}
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
            current = _config_of({"hyper_parameters": current_hparams}) if current_hparams else ""
            if current and current != saved_config:
                lines.append(f"  this run's model has:          {current}")
        raise CheckpointMismatchError("\n".join(lines))
    if check_choices:
        saved, current = choice_differences(checkpoint.get("hyper_parameters"), current_hparams)
        if saved:
            raise CheckpointMismatchError(
                f"checkpoint {path} was saved with {saved}, this run has {current}: the parameter names "
                "match, but the model computes differently; to start from its weights anyway (no optimizer "
                "or loop state), add ckpt_weights_only=true"
            )
    return checkpoint


def restore_checkpoint(
    path: Optional[str | Path], model: torch.nn.Module, trusted: bool = False, state_dict_only: bool = False
) -> Optional[str]:
    """Checks the checkpoint ``path`` against ``model`` (:func:`check_checkpoint`) before
    Lightning loads it; returns the ``ckpt_path`` to hand to Lightning (with
    ``weights_only=not trusted``). With ``state_dict_only`` (``ckpt_weights_only=true``) it loads
    only the weights into ``model`` (keys and shapes must match; the choices may differ) and
    returns ``None``: training and testing start from them with a fresh optimizer and loop."""
    if not path:
        return None
    if state_dict_only and is_lightning_keyword(path):
        raise CheckpointError(f"ckpt_weights_only=true needs a checkpoint file as ckpt_path, not {str(path)!r}")
    checkpoint = check_checkpoint(path, model, trusted=trusted, check_choices=not state_dict_only)
    if checkpoint is None or not state_dict_only:
        return str(path)
    model.load_state_dict(checkpoint["state_dict"])
    log.info("loaded the weights of %s (only the weights: ckpt_weights_only=true)", path)
    return None
