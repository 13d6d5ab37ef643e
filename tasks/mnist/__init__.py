"""MNIST with a convolutional spiking network: ``python -m tasks.mnist``.

Importing the package registers the typed blocks of ``conf/mnist.yaml`` (``net``, ``data``,
``optimizer``, ``scheduler``): their keys, types and defaults are those of :class:`ConvSNN`
(plus ``neuron`` and ``layers``: :data:`~tasks.common.builders.NeuronSettings` for every
spiking layer and per layer), :class:`MNISTDataModule` and
the task's optimiser and schedule (:mod:`tasks.common.schema`)."""

from tasks.common.builders import TRAINABLE_PER, NeuronSettings, layer_settings
from tasks.common.module import OptimizerConfig, SchedulerConfig
from tasks.common.schema import register, schema
from tasks.mnist.data import MNISTDataModule
from tasks.mnist.model import DECODERS, SPIKING_LAYERS, ConvSNN

LAYERS = layer_settings("MNISTLayers", SPIKING_LAYERS)
NET_KEYS = ("seq_length", "channels", "hidden", "gain", "batch_norm", "decoder", "dt", "readout", "trainable",
            "trainable_per", "dropout")

register("mnist", {
    "net": schema(ConvSNN, "MNISTNet", NET_KEYS, rename={"readout": "readout_p"}, choices={"decoder": DECODERS, "trainable_per": TRAINABLE_PER},
                  extra={"neuron": (NeuronSettings, NeuronSettings()), "layers": (LAYERS, LAYERS())}),
    "data": schema(MNISTDataModule, "MNISTData", target=True),
    "optimizer": OptimizerConfig,
    "scheduler": SchedulerConfig,
})
