"""TensorBoard figures of what a spiking network does: spike rasters, voltage traces,
weight and firing-rate histograms. Works with any :class:`SpikingTask` (via ``record``)."""

from __future__ import annotations

import warnings
from typing import Any, Dict, List, Mapping, Optional, Tuple

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.loggers import TensorBoardLogger
from torch import nn


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


# -- reliability: resumable checkpoints, random states, non-finite values ---------------------
class ResumableModelCheckpoint(ModelCheckpoint):
    """``ModelCheckpoint`` that, when a run resumes from a checkpoint written into another
    directory (every run has its own output directory), still restores the best score and
    the best ``k`` checkpoints, so the resumed run keeps (and finally tests) the same best
    checkpoint as a run that was never interrupted. Files of the old directory are never
    deleted (Lightning only removes checkpoints inside its own ``dirpath``).

    With ``save_last=True`` it writes ``last.ckpt`` whenever it is triggered (every epoch),
    as Lightning did before 2.5, not only when a new best checkpoint was saved; so
    ``last.ckpt`` is always the latest state. ``save_last_at_train_end=False`` turns off
    Lightning's final ``last.ckpt`` of a callback that never saved during training (for a
    step checkpoint beside the epoch one, which would otherwise overwrite the epoch one's
    ``last.ckpt`` at the end of short runs)."""

    def __init__(self, *args: Any, save_last_at_train_end: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.save_last_at_train_end = bool(save_last_at_train_end)

    def _save_last_if_skipped(self, trainer: pl.Trainer) -> None:
        if (self.save_last and self._every_n_epochs >= 1 and (trainer.current_epoch + 1) % self._every_n_epochs == 0
                and not self._should_skip_saving_checkpoint(trainer)):
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().on_train_epoch_end(trainer, pl_module)
        if self._should_save_on_train_epoch_end(trainer):
            self._save_last_if_skipped(trainer)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().on_validation_end(trainer, pl_module)
        if not self._should_save_on_train_epoch_end(trainer):
            self._save_last_if_skipped(trainer)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.save_last_at_train_end:
            super().on_train_end(trainer, pl_module)

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
    import numpy as np

    kind, keys, pos, has_gauss, cached = state
    return (kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached)


class ResumeState(pl.Callback):
    """Makes a run resumed from a mid-epoch checkpoint continue exactly as the interrupted run
    would have:

    * saves the random number generators (torch, CUDA, Python, NumPy) in every checkpoint,
      as plain tensors and numbers (loadable with ``weights_only``), and restores them just
      before the first training batch of the resumed run (after the sanity check), so random
      encoders, dropout and the like draw the same numbers;
    * hands the saved position of the training loader (:class:`tasks.common.data.ResumableLoader`)
      back to it when Lightning has not: Lightning 2.6 restores loader states only when it
      builds the loader after loading the checkpoint, and a scheduler that asks for
      ``trainer.estimated_stepping_batches`` (one-cycle, cosine) builds it before."""

    def __init__(self) -> None:
        super().__init__()
        self._pending: Optional[Dict[str, Any]] = None

    def state_dict(self) -> Dict[str, Any]:
        import random

        import numpy as np

        state: Dict[str, Any] = {
            "torch": torch.get_rng_state(),
            "python": random.getstate(),
            "numpy": _numpy_state_to_torch(np.random.get_state()),
        }
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            state["cuda"] = torch.cuda.get_rng_state_all()
        return state

    def load_state_dict(self, state_dict: Dict[str, Any]) -> None:
        self._pending = dict(state_dict)

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        fit_loop = trainer.fit_loop
        pending = getattr(fit_loop, "_combined_loader_states_to_load", None)
        if pending and fit_loop.restarting:
            load = getattr(fit_loop, "_load_combined_loader_states", None)
            if callable(load):
                load()
            else:  # pragma: no cover - a Lightning version without the private hook
                warnings.warn("cannot restore the training loader's position (Lightning internals changed); "
                              "the resumed epoch starts over", RuntimeWarning)

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int):
        if self._pending is None:
            return
        import random

        import numpy as np

        state, self._pending = self._pending, None
        torch.set_rng_state(state["torch"])
        python = state["python"]
        random.setstate((python[0], tuple(python[1]), python[2]))
        np.random.set_state(_numpy_state_from_torch(state["numpy"]))
        if "cuda" in state and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda"])


