"""TensorBoard figures of what a spiking network does: spike rasters, voltage traces,
weight and firing-rate histograms. Works with any :class:`SpikingTask` (via ``record``)."""

from __future__ import annotations

from typing import Any, Dict, Optional

import pytorch_lightning as pl
import torch
from pytorch_lightning.loggers import TensorBoardLogger


def _tensorboard(trainer: pl.Trainer):
    for logger in trainer.loggers:
        if isinstance(logger, TensorBoardLogger):
            return logger.experiment
    return None


def raster_figure(spikes: torch.Tensor, title: str, max_neurons: int = 256):
    """Spike raster (neuron x time) of one sample; ``spikes`` is ``(T, ...)``."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    flat = spikes.flatten(1).float().cpu()
    active = flat.sum(0)
    order = torch.argsort(active, descending=True)[:max_neurons]  # the most active neurons
    shown = flat[:, order.sort().values]
    fig, ax = plt.subplots(figsize=(6, 4))
    t, n = torch.nonzero(shown, as_tuple=True)
    ax.scatter(t.numpy(), n.numpy(), s=4, marker="|", color="black")
    ax.set_xlim(-0.5, flat.shape[0] - 0.5)
    ax.set_ylim(-0.5, shown.shape[1] - 0.5)
    ax.set_xlabel("time step")
    ax.set_ylabel(f"neuron ({shown.shape[1]} most active of {flat.shape[1]})")
    ax.set_title(f"{title}: {int(flat.sum())} spikes")
    fig.tight_layout()
    return fig


def voltage_figure(voltages: Dict[str, torch.Tensor], max_traces: int = 10):
    """Voltage traces over time, one panel per entry; each tensor is ``(T, ...)`` of one sample."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(voltages), 1, figsize=(6, 2.5 * len(voltages)), squeeze=False)
    for ax, (name, v) in zip(axes[:, 0], voltages.items()):
        flat = v.flatten(1).float().cpu()[:, :max_traces]
        for k in range(flat.shape[1]):
            ax.plot(flat[:, k].numpy(), label=str(k), lw=1)
        ax.set_title(name)
        ax.set_xlabel("time step")
        ax.set_ylabel("v")
        if flat.shape[1] <= 10:
            ax.legend(fontsize=6, ncol=5, loc="upper left")
    fig.tight_layout()
    return fig


def _first_samples(batch: Any, n: int) -> Any:
    """The first ``n`` samples of a batch whose tensors are batch-first."""
    items = [b[:n] if isinstance(b, torch.Tensor) else b for b in batch]
    return type(batch)(*items) if hasattr(batch, "_fields") else type(batch)(items)


def _to_device(batch: Any, device: torch.device) -> Any:
    items = [b.to(device) if isinstance(b, torch.Tensor) else b for b in batch]
    return type(batch)(*items) if hasattr(batch, "_fields") else type(batch)(items)


class SpikeMonitor(pl.Callback):
    """After every ``every_n_epochs`` validation epochs, records one fixed validation batch
    and writes to TensorBoard: ``raster/<layer>`` (sample 0), ``voltages`` (figure), other
    recorded traces (``<kind>/<name>``), ``weights/<parameter>`` and ``firing_rate/<layer>``
    (per-neuron rate histograms), plus any figures the task's optional
    ``figures(batch) -> {tag: matplotlib figure}`` draws. A task whose batches are not
    batch-first picks its samples with ``select_samples(batch, n)``."""

    def __init__(self, every_n_epochs: int = 1, num_samples: int = 16):
        super().__init__()
        if every_n_epochs < 1 or num_samples < 1:
            raise ValueError(
                f"every_n_epochs and num_samples must be >= 1, got {every_n_epochs}, {num_samples}"
            )
        self.every_n_epochs = every_n_epochs
        self.num_samples = num_samples
        self._batch: Optional[Any] = None

    def _fixed_batch(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> Optional[Any]:
        if self._batch is None:
            loaders = trainer.val_dataloaders
            loader = loaders[0] if isinstance(loaders, (list, tuple)) else loaders
            if loader is None:
                return None
            batch = next(iter(loader))
            select = getattr(pl_module, "select_samples", _first_samples)
            self._batch = select(batch, self.num_samples)
        return _to_device(self._batch, pl_module.device)

    @torch.no_grad()
    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        writer = _tensorboard(trainer)
        if writer is None or trainer.sanity_checking or not trainer.is_global_zero:
            return
        if (trainer.current_epoch + 1) % self.every_n_epochs and not trainer.is_last_batch:
            return
        batch = self._fixed_batch(trainer, pl_module)
        if batch is None:
            return
        was_training = pl_module.training
        pl_module.eval()
        record = pl_module.record(batch)
        pl_module.train(was_training)
        step = trainer.global_step
        voltages = {}
        for key, value in record.items():
            kind, _, layer = key.partition("/")
            if kind == "spikes":
                writer.add_figure(f"raster/{layer}", raster_figure(value[:, 0], layer), step)
                rates = value.float().mean(dim=(0, 1)).flatten()  # per neuron, spikes per step
                writer.add_histogram(f"firing_rate/{layer}", rates, step)
            elif kind == "voltage":
                voltages[layer] = value[:, 0]
            else:  # other traces, e.g. adaptive thresholds
                writer.add_figure(f"{kind}/{layer}", voltage_figure({f"{kind}/{layer}": value[:, 0]}), step)
        if voltages:
            writer.add_figure("voltages", voltage_figure(voltages), step)
        for name, figure in getattr(pl_module, "figures", lambda b: {})(batch).items():
            writer.add_figure(name, figure, step)
        for name, param in pl_module.named_parameters():
            writer.add_histogram(f"weights/{name}", param.detach().float().cpu(), step)
