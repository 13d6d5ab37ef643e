"""The one entry point of every task: compose the config, build data, task, callbacks,
loggers and trainer, fit, test, and return the metric a sweep optimises.

``python -m tasks.<name> [overrides]`` calls :func:`main_for` ``(name)``."""

from __future__ import annotations

import logging
from typing import Any, Callable, Dict, List, Optional

import hydra
import pytorch_lightning as pl
import torch
from hydra.utils import get_class, instantiate
from omegaconf import DictConfig, OmegaConf

from tasks.common import CONFIG_DIR

log = logging.getLogger(__name__)


def _instantiate_all(group: Optional[DictConfig]) -> List[Any]:
    if not group:
        return []
    return [instantiate(c) for c in group.values() if isinstance(c, DictConfig) and "_target_" in c]


def build_task(cfg: DictConfig) -> pl.LightningModule:
    """Instantiates ``cfg.task`` with plain-container arguments (so hparams stay plain)."""
    kwargs = OmegaConf.to_container(cfg.task, resolve=True)
    target = kwargs.pop("_target_")
    return get_class(target)(**kwargs)


def train(cfg: DictConfig) -> Optional[float]:
    """Fits (and tests) the task described by ``cfg``; returns ``cfg.optimized_metric``."""
    if cfg.get("seed") is not None:
        pl.seed_everything(cfg.seed, workers=True)
    if cfg.get("threads"):
        torch.set_num_threads(int(cfg.threads))
    datamodule = instantiate(cfg.data)
    task = build_task(cfg)
    callbacks = _instantiate_all(cfg.get("callbacks"))
    loggers = _instantiate_all(cfg.get("logger"))
    trainer: pl.Trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False)

    log.info("output directory: %s", cfg.paths.output_dir)
    trainer.fit(task, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"))
    metrics: Dict[str, Any] = dict(trainer.callback_metrics)

    if cfg.get("test", True):
        best = getattr(trainer.checkpoint_callback, "best_model_path", "")
        trainer.test(task, datamodule=datamodule, ckpt_path=best or None, weights_only=False)
        metrics.update(trainer.callback_metrics)

    summary = {k: float(v) for k, v in metrics.items() if k.split("/")[0] in ("val", "test")}
    for key in sorted(summary):
        log.info("%s = %.4f", key, summary[key])
    name = cfg.get("optimized_metric")
    if name and name in metrics:
        return float(metrics[name])
    return None


def main_for(config_name: str) -> Callable[[], Any]:
    """The Hydra command-line entry point of a task whose config is ``conf/<config_name>.yaml``."""

    @hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name=config_name)
    def main(cfg: DictConfig) -> Optional[float]:
        return train(cfg)

    return main
