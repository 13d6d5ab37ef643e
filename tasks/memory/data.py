"""The store/recall task of Bellec et al. (2018), generated on the fly.

A sequence has ``n_periods`` periods of ``period_steps`` steps. Four input groups of
``population`` neurons each fire Poisson spikes:

- ``value 0`` / ``value 1`` (``data_rate`` Hz): every period shows one random bit;
- ``STORE`` (``command_rate`` Hz): in the store period, the bit shown is the one to remember;
- ``RECALL`` (``command_rate`` Hz): in the recall period, the network must report it.

The store period is drawn from ``0 .. max_store_period`` and the delay to the recall period
from ``min_delay .. max_delay`` periods (uniform; the default gives an expected delay of 6).
"""

from __future__ import annotations

from typing import Iterator, NamedTuple, Optional

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, IterableDataset

from tasks.common.arguments import check_int

VALUE0, VALUE1, STORE, RECALL = range(4)


class StoreRecallBatch(NamedTuple):
    """``spikes (T, B, 4*population)``, ``recall_mask (T, B)`` (True during the recall period),
    ``label (B,)`` (the stored bit), ``store_period (B,)``, ``recall_period (B,)``, ``bits (B, n_periods)``."""

    spikes: torch.Tensor
    recall_mask: torch.Tensor
    label: torch.Tensor
    store_period: torch.Tensor
    recall_period: torch.Tensor
    bits: torch.Tensor


def store_recall_batch(
    batch_size: int,
    n_periods: int = 12,
    period_steps: int = 200,
    population: int = 5,
    data_rate: float = 100.0,
    command_rate: float = 50.0,
    min_delay: int = 3,
    max_delay: int = 9,
    max_store_period: int = 2,
    dt: float = 0.001,
    generator: Optional[torch.Generator] = None,
) -> StoreRecallBatch:
    """One batch of store/recall sequences (see the module docstring)."""
    for name, value, minimum in (("batch_size", batch_size, 1), ("n_periods", n_periods, 2),
                                 ("period_steps", period_steps, 1), ("population", population, 1),
                                 ("min_delay", min_delay, 1), ("max_store_period", max_store_period, 0)):
        check_int(name, value, minimum)
    if max_delay < min_delay:
        raise ValueError(f"max_delay ({max_delay}) must be >= min_delay ({min_delay})")
    if max_store_period + max_delay > n_periods - 1:
        raise ValueError(
            f"max_store_period + max_delay = {max_store_period + max_delay} must be < n_periods = {n_periods}"
        )
    g = generator
    bits = torch.randint(0, 2, (batch_size, n_periods), generator=g)
    store = torch.randint(0, max_store_period + 1, (batch_size,), generator=g)
    recall = store + torch.randint(min_delay, max_delay + 1, (batch_size,), generator=g)
    periods = torch.arange(n_periods)
    rates = torch.zeros(n_periods, batch_size, 4)  # Hz per group and period
    rates[..., VALUE0] = (bits.T == 0) * data_rate
    rates[..., VALUE1] = (bits.T == 1) * data_rate
    rates[..., STORE] = (periods[:, None] == store[None, :]) * command_rate
    rates[..., RECALL] = (periods[:, None] == recall[None, :]) * command_rate
    # recall periods show no value: the answer must come from memory
    recall_now = (periods[:, None] == recall[None, :])
    rates[..., VALUE0] *= ~recall_now
    rates[..., VALUE1] *= ~recall_now
    per_step = rates.repeat_interleave(period_steps, dim=0).repeat_interleave(population, dim=-1)
    spikes = (torch.rand(per_step.shape, generator=g) < per_step * dt).float()
    recall_mask = recall_now.repeat_interleave(period_steps, dim=0)
    label = bits[torch.arange(batch_size), store]
    return StoreRecallBatch(spikes, recall_mask, label, store, recall, bits)


class StoreRecallStream(IterableDataset):
    """An endless (``batches`` per epoch) stream of freshly generated batches."""

    def __init__(self, batches: int, batch_size: int, seed: int, **task):
        super().__init__()
        self.batches, self.batch_size, self.seed, self.task = batches, batch_size, seed, task
        self._epoch = 0

    def __iter__(self) -> Iterator[StoreRecallBatch]:
        generator = torch.Generator().manual_seed(self.seed * 100_003 + self._epoch)
        self._epoch += 1
        for _ in range(self.batches):
            yield store_recall_batch(self.batch_size, generator=generator, **self.task)


class StoreRecallDataModule(pl.LightningDataModule):
    """Training batches generated on the fly from ``seed``; fixed held-out validation and
    test sets (``val_size``/``test_size`` sequences) from their own seeds."""

    def __init__(
        self,
        batch_size: int = 64,
        batches_per_epoch: int = 100,
        val_size: int = 256,
        test_size: int = 1024,
        seed: int = 0,
        **task,
    ):
        super().__init__()
        check_int("batch_size", batch_size, 1)
        check_int("batches_per_epoch", batches_per_epoch, 1)
        check_int("val_size", val_size, 1)
        check_int("test_size", test_size, 1)
        self.batch_size, self.batches_per_epoch = batch_size, batches_per_epoch
        self.val_size, self.test_size, self.seed, self.task = val_size, test_size, seed, task
        store_recall_batch(1, **task)  # validates the task settings now, not mid-training

    def _fixed(self, size: int, seed: int) -> list:
        generator = torch.Generator().manual_seed(seed)
        return [store_recall_batch(min(self.batch_size * 4, size - k), generator=generator, **self.task)
                for k in range(0, size, self.batch_size * 4)]

    def setup(self, stage: Optional[str] = None) -> None:
        self.train_stream = StoreRecallStream(self.batches_per_epoch, self.batch_size, self.seed, **self.task)
        self.val_batches = self._fixed(self.val_size, 1_000_000 + 7)
        self.test_batches = self._fixed(self.test_size, 2_000_000 + 11)

    def train_dataloader(self) -> DataLoader:
        return DataLoader(self.train_stream, batch_size=None)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.val_batches, batch_size=None)

    def test_dataloader(self) -> DataLoader:
        return DataLoader(self.test_batches, batch_size=None)
