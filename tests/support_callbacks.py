"""Callbacks the reliability tests add to real runs (``+callbacks.<name>._target_=...``)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytorch_lightning as pl
import torch


class PauseAt(pl.Callback):
    """At the start of the training batch after ``step`` optimizer steps (so after the
    checkpoints of step ``step`` are written), touches ``marker`` and sleeps: the test
    then kills the process with SIGKILL at a known point, mid-epoch."""

    def __init__(self, step: int, marker: str, seconds: float = 600.0):
        self.step, self.marker, self.seconds = int(step), Path(marker), float(seconds)

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if trainer.global_step == self.step:
            self.marker.write_text(str(trainer.global_step))
            time.sleep(self.seconds)


class BatchTrace(pl.Callback):
    """Appends one JSON line per training batch to ``path``: the global step, a checksum of
    the batch and of the parameters before the step (to compare runs batch by batch)."""

    def __init__(self, path: str):
        self.path = Path(path)

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        x, y = batch[0], batch[1]
        params = sum(float(p.detach().double().sum()) for p in pl_module.parameters())
        line = {"step": trainer.global_step, "epoch": trainer.current_epoch, "batch_idx": batch_idx,
                "x": float(x.double().sum()), "y": y.tolist(), "params": params,
                "rng": float(torch.get_rng_state().double().sum())}
        with self.path.open("a") as fh:
            fh.write(json.dumps(line) + "\n")


class SnapshotAt(pl.Callback):
    """Copies ``<run>/checkpoints/last.ckpt`` to ``path`` at the start of the training batch
    after ``step`` optimizer steps: what a run killed right then would leave behind."""

    def __init__(self, step: int, path: str):
        self.step, self.path = int(step), Path(path)

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if trainer.global_step == self.step:
            import shutil

            shutil.copyfile(Path(trainer.checkpoint_callback.dirpath) / "last.ckpt", self.path)
