"""Store/recall memory task with adaptive spiking neurons: ``python -m tasks.memory``.

Importing the package registers the typed blocks of ``conf/memory.yaml``: ``net``
(:class:`~tasks.memory.task.MemoryNet`), ``data`` (the arguments of
:class:`~tasks.memory.data.StoreRecallDataModule` and the sequence settings of
:func:`~tasks.memory.data.store_recall_batch`), ``optimizer`` and ``scheduler``
(:mod:`tasks.common.schema`)."""

import dataclasses

from tasks.common.module import OptimizerConfig, SchedulerConfig
from tasks.common.schema import register, schema
from tasks.memory.data import StoreRecallDataModule, store_recall_batch
from tasks.memory.task import MemoryNet

SEQUENCE_KEYS = ("n_periods", "period_steps", "population", "data_rate", "command_rate", "min_delay", "max_delay",
                 "max_store_period", "dt")

register("memory", {
    "net": schema(MemoryNet, "MemoryNetConfig"),
    "data": dataclasses.make_dataclass("MemoryData", [], bases=(
        schema(store_recall_batch, "MemorySequences", SEQUENCE_KEYS),
        schema(StoreRecallDataModule, "MemoryDataModule", target=True))),
    "optimizer": OptimizerConfig,
    "scheduler": SchedulerConfig,
})