class NonFiniteError(FloatingPointError):
    """Training produced a NaN or infinity (see :class:`NonFiniteCheck`)."""


def _leaves(value: Any, path: str = "output") -> List[Tuple[str, torch.Tensor]]:
    """``(path, tensor)`` for every floating-point tensor in a (nested) output or state."""
    if isinstance(value, torch.Tensor):
        return [(path, value)] if value.is_floating_point() else []
    if isinstance(value, tuple) and hasattr(value, "_fields"):  # a state
        return [leaf for name, v in zip(value._fields, value) for leaf in _leaves(v, f"{path}.{name}")]
    if isinstance(value, (list, tuple)):
        return [leaf for k, v in enumerate(value) for leaf in _leaves(v, f"{path}[{k}]")]
    if isinstance(value, Mapping):
        return [leaf for k, v in value.items() for leaf in _leaves(v, f"{path}[{k!r}]")]
    return []


def _quick_flag(tensors: List[torch.Tensor]) -> Optional[torch.Tensor]:
    """A 0-dim tensor that is non-finite if any of ``tensors`` holds a NaN or infinity: one
    sum per tensor, no device sync (a sum of huge finite values may overflow: a false alarm
    that the precise check afterwards clears)."""
    sums = [t.detach().sum(dtype=torch.float32 if t.element_size() < 4 else None).float() for t in tensors if t.numel()]
    return torch.stack(sums).sum() if sums else None


def _non_finite(tensor: torch.Tensor) -> bool:
    return not bool(torch.isfinite(tensor.detach()).all())


