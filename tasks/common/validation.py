"""Checks of the composed config before any work: a table of key path -> allowed values, keys
added to a typed block, and whether the requested accelerator exists on this machine.

A bad value (``trainer.max_epochs=abc``) would otherwise surface after the data preparation,
deep inside Lightning. Every task's ``net``, ``data``, ``optimizer`` and ``scheduler`` blocks
(CartPole's ``env``, ``coding``, ``algo`` and ``eval`` too) are typed (:mod:`tasks.common.schema`):
their key names and types are checked at composition, their ranges in the constructors; the table covers the rest (Lightning's Trainer, the runner,
the ranges no constructor checks). Keys a task's config does not have are skipped.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence

import torch
from omegaconf import DictConfig, OmegaConf

from tasks.common.errors import ConfigError

__all__ = ["Rule", "RULES", "validate_config", "unknown_keys", "check_accelerator"]


@dataclass(frozen=True)
class Rule:
    """What a key allows: ``accepts(value)`` and the words for the error (``allowed``)."""

    allowed: str
    accepts: Callable[[Any], bool]


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)) and value == value  # not NaN


def integer(minimum: int, maximum: Optional[int] = None, null: bool = False) -> Rule:
    """An integer in ``[minimum, maximum]`` (optionally ``null``)."""
    words = f"an integer >= {minimum}" if maximum is None else f"an integer from {minimum} to {maximum}"
    return Rule(
        words + (" or null" if null else ""),
        lambda v: (null and v is None) or (_is_int(v) and v >= minimum and (maximum is None or v <= maximum)),
    )


def number(minimum: float, maximum: Optional[float] = None, above: bool = False, null: bool = False) -> Rule:
    """A number ``>= minimum`` (``> minimum`` with ``above``) and ``<= maximum``."""
    words = f"a number {'>' if above else '>='} {minimum}" + ("" if maximum is None else f" and <= {maximum}")
    return Rule(
        words + (" or null" if null else ""),
        lambda v: (null and v is None)
        or (_is_number(v) and (v > minimum if above else v >= minimum) and (maximum is None or v <= maximum)),
    )


def boolean(null: bool = False) -> Rule:
    """``true`` or ``false``."""
    return Rule("true or false" + (" or null" if null else ""), lambda v: (null and v is None) or isinstance(v, bool))


def one_of(choices: Sequence[Any], null: bool = False) -> Rule:
    """One of ``choices`` (compared with ``==``, type included)."""
    words = "one of " + ", ".join(str(c) for c in choices) + (" or null" if null else "")
    return Rule(words, lambda v: (null and v is None) or any(type(v) is type(c) and v == c for c in choices))


def either(*rules: Rule) -> Rule:
    """Any of ``rules``."""
    return Rule(" or ".join(r.allowed for r in rules), lambda v: any(r.accepts(v) for r in rules))


def text(pattern: str, words: str, null: bool = False) -> Rule:
    """A string matching the regular expression ``pattern`` in full."""
    return Rule(
        words + (" or null" if null else ""),
        lambda v: (null and v is None) or (isinstance(v, str) and re.fullmatch(pattern, v) is not None),
    )


#: ``limit_*_batches``: a count of batches or a fraction of them.
BATCHES = either(integer(0), number(0.0, 1.0), Rule("null", lambda v: v is None))
#: Lightning's precision choices (``lightning_fabric.connector._PRECISION_INPUT``).
PRECISIONS = (64, 32, 16, "64", "32", "16", "bf16", "64-true", "32-true", "16-true", "bf16-true", "16-mixed",
              "bf16-mixed", "transformer-engine", "transformer-engine-float16")
ACCELERATORS = ("auto", "cpu", "gpu", "cuda", "mps", "tpu")
#: ``trainer.devices``: a count, -1 (all), "auto", a list of device indices or "0,1".
DEVICES = either(
    Rule("a positive integer", lambda v: _is_int(v) and v >= 1),
    Rule("-1 (all)", lambda v: _is_int(v) and v == -1),
    Rule('"auto"', lambda v: v == "auto"),
    Rule("a list of device indices", lambda v: isinstance(v, (list, tuple)) and len(v) > 0
         and all(_is_int(i) and i >= 0 for i in v)),
    text(r"-1|\d+|\d+(\s*,\s*\d+)*,?", 'a string of indices like "0,1"'),
)

#: key path -> what it allows; checked right after the config is composed.
RULES: Dict[str, Rule] = {
    # Lightning's Trainer
    "trainer.accelerator": one_of(ACCELERATORS),
    "trainer.devices": DEVICES,
    "trainer.num_nodes": integer(1),
    "trainer.precision": one_of(PRECISIONS, null=True),
    "trainer.max_epochs": integer(-1, null=True),
    "trainer.min_epochs": integer(0, null=True),
    "trainer.max_steps": integer(-1),
    "trainer.min_steps": integer(0, null=True),
    "trainer.max_time": either(text(r"\d+:\d\d:\d\d:\d\d", "a duration DD:HH:MM:SS", null=True),
                               Rule("a mapping like {hours: 1}", lambda v: isinstance(v, dict))),
    "trainer.limit_train_batches": BATCHES,
    "trainer.limit_val_batches": BATCHES,
    "trainer.limit_test_batches": BATCHES,
    "trainer.limit_predict_batches": BATCHES,
    "trainer.val_check_interval": either(integer(1), number(0.0, 1.0, above=True), Rule("null", lambda v: v is None)),
    "trainer.check_val_every_n_epoch": integer(1, null=True),
    "trainer.num_sanity_val_steps": integer(-1, null=True),
    "trainer.log_every_n_steps": integer(0, null=True),
    "trainer.accumulate_grad_batches": integer(1),
    "trainer.gradient_clip_val": number(0.0, null=True),
    "trainer.fast_dev_run": either(boolean(), integer(0)),
    "trainer.deterministic": either(boolean(null=True), one_of(["warn"])),
    "trainer.detect_anomaly": boolean(),
    "trainer.enable_checkpointing": boolean(null=True),
    "trainer.enable_progress_bar": boolean(null=True),
    "trainer.enable_model_summary": boolean(null=True),
    # the runner
    "seed": integer(0, 2**32 - 1, null=True),
    "threads": integer(1, null=True),
    "test": boolean(),
    "eval_only": boolean(),
    "ckpt_path": Rule("a path (string) or null", lambda v: v is None or isinstance(v, str)),
    "ckpt_trusted": boolean(),
    "ckpt_weights_only": boolean(),
    # the tasks: ranges their constructors do not check
    "optimizer.lr": number(0.0, above=True),
    "optimizer.weight_decay": number(0.0),
    "optimizer.neuron_lr": number(0.0, above=True, null=True),
    "net.dt": number(0.0, above=True),
    "net.hidden": integer(1),
    "algo.num_envs": integer(1),
    "algo.max_env_steps": integer(1),
    "eval.episodes": integer(1),
}

_ABSENT = object()


def _value(cfg: DictConfig, path: str) -> Any:
    try:
        value = OmegaConf.select(cfg, path, default=_ABSENT)
    except Exception:  # noqa: BLE001 - a missing value or failing interpolation: OmegaConf reports it later
        return _ABSENT
    if OmegaConf.is_config(value):
        return OmegaConf.to_container(value, resolve=True)
    return value


def check_accelerator(trainer: Any) -> None:
    """Raises :class:`ConfigError` when ``trainer.accelerator`` asks for a GPU (or MPS) that this
    machine does not have, with the settings that run here."""
    accelerator = str(trainer.get("accelerator") or "auto") if trainer is not None else "auto"
    if accelerator in ("gpu", "cuda") and not torch.cuda.is_available():
        missing = "no CUDA GPU is available on this machine"
    elif accelerator == "mps" and not torch.backends.mps.is_available():
        missing = "MPS is not available on this machine"
    else:
        return
    raise ConfigError(
        f"trainer.accelerator={accelerator}: {missing}; run on the CPU with trainer=cpu, "
        "or let Lightning choose with trainer.accelerator=auto"
    )


def unknown_keys(node: DictConfig, path: str = "") -> List[str]:
    """``<path>: not a key of <schema>; allowed: ...`` for every key added (``+net.hiden=3``)
    to a block typed by a schema dataclass; Hydra refuses the same key without the ``+``."""
    kind = OmegaConf.get_type(node)
    allowed = {f.name for f in dataclasses.fields(kind)} if dataclasses.is_dataclass(kind) else None
    problems: List[str] = []
    for key, value in node.items_ex(resolve=False):
        if allowed is not None and key not in allowed:
            problems.append(f"{path}{key}: not a key of {kind.__name__}; allowed: {', '.join(sorted(allowed))}")
        elif isinstance(value, DictConfig):
            problems += unknown_keys(value, f"{path}{key}.")
    return problems


def validate_config(cfg: DictConfig, rules: Optional[Dict[str, Rule]] = None) -> None:
    """Raises :class:`ConfigError` naming every key of ``rules`` (default :data:`RULES`) whose
    value is not allowed and every key added to a typed block, one line each, and a GPU
    accelerator on a machine without one."""
    problems: List[str] = unknown_keys(cfg)
    for path, rule in (RULES if rules is None else rules).items():
        value = _value(cfg, path)
        if value is _ABSENT or rule.accepts(value):
            continue
        problems.append(f"{path}={value!r}: expected {rule.allowed}")
    if problems:
        raise ConfigError("\n".join(problems))
    if cfg.get("eval_only") and not cfg.get("ckpt_path"):
        raise ConfigError("eval_only=true needs ckpt_path=<the checkpoint to evaluate>")
    if cfg.get("ckpt_weights_only") and not cfg.get("ckpt_path"):
        raise ConfigError("ckpt_weights_only=true needs ckpt_path=<the checkpoint whose weights to load>")
    check_accelerator(cfg.get("trainer"))
