"""Checkpoints a killed run resumes from, exactly: the callbacks that write them and restore
what Lightning's checkpoint does not (public Lightning API only).

``last.ckpt`` is written every epoch and every N training steps by two
:class:`ResumableModelCheckpoint` s with ``filename="last"``, ``monitor=None`` and
``save_top_k=1`` (Lightning's documented "keep the latest checkpoint"), beside the one that
keeps the best checkpoint; :class:`ResumeState` adds the random generators and the training
loader's position. Loading and checking checkpoints: :mod:`tasks.common.checkpoints`."""

from __future__ import annotations

import random
import warnings
from typing import Any, Dict, Optional

import numpy as np
import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import ModelCheckpoint


class ResumableModelCheckpoint(ModelCheckpoint):
    """``ModelCheckpoint`` that, when a run resumes from a checkpoint written into another
    directory (every run has its own output directory), still restores the best score and
    the best ``k`` checkpoints, so the resumed run keeps (and finally tests) the same best
    checkpoint as a run that was never interrupted. Files of the old directory are never
    deleted (Lightning only removes checkpoints inside its own ``dirpath``)."""

    def load_state_dict(self, state_dict: Dict[str, Any]) -> None:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="The dirpath has changed")
            super().load_state_dict(state_dict)
        if state_dict.get("dirpath", self.dirpath) != self.dirpath:
            self.best_model_score = state_dict.get("best_model_score", self.best_model_score)
            self.kth_best_model_path = state_dict.get("kth_best_model_path", self.kth_best_model_path)
            self.kth_value = state_dict.get("kth_value", self.kth_value)
            self.best_k_models = state_dict.get("best_k_models", self.best_k_models)


def _numpy_state_to_torch(state: Any) -> Any:
    kind, keys, pos, has_gauss, cached = state
    return (kind, torch.from_numpy(keys.astype("int64")), int(pos), int(has_gauss), float(cached))


def _numpy_state_from_torch(state: Any) -> Any:
    kind, keys, pos, has_gauss, cached = state
    return (kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached)


class ResumeState(pl.Callback):
    """Makes a run resumed from a mid-epoch checkpoint continue exactly as the interrupted run
    would have:

    * saves the random number generators (torch, CUDA, Python, NumPy) in every checkpoint,
      as plain tensors and numbers (loadable with ``weights_only``), and restores them just
      before the first training batch of the resumed run (after the sanity check), so random
      encoders, dropout and the like draw the same numbers;
    * saves the position of the training loader (its ``state_dict()``, e.g.
      :class:`tasks.common.data.ResumableLoader`) and hands it back at the start of the
      resumed training. Lightning does so itself only when it builds the loader after
      loading the checkpoint; a scheduler that asks for ``trainer.estimated_stepping_batches``
      (one-cycle, cosine) makes it build the loader first. Loading the same position twice
      before the first batch is harmless."""

    def __init__(self) -> None:
        super().__init__()
        self._trainer: Optional[pl.Trainer] = None
        self._pending: Optional[Dict[str, Any]] = None

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        self._trainer = trainer

    def _train_loader(self) -> Any:
        loader = getattr(self._trainer, "train_dataloader", None) if self._trainer is not None else None
        return loader if callable(getattr(loader, "state_dict", None)) else None

    def state_dict(self) -> Dict[str, Any]:
        state: Dict[str, Any] = {
            "torch": torch.get_rng_state(),
            "python": random.getstate(),
            "numpy": _numpy_state_to_torch(np.random.get_state()),
        }
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            state["cuda"] = torch.cuda.get_rng_state_all()
        loader = self._train_loader()
        if loader is not None:
            state["train_loader"] = loader.state_dict()
        return state

    def load_state_dict(self, state_dict: Dict[str, Any]) -> None:
        self._pending = dict(state_dict)

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        position = (self._pending or {}).pop("train_loader", None)
        loader = self._train_loader()
        if position is not None and callable(getattr(loader, "load_state_dict", None)):
            loader.load_state_dict(position)

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int):
        if self._pending is None:
            return
        state, self._pending = self._pending, None
        torch.set_rng_state(state["torch"])
        python = state["python"]
        random.setstate((python[0], tuple(python[1]), python[2]))
        np.random.set_state(_numpy_state_from_torch(state["numpy"]))
        if "cuda" in state and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda"])
