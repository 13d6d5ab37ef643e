"""The one entry point of every task: compose the config, build data, task, callbacks,
loggers and trainer, fit, test, and return the metric a sweep optimises.

``python -m tasks.<name> [overrides]`` calls :func:`main_for` ``(name)``."""

from __future__ import annotations

import datetime
import importlib
import json
import logging
import os
import platform
import shlex
import sys
import time
import warnings
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

import hydra
import pytorch_lightning as pl
import torch
from hydra.errors import CompactHydraException
from hydra.utils import get_class, instantiate
from omegaconf import DictConfig, OmegaConf

from tasks.common import CONFIG_DIR
from tasks.common.checkpoints import restore_checkpoint
from tasks.common.errors import ConfigError, RunError
from tasks.common.validation import validate_config

# pytorch_lightning's pytree helper uses an API that newer torch deprecates; the warning says
# nothing a user can act on (it is Lightning's to change), so runs do not print it.
warnings.filterwarnings("ignore", message=r".*LeafSpec.*is deprecated")

log = logging.getLogger(__name__)


def _instantiate_all(group: Optional[DictConfig]) -> List[Any]:
    if not group:
        return []
    return [instantiate(c) for c in group.values() if isinstance(c, DictConfig) and "_target_" in c]


def build_block(cfg: DictConfig, block: str) -> Any:
    """Instantiates ``cfg.<block>`` (``_target_`` and its arguments) with plain-container
    arguments (so hparams stay plain, a choice as its string). A ValueError or TypeError whose
    message starts with an argument's name (``batch_size must be ...``) becomes a
    :class:`ConfigError` naming the key's path (``data.batch_size must be ...``)."""
    kwargs = OmegaConf.to_container(cfg[block], resolve=True, enum_to_str=True)
    target = kwargs.pop("_target_")
    try:
        return get_class(target)(**kwargs)
    except (ValueError, TypeError) as exc:
        word = str(exc).split(" ", 1)[0].strip("'\"")
        # the block's own keys, then those of the blocks it receives (task.net is ${net})
        places = [(block, kwargs), *((k, v) for k, v in kwargs.items() if isinstance(v, dict))]
        path = next((f"{name}.{word}" for name, keys in places if word in keys), None)
        if path is None or isinstance(exc, RunError):
            raise
        raise ConfigError(f"{path}{str(exc)[len(word) + str(exc).index(word):]}") from exc


def build_task(cfg: DictConfig) -> pl.LightningModule:
    """Instantiates ``cfg.task`` (:func:`build_block`)."""
    return build_block(cfg, "task")


def _command_line() -> str:
    try:
        from hydra.core.hydra_config import HydraConfig

        overrides = list(HydraConfig.get().overrides.task)
    except ValueError:  # not running under @hydra.main (e.g. composed in tests)
        overrides = []
    return " ".join(["python -m", os.environ.get("NORSE_CORE_TASK_MODULE", "tasks.<task>"), *overrides])


def _experiment_choice() -> Optional[str]:
    """The ``experiment`` overlay the run composed (a default one too: MNIST's is mnist_plif_b64)."""
    try:
        from hydra.core.hydra_config import HydraConfig

        return HydraConfig.get().runtime.choices.get("experiment")
    except ValueError:  # not running under @hydra.main
        return None


class EpochTimer(pl.Callback):
    """Wall seconds of every training epoch (its validation included), in ``seconds``."""

    def __init__(self) -> None:
        self.seconds: List[float] = []
        self._start = 0.0

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._start = time.perf_counter()

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.seconds.append(time.perf_counter() - self._start)


def write_run_summary(cfg: DictConfig, metrics: Dict[str, float], seconds: float,
                      epoch_seconds: Sequence[float] = ()) -> Path:
    """Writes ``<output_dir>/metrics.json``: command, model, metrics, wall time (also per training
    epoch), machine and date, which ``scripts/results_table.py`` turns into the rows of docs/results.md."""
    path = Path(cfg.paths.output_dir) / "metrics.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    summary = {
        "task": cfg.get("task_name"),
        "command": _command_line(),
        "experiment": _experiment_choice(),
        "model": (cfg.get("model") or {}).get("name"),
        "metrics": metrics,
        "fit_and_test_seconds": round(seconds, 1),
        "epoch_seconds": [round(s, 1) for s in epoch_seconds],
        "date": datetime.date.today().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.system()}",
        "accelerator": str(cfg.trainer.get("accelerator")),
        "torch": torch.__version__,
        "python": sys.version.split()[0],
    }
    path.write_text(json.dumps(summary, indent=2))
    return path