class NonFiniteCheck(pl.Callback):
    """Stops training at the first NaN or infinity, naming the step and the layer.

    Every training step: the loss is checked before the backward pass and, with
    ``check_states`` (default), the outputs and states of every neuron layer (one fused sum
    per tensor, one device sync per step). On a non-finite value the batch's forward runs
    again (no gradients, random generators and buffers put back) with hooks on every module,
    and :class:`NonFiniteError` names the global step, epoch and batch and the first module,
    in execution order, whose output or state is not finite: its qualified name (e.g.
    ``net.body.0``), its type, the non-finite parts (``output[0]``, ``output[1].v``, ...) and
    whether its inputs and parameters were finite. The optimizer never steps on non-finite
    gradients. For the operation that made the value, run with ``debug=anomaly``."""

    def __init__(self, check_states: bool = True) -> None:
        super().__init__()
        self.check_states = bool(check_states)
        self._handles: List[Any] = []
        self._mode = "off"  # "step": quick flags of neuron layers; "diagnose": every module, precisely
        self._flags: List[Tuple[str, torch.Tensor]] = []
        self._records: List[Tuple[str, nn.Module, List[str], List[bool], bool]] = []
        self._batch: Any = None
        self._batch_idx = 0

    # -- hooks ---------------------------------------------------------------------------
    def _hook(self, name: str, is_neuron: bool):
        def hook(module: nn.Module, inputs: Any, output: Any) -> None:
            if self._mode == "step" and is_neuron:
                flag = _quick_flag([t for _, t in _leaves(output)])
                if flag is not None:
                    self._flags.append((name, flag))
            elif self._mode == "diagnose":
                leaves = _leaves(output)
                bad = [_non_finite(t) for _, t in leaves]
                input_bad = any(_non_finite(t) for _, t in _leaves(inputs, "input"))
                self._records.append((name, module, [p for p, _ in leaves], bad, input_bad))

        return hook

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        from norse_core.module.snn import SNNCell

        self._remove()
        for name, module in pl_module.named_modules():
            is_neuron = isinstance(module, SNNCell)
            if name and (is_neuron or not any(True for _ in module.children())):
                self._handles.append(module.register_forward_hook(self._hook(name, is_neuron)))

    def _remove(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles, self._flags, self._records, self._mode = [], [], [], "off"

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._remove()

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        self._remove()

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int):
        self._flags = []
        self._mode = "step" if self.check_states else "off"
        self._batch, self._batch_idx = batch, batch_idx

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self._mode, self._flags, self._batch = "off", [], None

    # -- the check -----------------------------------------------------------------------
    def on_before_backward(self, trainer: pl.Trainer, pl_module: pl.LightningModule, loss: torch.Tensor) -> None:
        self._mode = "off"
        values = [loss.detach().float().sum()] + [flag for _, flag in self._flags]
        if bool(torch.isfinite(torch.stack([v.to(values[0].device) for v in values]).sum())):
            self._flags = []
            return  # the common case: one sync, nothing more
        loss_bad = _non_finite(loss)
        first = self._diagnose(pl_module)
        if not loss_bad and first is None:  # a finite sum overflowed: a false alarm
            self._flags = []
            return
        raise NonFiniteError(self._message(trainer, loss, loss_bad, first))

    def _diagnose(self, pl_module: pl.LightningModule) -> Optional[int]:
        """Runs the batch's forward again with every hook on (without gradients, logging or
        lasting side effects); the index of the first record with a non-finite output."""
        self._records = []
        if self._batch is None:
            return None
        rng = torch.get_rng_state()
        cuda_rng = torch.cuda.get_rng_state_all() if torch.cuda.is_available() and torch.cuda.is_initialized() else None
        buffers = {name: b.detach().clone() for name, b in pl_module.named_buffers()}
        log = pl_module.log
        pl_module.log = lambda *args, **kwargs: None  # type: ignore[method-assign]
        self._mode = "diagnose"
        try:
            with torch.no_grad():
                pl_module.training_step(self._batch, self._batch_idx)
        except Exception:  # noqa: BLE001 - the diagnosis must not hide the non-finite value
            pass
        finally:
            self._mode = "off"
            pl_module.log = log  # type: ignore[method-assign]
            with torch.no_grad():
                for name, b in pl_module.named_buffers():
                    if name in buffers:
                        b.copy_(buffers[name])
            torch.set_rng_state(rng)
            if cuda_rng is not None:
                torch.cuda.set_rng_state_all(cuda_rng)
        for k, (_, _, _, bad, _) in enumerate(self._records):
            if any(bad):
                return k
        return None

    def _message(self, trainer: pl.Trainer, loss: torch.Tensor, loss_bad: bool, first: Optional[int]) -> str:
        where = f"at global step {trainer.global_step} (epoch {trainer.current_epoch}, batch {self._batch_idx})"
        value = float(loss.detach().float().reshape(-1)[0]) if loss.numel() else float("nan")
        head = f"non-finite loss ({value}) {where}" if loss_bad else f"non-finite output or state {where}"
        batch_bad = self._batch is not None and any(_non_finite(t) for _, t in _leaves(self._batch, "batch"))
        if first is None:
            if batch_bad:
                detail = "the input batch is not finite"
            elif self._flags:
                detail = (f"layer {self._flags[0][0]!r} had a non-finite output or state, which running the batch "
                          "again did not reproduce")
            else:
                detail = "every module output and state was finite: the loss computation itself produced it"
            return f"{head}: {detail}."
        name, module, paths, bad, input_bad = self._records[first]
        bad_paths = [p for p, b in zip(paths, bad) if b]
        bad_params = [n for n, p in module.named_parameters() if _non_finite(p)]
        origin = "its input was already non-finite" if input_bad else "its inputs were finite"
        if bad_params:
            origin += f"; non-finite parameters: {', '.join(bad_params)}"
        if batch_bad:
            origin += "; the input batch itself is not finite"
        return (f"{head}: the first layer with a non-finite output or state is {name!r} "
                f"({type(module).__name__}; non-finite: {', '.join(bad_paths[:6])}); {origin}. "
                "Run with debug=anomaly to find the operation.")
