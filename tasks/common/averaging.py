"""Evaluation with an exponential moving average (EMA) of the weights: ``callbacks=ema``.

After optimizer step ``n`` (counting the updates of the average, from 0), for every parameter
and buffer (batch-norm statistics included): ``w_avg <- d w_avg + (1 - d) w`` with
``d = min(decay, (1 + n) / (10 + n))`` (the warm-up of TensorFlow's ExponentialMovingAverage:
early averages do not drag the initial weights along for thousands of steps; ``warmup=false``:
``d = decay``); the first update copies ``w``. Training goes on with ``w``; validation runs on
``w_avg``, so the best checkpoint is chosen by the average's metric. Checkpoints hold ``w_avg``
as their ``state_dict`` (what the test after fitting and ``eval_only=true`` load) and ``w``
under ``current_model_state``, from which a resumed run continues training exactly.
"""

from __future__ import annotations

import functools
from typing import Any, Dict, List, Optional

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import WeightAveraging
from pytorch_lightning.trainer.states import TrainerFn

from tasks.common.arguments import check_bool, check_float, check_int


@torch.no_grad()
def ema_update(averaged: List[torch.Tensor], current: List[torch.Tensor], num_averaged: torch.Tensor,
               decay: float, warmup: bool) -> None:
    """One EMA step of ``averaged`` toward ``current`` (tensors of one device and dtype), in place."""
    n = float(num_averaged)
    d = min(decay, (1.0 + n) / (10.0 + n)) if warmup else decay
    if averaged[0].is_floating_point():
        torch._foreach_lerp_(averaged, current, 1.0 - d)
    else:  # counters (batch norm's num_batches_tracked): the trained model's
        torch._foreach_copy_(averaged, current)


class EMA(WeightAveraging):
    """Lightning's weight averaging with the EMA above, from optimizer step ``start_step`` on;
    testing a checkpoint keeps its ``state_dict``, the averaged weights (Lightning's callback
    would reload the trained ones, ``current_model_state``, in the process that trained)."""

    def __init__(self, decay: float = 0.999, start_step: int = 0, warmup: bool = True):
        decay = check_float("decay", decay, 0.0, 1.0, below=True)  # the weight of the old average per step
        start_step = check_int("start_step", start_step, 0)  # the first optimizer step averaged
        warmup = check_bool("warmup", warmup)
        self.decay, self.start_step, self.warmup = decay, start_step, warmup
        super().__init__(use_buffers=True, multi_avg_fn=functools.partial(ema_update, decay=self.decay, warmup=warmup))

    def should_update(self, step_idx: Optional[int] = None, epoch_idx: Optional[int] = None) -> bool:
        return step_idx is not None and step_idx >= self.start_step

    def on_load_checkpoint(self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: Dict[str, Any]) -> None:
        if trainer.state.fn == TrainerFn.FITTING:  # resume: restore the average and the trained weights
            super().on_load_checkpoint(trainer, pl_module, checkpoint)
        # testing or validating: the module already holds the checkpoint's state_dict, the average

    def __repr__(self) -> str:
        return f"EMA(decay={self.decay}, start_step={self.start_step}, warmup={self.warmup})"