def report_outputs(cfg: DictConfig, loggers: List[Any], metrics_path: Optional[Path] = None) -> List[str]:
    """Prints (to stdout) and logs where the run's outputs are: its directory, ``metrics_path``
    (when written) and the ``tensorboard`` command of each TensorBoard logger; returns the lines."""
    from pytorch_lightning.loggers import TensorBoardLogger

    lines = [f"run directory: {cfg.paths.output_dir}"]
    if metrics_path is not None:
        lines.append(f"metrics: {metrics_path}")
    for logger in loggers:
        if isinstance(logger, TensorBoardLogger):
            lines.append(f"view in TensorBoard: tensorboard --logdir {shlex.quote(os.path.normpath(logger.log_dir))}")
    log.info("outputs: %s", "; ".join(lines))  # the run's log file; the console gets the lines below
    print("\n".join(lines), flush=True)
    return lines


class ReportOutputsOnFailure(pl.Callback):
    """Reports where the outputs are (:func:`report_outputs`) when fitting or testing fails
    or is interrupted."""

    def __init__(self, cfg: DictConfig):
        self.cfg = cfg

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        if trainer.is_global_zero:
            report_outputs(self.cfg, trainer.loggers)


def train(cfg: DictConfig) -> Optional[float]:
    """Fits (and tests) the task described by ``cfg``; returns ``cfg.optimized_metric``. At
    the end, also after a failure in fitting or testing, prints where the outputs are."""
    validate_config(cfg)  # bad values and a missing GPU fail here, before any work
    started = time.perf_counter()
    if cfg.get("seed") is not None:
        pl.seed_everything(cfg.seed, workers=True)
    if cfg.get("threads"):
        torch.set_num_threads(int(cfg.threads))
    datamodule = build_block(cfg, "data")
    task = build_task(cfg)
    timer = EpochTimer()
    callbacks = [*_instantiate_all(cfg.get("callbacks")), ReportOutputsOnFailure(cfg), timer]
    loggers = _instantiate_all(cfg.get("logger"))
    trainer: pl.Trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False)

    log.info("output directory: %s", cfg.paths.output_dir)
    # safe loading only, unless ckpt_trusted=true; a file that is not a checkpoint, or one from
    # another model config, fails here naming what differs (ckpt_weights_only: weights only)
    weights_only = not cfg.get("ckpt_trusted", False)
    ckpt_path = restore_checkpoint(cfg.get("ckpt_path"), task, trusted=not weights_only,
                                   state_dict_only=bool(cfg.get("ckpt_weights_only", False)))
    if cfg.get("eval_only"):  # test the checkpoint ckpt_path, no training
        trainer.test(task, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=weights_only)
        metrics: Dict[str, Any] = dict(trainer.callback_metrics)
    else:
        trainer.fit(task, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=weights_only)
        metrics = dict(trainer.callback_metrics)

    if cfg.get("test", True) and not cfg.get("eval_only"):
        best = getattr(trainer.checkpoint_callback, "best_model_path", "")
        trainer.test(task, datamodule=datamodule, ckpt_path=best or None, weights_only=weights_only)
        metrics.update(trainer.callback_metrics)

    summary = {k: float(v) for k, v in metrics.items() if k.split("/")[0] in ("val", "test", "eval")}
    for key in sorted(summary):
        log.info("%s = %.4f", key, summary[key])
    if trainer.is_global_zero:
        path = write_run_summary(cfg, summary, time.perf_counter() - started, timer.seconds)
        report_outputs(cfg, trainer.loggers, path)
    name = cfg.get("optimized_metric")
    if name and name in metrics:
        return float(metrics[name])
    return None


class CommandLineError(CompactHydraException):
    """A :class:`RunError` as the command line shows it: its message, without a traceback."""


def main_for(config_name: str) -> Callable[[], Any]:
    """The Hydra command-line entry point of a task whose config is ``conf/<config_name>.yaml``."""

    os.environ.setdefault("NORSE_CORE_TASK_MODULE", f"tasks.{config_name}")
    importlib.import_module(f"tasks.{config_name}")  # registers the task's typed config blocks, if any

    @hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name=config_name)
    def main(cfg: DictConfig) -> Optional[float]:
        try:
            return train(cfg)
        except RunError as exc:  # a bad input: Hydra prints only this message, no traceback
            raise CommandLineError(f"{type(exc).__name__}: {exc}") from None

    return main
