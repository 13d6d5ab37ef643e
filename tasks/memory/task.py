"""Store/recall with a recurrent spiking network (Bellec et al. 2018).

Network: Poisson inputs ``(T, B, 4*population)`` -> one recurrent population of
``n_regular`` LIF and ``n_adaptive`` adaptive-threshold (LSNN) neurons -> linear ->
leaky-integrator readout of 2 classes. The class at a recall period is the readout voltage
averaged over that period; the loss is cross-entropy at recall periods only, plus a firing
rate regulariser ``reg_weight * mean((rate - target_rate)^2)`` (rates in Hz).

``model=lsnn``: the adaptive neurons have ``beta > 0`` (the regular ones ``beta = 0``);
``model=lif``: all neurons are plain recurrent LIF neurons.

``learning.name=bptt`` (default): backpropagation through time. ``learning.name=eprop``: e-prop
(:class:`norse_core.EProp`) with the learning signal of a cross-entropy at every recall step,
``(softmax(y^t) - onehot) / (recall steps * batch)``, and the regulariser's gradient from the
running rate; validation and test are the same as for BPTT.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any, Dict, Mapping, NamedTuple, Optional

import torch
import torch.nn.functional as F

import norse_core as snn
from tasks.common.builders import NeuronSettings, build_neurons, find_setting, layer_settings
from tasks.common.module import SpikingTask
from tasks.memory.data import StoreRecallBatch

RECURRENT = {"lsnn": snn.LSNNRecurrent, "lif": snn.LIFRecurrent}
LEARNING = ("bptt", "eprop")
SPIKING_LAYERS = ("recurrent",)
MemoryLayers = layer_settings("MemoryLayers", SPIKING_LAYERS)


class MemoryNet(NamedTuple):
    """The ``net`` block (the values of docs/results.md): ``n_regular + n_adaptive`` recurrent
    neurons, input and recurrent weights times ``input_scale``, ``recurrent_scale``; a readout
    with ``tau_mem_inv = readout_tau_mem_inv``; loss ``+ reg_weight * mean((rate - target_rate)^2)``;
    ``neuron``: the model's parameters changed where it has them (20 ms membrane, 1.2 s adaptation);
    ``layers``: the same per layer (one here: ``recurrent``)."""

    n_regular: int = 10
    n_adaptive: int = 10
    dt: float = 0.001
    input_scale: float = 1.0
    recurrent_scale: float = 0.5
    readout_tau_mem_inv: float = 50.0
    target_rate: float = 10.0
    reg_weight: float = 0.0001
    neuron: NeuronSettings = NeuronSettings(tau_mem_inv=50.0, tau_adapt_inv=0.8333, beta=1.8, v_th=0.5)
    layers: MemoryLayers = MemoryLayers()


class MemoryTask(SpikingTask):
    """Trains the store/recall network; see the module docstring. ``net``: the keys of
    :class:`MemoryNet` (a key left out keeps its default there)."""

    hp_metric = "val/recall_acc"

    def __init__(
        self,
        model: Mapping[str, Any],
        net: Mapping[str, Any],
        optimizer: Mapping[str, Any],
        scheduler: Optional[Mapping[str, Any]] = None,
        seed: Optional[int] = None,
        input_size: int = 20,
        learning: Mapping[str, Any] = MappingProxyType({"name": "bptt"}),
    ):
        learning = dict(learning)  # saved in the hyperparameters as a plain dict
        super().__init__(optimizer, scheduler)
        self.save_hyperparameters(logger=False)
        if learning.get("name") not in LEARNING:
            raise ValueError(f"learning.name must be one of {', '.join(LEARNING)}, got {learning.get('name')!r}")
        name = model.get("name")
        if name not in RECURRENT:
            raise ValueError(f"the memory task supports model={'|'.join(RECURRENT)}, got model={name}")
        net = MemoryNet(**net)
        self.n_regular, self.n_adaptive = int(net.n_regular), int(net.n_adaptive)
        hidden = self.n_regular + self.n_adaptive
        p = build_neurons(model, SPIKING_LAYERS, net.neuron, net.layers)[1]["recurrent"]
        if name == "lsnn":  # only the adaptive neurons adapt
            beta = torch.cat([torch.zeros(self.n_regular), torch.full((self.n_adaptive,), float(p.beta))])
            p = p._replace(beta=beta)
        dt = float(net.dt)
        self.recurrent = RECURRENT[name](input_size, hidden, p, dt=dt)
        with torch.no_grad():
            self.recurrent.input_weights.mul_(float(net.input_scale))
            self.recurrent.recurrent_weights.mul_(float(net.recurrent_scale))
        self.readout = torch.nn.Linear(hidden, 2)
        self.li = snn.LI(snn.LIParameters(tau_mem_inv=float(net.readout_tau_mem_inv)), dt=dt)
        self.target_rate = float(net.target_rate)
        self.reg_weight = float(net.reg_weight)
        self.dt = dt
        self.eprop: Optional[snn.EProp] = None
        if learning["name"] == "eprop":
            self.eprop = snn.EProp(
                self.recurrent, self.readout, self.li.p, feedback=learning["feedback"],
                update_every=learning["update_every"], on_update=self._online_update,
                chunk_size=learning.get("chunk_size", 128),
            )

    def neuron_layers(self) -> Dict[str, torch.nn.Module]:
        return {"recurrent": self.recurrent}

    def forward(self, spikes: torch.Tensor):
        """Returns ``(readout voltages (T, B, 2), hidden spikes (T, B, hidden), final state)``."""
        hidden, state = self.recurrent(spikes)
        voltages, _ = self.li(self.readout(hidden))
        return voltages, hidden, state

    def _losses(self, batch: StoreRecallBatch):
        voltages, hidden, _ = self(batch.spikes)
        mask = batch.recall_mask.unsqueeze(-1).to(voltages.dtype)  # (T, B, 1)
        logits = (voltages * mask).sum(0) / mask.sum(0).clamp_min(1)
        ce = F.cross_entropy(logits, batch.label)
        rates = hidden.mean(dim=(0, 1)) / self.dt  # Hz per neuron
        reg = ((rates - self.target_rate) ** 2).mean()
        acc = (logits.argmax(-1) == batch.label).float().mean()
        return ce, reg, acc, rates

    def training_step(self, batch: StoreRecallBatch, batch_idx: int):
        if self.eprop is not None:
            ce, reg, acc, rates, gradients = self._eprop_gradients(batch)
        else:
            ce, reg, acc, rates = self._losses(batch)
        loss = ce + self.reg_weight * reg
        self.log_dict({"train/loss": loss, "train/recall_acc": acc, "train/rate_hz": rates.mean()}, prog_bar=True)
        if self.eprop is None:
            return loss
        # Lightning zeroes the gradients after this step and backpropagates the loss returned:
        # a loss of the same value whose gradient is e-prop's (clipping, schedulers, precision
        # and gradient accumulation stay Lightning's).
        surrogate = sum((p * g).sum() for p, g in gradients)
        return loss.detach() + surrogate - surrogate.detach()

    def _eprop_gradients(self, batch: StoreRecallBatch):
        """Runs e-prop over the batch; returns the metrics of :meth:`_losses` (computed from the
        same forward pass) and ``[(parameter, e-prop gradient)]``; ``.grad`` is left as it was."""
        spikes, label = batch.spikes, batch.label
        steps, n = spikes.shape[:2]
        mask = batch.recall_mask.to(spikes.dtype)
        share = (mask / mask.sum(0).clamp_min(1)).unsqueeze(-1)  # (T, B, 1): each recall step's share of the average
        recall = mask.any(1)
        onehot = F.one_hot(label, 2).to(spikes.dtype)
        logits = spikes.new_zeros(n, 2)
        counts = spikes.new_zeros(self.n_regular + self.n_adaptive)
        scale = 2 * self.reg_weight / counts.numel() / (steps * n * self.dt)

        # per chunk of steps (EProp.run(per_chunk=True)): y and z are (K, B, .)
        def output_error(chunk: range, y: torch.Tensor) -> Optional[torch.Tensor]:
            if not recall[chunk.start:chunk.stop].any():
                return None
            weight = share[chunk.start:chunk.stop]
            logits.add_((weight * y).sum(0))
            exp = (y - y.amax(-1, keepdim=True)).exp()
            return (exp / exp.sum(-1, keepdim=True) - onehot) * (weight / n)

        def spike_error(chunk: range, z: torch.Tensor) -> torch.Tensor:
            running = counts + z.sum(1).cumsum(0)  # (K, hidden): spikes up to each step
            counts.copy_(running[-1])
            seen = torch.arange(chunk.start + 1, chunk.stop + 1, dtype=z.dtype, device=z.device).unsqueeze(-1)
            rate = running / (seen * n * self.dt)  # running estimate of the rate (Hz)
            return (scale * (rate - self.target_rate)).unsqueeze(1).expand_as(z)

        parameters = [p for p in self.parameters() if p.requires_grad]
        saved = [p.grad for p in parameters]
        for p in parameters:
            p.grad = None
        self._sequence_steps = steps
        self.eprop.run(spikes, output_error, spike_error, per_chunk=True)
        gradients = [(p, torch.zeros_like(p) if p.grad is None else p.grad) for p in parameters]
        for p, grad in zip(parameters, saved):
            p.grad = grad
        ce = F.cross_entropy(logits, label)
        rates = counts / (steps * n * self.dt)
        reg = ((rates - self.target_rate) ** 2).mean()
        acc = (logits.argmax(-1) == label).float().mean()
        return ce, reg, acc, rates, gradients

    def _online_update(self, step: int) -> None:
        """``learning.update_every=K``: an optimizer step (clipped as the trainer clips) after
        every K steps of the sequence; the last update of the batch is Lightning's own step."""
        if step == self._sequence_steps:
            return
        optimizer = self.optimizers()
        self.clip_gradients(optimizer)
        optimizer.optimizer.step()
        optimizer.optimizer.zero_grad()

    def validation_step(self, batch: StoreRecallBatch, batch_idx: int):
        ce, _, acc, rates = self._losses(batch)
        n = batch.label.shape[0]
        self.log_dict({"val/loss": ce, "val/recall_acc": acc, "val/rate_hz": rates.mean()}, batch_size=n, prog_bar=True)

    def on_validation_epoch_end(self) -> None:
        if not self.trainer.sanity_checking:
            self.log_hp_metric(self.trainer.callback_metrics["val/recall_acc"])

    def test_step(self, batch: StoreRecallBatch, batch_idx: int):
        ce, _, acc, rates = self._losses(batch)
        n = batch.label.shape[0]
        self.log_dict({"test/loss": ce, "test/recall_acc": acc, "test/rate_hz": rates.mean()}, batch_size=n)

    @torch.no_grad()
    def record(self, batch: StoreRecallBatch) -> Dict[str, torch.Tensor]:
        self.recurrent.record_states = True
        try:
            voltages, hidden, states = self(batch.spikes)
        finally:
            self.recurrent.record_states = False
        out = {"spikes/input": batch.spikes, "spikes/hidden": hidden, "voltage/readout": voltages}
        if hasattr(states, "b"):
            out["threshold/adaptive"] = states.b[..., self.n_regular:]
        return out

    @staticmethod
    def select_samples(batch: StoreRecallBatch, n: int) -> StoreRecallBatch:
        """The first ``n`` sequences (spikes and mask are time-major)."""
        return StoreRecallBatch(batch.spikes[:, :n], batch.recall_mask[:, :n], *(t[:n] for t in batch[2:]))

    def figures(self, batch: StoreRecallBatch) -> Dict[str, Any]:
        period_steps = batch.spikes.shape[0] // batch.bits.shape[1]
        population = batch.spikes.shape[-1] // 4
        return {"sequence": sequence_figure(batch, self.record(batch), period_steps, population)}

    def dashboard_hparams(self) -> Dict[str, Any]:
        h = self.hparams
        return {
            "model": h.model.get("name", "?"),
            "surrogate": find_setting(h.model, "method", "none"),
            "alpha": float(find_setting(h.model, "alpha", 0.0)),
            "lr": float(h.optimizer["lr"]),
            "n_adaptive": self.n_adaptive,
            "learning": h.learning["name"],
            "seed": -1 if h.seed is None else int(h.seed),
        }


