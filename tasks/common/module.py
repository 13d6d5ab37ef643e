"""The base LightningModule of every task: optimiser, scheduler, the HParams dashboard and a
hook for the spike monitor."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional

import pytorch_lightning as pl
import torch
from pytorch_lightning.loggers import TensorBoardLogger

from tasks.common.schema import plain_defaults

OPTIMIZERS = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD}
SCHEDULERS = ("none", "onecycle", "cosine", "step")
OptimizerName = enum.Enum("OptimizerName", {k: k for k in OPTIMIZERS}, module=__name__)
SchedulerName = enum.Enum("SchedulerName", {k: k for k in SCHEDULERS}, module=__name__)


@dataclass
class OptimizerConfig:
    """The ``optimizer`` block: ``OPTIMIZERS[name](parameters, lr=lr, weight_decay=weight_decay)``;
    trainable neuron parameters (``net.trainable``) in a group of their own with ``lr=neuron_lr``
    (``null``: ``lr``) and no weight decay (it would pull time constants to 0)."""

    name: OptimizerName = "adam"  # type: ignore[assignment]
    lr: float = 0.001
    weight_decay: float = 0.0
    neuron_lr: Optional[float] = None


def neuron_parameters(module: torch.nn.Module) -> List[torch.nn.Parameter]:
    """The trainable neuron parameters (``p_<name>``, from a layer's ``trainable=``) in ``module``."""
    return [getattr(m, "p_" + path.replace(".", "_")) for m in module.modules() for path in getattr(m, "_trainable", ())]


@dataclass
class SchedulerConfig:
    """The ``scheduler`` block: ``none``, ``onecycle`` or ``cosine`` over all steps (peak at
    ``optimizer.lr``), or ``step``: lr x ``gamma`` every ``step_size`` epochs."""

    name: SchedulerName = "none"  # type: ignore[assignment]
    step_size: Optional[int] = None
    gamma: Optional[float] = None


class SpikingTask(pl.LightningModule):
    """Base class: subclasses build their network, implement the ``*_step`` methods and
    :meth:`record`, and name the metric shown next to the hyperparameters (``hp_metric``).

    ``optimizer``: ``{name: adam|adamw|sgd, lr, weight_decay, ...}``;
    ``scheduler``: ``{name: none|onecycle|cosine|step, ...}`` (``step``: ``step_size``, ``gamma``
    in epochs)."""

    hp_metric: str = "val/acc"

    def __init__(self, optimizer: Mapping[str, Any], scheduler: Optional[Mapping[str, Any]] = None):
        super().__init__()
        # a key left out takes the schema's default (OptimizerConfig, SchedulerConfig: the one place)
        self.optimizer_cfg = {**plain_defaults(OptimizerConfig), **optimizer}
        self.scheduler_cfg = {**plain_defaults(SchedulerConfig), **(scheduler or {})}
        if self.optimizer_cfg["name"] not in OPTIMIZERS:
            raise ValueError(f"optimizer.name must be one of {', '.join(OPTIMIZERS)}, got {self.optimizer_cfg['name']!r}")
        if self.scheduler_cfg["name"] not in SCHEDULERS:
            raise ValueError(
                f"scheduler.name must be one of {', '.join(SCHEDULERS)}, got {self.scheduler_cfg['name']!r}"
            )

    # -- what subclasses provide -------------------------------------------------------------
    def record(self, batch: Any) -> Dict[str, torch.Tensor]:
        """Spikes ``spikes/<layer>`` and voltages ``voltage/<name>``, each ``(T, B, ...)``, of
        one batch, for the TensorBoard figures."""
        raise NotImplementedError

    def neuron_layers(self) -> Dict[str, torch.nn.Module]:
        """The spiking layers by the names ``net.layers.<name>`` sets (the health warnings use them)."""
        return {}

    def dashboard_hparams(self) -> Dict[str, Any]:
        """The curated hyperparameters shown in TensorBoard's HParams dashboard."""
        return {}

    # -- shared machinery --------------------------------------------------------------------
    def on_fit_start(self) -> None:
        hparams = self.dashboard_hparams()
        for logger in self.loggers:
            if isinstance(logger, TensorBoardLogger):
                logger.log_hyperparams(hparams, {self._hp_name(): 0.0})
            else:
                logger.log_hyperparams(hparams)

    def _hp_name(self) -> str:
        return "hp/" + self.hp_metric.replace("/", "_")

    def log_hp_metric(self, value: torch.Tensor) -> None:
        """Logs the value shown beside the hyperparameters (``hp/val_acc`` for ``val/acc``)."""
        self.log(self._hp_name(), value)

    def configure_optimizers(self):
        cfg = dict(self.optimizer_cfg)
        kind, neuron_lr = OPTIMIZERS[cfg.pop("name")], cfg.pop("neuron_lr")
        neuron = {id(p) for p in neuron_parameters(self)}
        groups = [{"params": [p for p in self.parameters() if id(p) not in neuron]}]
        if neuron:
            groups.append({"params": [p for p in self.parameters() if id(p) in neuron], "weight_decay": 0.0,
                           "lr": cfg["lr"] if neuron_lr is None else neuron_lr})
        optimizer = kind(groups, **cfg)
        sched = {k: v for k, v in self.scheduler_cfg.items() if v is not None}  # unset: the scheduler's default
        name = sched.pop("name")
        if name == "none":
            return optimizer
        if name == "onecycle":
            total = int(self.trainer.estimated_stepping_batches)
            scheduler = torch.optim.lr_scheduler.OneCycleLR(
                optimizer, max_lr=[group["lr"] for group in optimizer.param_groups], total_steps=total, **sched
            )
            return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
        if name == "cosine":
            total = int(self.trainer.estimated_stepping_batches)
            scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total, **sched)
            return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
        scheduler = torch.optim.lr_scheduler.StepLR(optimizer, **sched)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "epoch"}}
