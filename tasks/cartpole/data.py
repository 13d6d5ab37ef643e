"""Rollouts as Lightning data: the vectorised environments live in :class:`CartPoleDataModule`;
its training dataloader is an :class:`RolloutDataset` (an ``IterableDataset``) that steps
them with the task's current policy and yields the task's training batches."""

from __future__ import annotations

from typing import Any, Callable, Iterator, Mapping, Optional

import pytorch_lightning as pl
from torch.utils.data import DataLoader, IterableDataset

from tasks.cartpole.env import RolloutCollector, env_arguments, make_envs


class RolloutDataset(IterableDataset):
    """Iterates ``batches(collector)``: the training batches made from fresh rollouts. It
    runs in the training process (``num_workers=0``), where the policy lives."""

    def __init__(self, collector: RolloutCollector, batches: Callable[[RolloutCollector], Iterator[Any]]):
        super().__init__()
        self.collector = collector
        self.batches = batches

    def __iter__(self) -> Iterator[Any]:
        return iter(self.batches(self.collector))


class CartPoleDataModule(pl.LightningDataModule):
    """``num_envs`` environments of ``env`` (a ``conf/env`` config: ``id``, ``observe``,
    ``vectorization_mode``), reset with ``seed`` once; the task attached to the trainer
    turns rollouts into batches (``task.training_batches``). The test dataloader holds a
    single item: ``test_step`` runs the greedy evaluation."""

    def __init__(self, env: Mapping[str, Any], num_envs: int = 8, seed: Optional[int] = None):
        super().__init__()
        if not isinstance(num_envs, int) or num_envs < 1:
            raise ValueError(f"num_envs must be a positive int, got {num_envs!r}")
        self.env_cfg = dict(env)
        self.num_envs = num_envs
        self.seed = seed
        self.collector: Optional[RolloutCollector] = None

    def setup(self, stage: Optional[str] = None) -> None:
        if stage in (None, "fit") and self.collector is None:
            envs = make_envs(num_envs=self.num_envs, **env_arguments(self.env_cfg))
            self.collector = RolloutCollector(envs, seed=self.seed)

    def teardown(self, stage: Optional[str] = None) -> None:
        if stage in (None, "fit") and self.collector is not None:
            self.collector.envs.close()
            self.collector = None

    def train_dataloader(self) -> DataLoader:
        if self.collector is None:
            self.setup("fit")
        task = self.trainer.lightning_module if self.trainer is not None else None
        if task is None or not hasattr(task, "training_batches"):
            raise RuntimeError("CartPoleDataModule needs a task with training_batches() attached to the trainer")
        return DataLoader(RolloutDataset(self.collector, task.training_batches), batch_size=None, num_workers=0)

    def transfer_batch_to_device(self, batch: Any, device: Any, dataloader_idx: int) -> Any:
        if getattr(device, "type", device) == "cpu":  # rollouts are on the CPU: skip Lightning's deep walk
            return batch
        return super().transfer_batch_to_device(batch, device, dataloader_idx)

    def test_dataloader(self) -> DataLoader:
        return DataLoader([0], batch_size=None)