def sequence_figure(batch: StoreRecallBatch, record: Dict[str, torch.Tensor], period_steps: int, population: int):
    """One sequence: input raster with STORE/RECALL periods marked, hidden raster, adaptive
    thresholds and the readout voltages."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    panels = ["input", "hidden", "readout"] + (["threshold"] if "threshold/adaptive" in record else [])
    fig, axes = plt.subplots(len(panels), 1, figsize=(8, 2.2 * len(panels)), sharex=True)
    store, recall = int(batch.store_period[0]), int(batch.recall_period[0])
    for ax in axes:
        ax.axvspan(store * period_steps, (store + 1) * period_steps, color="tab:green", alpha=0.15)
        ax.axvspan(recall * period_steps, (recall + 1) * period_steps, color="tab:red", alpha=0.15)
    for ax, key in zip(axes[:2], ("spikes/input", "spikes/hidden")):
        t, n = torch.nonzero(record[key][:, 0].cpu(), as_tuple=True)
        ax.scatter(t.numpy(), n.numpy(), s=1, marker="|", color="black")
        ax.set_ylabel(key.split("/")[1])
    axes[0].set_yticks([population * (k + 0.5) for k in range(4)], ["0", "1", "STORE", "RECALL"])
    axes[0].set_title(f"stored bit {int(batch.label[0])}: STORE (green) period {store}, RECALL (red) period {recall}")
    readout = record["voltage/readout"][:, 0].cpu()
    for k in range(readout.shape[1]):
        axes[2].plot(readout[:, k].numpy(), label=f"class {k}", lw=1)
    axes[2].legend(fontsize=7, loc="upper left")
    axes[2].set_ylabel("readout v")
    if "threshold/adaptive" in record:
        axes[3].plot(record["threshold/adaptive"][:, 0].cpu().numpy(), lw=0.8)
        axes[3].set_ylabel("threshold b")
    axes[-1].set_xlabel("time step")
    fig.tight_layout()
    return fig
