"""MNIST classification with a convolutional SNN (see :mod:`tasks.mnist.model`)."""

from __future__ import annotations

from typing import Any, Dict, Mapping, Optional

import torch
import torch.nn.functional as F
import torchmetrics

import norse_core as snn
from tasks.common.arguments import check_float, check_int
from tasks.common.builders import build_encoder, build_neurons, find_setting, trainable_names
from tasks.common.data import translate_images
from tasks.common.errors import ConfigError
from tasks.common.module import SpikingTask
from tasks.mnist.model import ConvSNN, spiking_layers


class MNISTTask(SpikingTask):
    """Trains :class:`ConvSNN` with cross-entropy on the decoded readout voltages
    (``label_smoothing`` in ``[0, 1)`` mixes the targets with the uniform distribution).
    ``tta_shift > 0`` also tests with test-time augmentation: the class probabilities averaged
    over the image and its four copies moved by ``tta_shift`` px up, down, left and right
    (``test/acc_tta``; ``test/acc`` stays that of the images as they are)."""

    hp_metric = "val/acc"

    def __init__(
        self,
        model: Mapping[str, Any],
        encoder: Mapping[str, Any],
        net: Mapping[str, Any],
        optimizer: Mapping[str, Any],
        scheduler: Optional[Mapping[str, Any]] = None,
        seed: Optional[int] = None,
        label_smoothing: float = 0.0,
        tta_shift: int = 0,
    ):
        label_smoothing = check_float("label_smoothing", label_smoothing, 0.0, 1.0, below=True)
        tta_shift = check_int("tta_shift", tta_shift, 0, 4)  # px; 0: no test-time augmentation
        super().__init__(optimizer, scheduler)
        self.save_hyperparameters(logger=False)
        net = dict(net)  # to ConvSNN as it is (a key left out keeps its default), except neuron, layers, gain,
        # readout and trainable (null: the model's)
        layers = spiking_layers(net.get("channels"))
        neuron, layer_p = build_neurons(model, layers, net.pop("neuron", None), net.pop("layers", None))
        encoder_module, scale = build_encoder(encoder)
        net["gain"] = float(net["gain"]) * float(model["gain"])
        # a bad name is reported under the key that gave it: net.trainable, else the model's (plif)
        trainable_key = "model.trainable" if net.get("trainable") is None else "net.trainable"
        net["trainable"] = trainable_names(model, net.get("trainable"))
        if "readout" in net:
            net["readout_p"] = snn.LIParameters(**net.pop("readout"))
        try:
            self.net = ConvSNN(neuron, layer_p["conv1"], encoder=encoder_module, input_scale=scale,
                               layer_p=layer_p, **net)
        except ValueError as exc:
            if not str(exc).startswith("trainable must"):
                raise
            raise ConfigError(f"{trainable_key}{str(exc)[len('trainable'):]}") from exc
        self.train_acc = torchmetrics.Accuracy(task="multiclass", num_classes=10)
        self.val_acc = torchmetrics.Accuracy(task="multiclass", num_classes=10)
        self.test_acc = torchmetrics.Accuracy(task="multiclass", num_classes=10)
        self.test_acc_tta = torchmetrics.Accuracy(task="multiclass", num_classes=10)
        self.label_smoothing = float(label_smoothing)
        self.tta_shift = tta_shift

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images)[0]

    def neuron_layers(self) -> Dict[str, torch.nn.Module]:
        return {name: self.net.layer(name) for name in self.net.spiking_layers()}

    def training_step(self, batch, batch_idx):
        images, labels = batch
        logits, out = self.net(images)
        loss = F.cross_entropy(logits, labels, label_smoothing=self.label_smoothing)
        self.train_acc(logits, labels)
        self.log("train/loss", loss, prog_bar=True)
        self.log("train/acc", self.train_acc, prog_bar=True)
        for key, value in out.items():
            if key.startswith("rate/"):
                self.log(f"train/spike_rate/{key[5:]}", value)
        return loss

    def _evaluate(self, batch, stage: str, metric: torchmetrics.Metric):
        images, labels = batch
        logits, _ = self.net(images)
        metric(logits, labels)
        self.log(f"{stage}/loss", F.cross_entropy(logits, labels), prog_bar=stage == "val")
        self.log(f"{stage}/acc", metric, prog_bar=True)
        return logits

    def validation_step(self, batch, batch_idx):
        self._evaluate(batch, "val", self.val_acc)

    def on_validation_epoch_end(self) -> None:
        if not self.trainer.sanity_checking:
            self.log_hp_metric(self.val_acc.compute())

    def test_step(self, batch, batch_idx):
        logits = self._evaluate(batch, "test", self.test_acc)
        if self.tta_shift:
            images, labels = batch
            s = self.tta_shift
            views = [logits] + [self.net(translate_images(images, dy, dx))[0] for dy, dx in ((-s, 0), (s, 0), (0, -s), (0, s))]
            probs = torch.stack([view.float().softmax(-1) for view in views]).mean(0)
            self.test_acc_tta(probs, labels)
            self.log("test/acc_tta", self.test_acc_tta, prog_bar=True)

    @torch.no_grad()
    def record(self, batch) -> Dict[str, torch.Tensor]:
        images, _ = batch
        _, out = self.net(images, record=True)
        return {k: v for k, v in out.items() if not k.startswith("rate/")}

    def dashboard_hparams(self) -> Dict[str, Any]:
        h = self.hparams
        return {
            "model": h.model.get("name", "?"),
            "encoder": h.encoder.get("name", "?"),
            "surrogate": find_setting(h.model, "method", "none"),
            "alpha": float(find_setting(h.model, "alpha", 0.0)),
            "lr": float(h.optimizer["lr"]),
            "T": self.net.seq_length,
            "seed": -1 if h.seed is None else int(h.seed),
        }
