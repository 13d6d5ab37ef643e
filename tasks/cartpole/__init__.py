"""CartPole-v1 with spiking policies trained by policy gradients: ``python -m tasks.cartpole``.

``env=cartpole`` (default) observes all four state variables; ``env=cartpole_masked`` only
the cart position and the pole angle, which needs a recurrent policy (``net.recurrent``,
on by default there) whose state carries over between the steps of an episode.

Importing the package registers the typed blocks of ``conf/cartpole.yaml``: ``net`` (the
arguments of :class:`SpikingPolicy`, plus ``neuron`` and ``layers``:
:data:`~tasks.common.builders.NeuronSettings` for every spiking layer and per layer),
``data`` (:class:`CartPoleDataModule`), ``optimizer`` and ``scheduler`` (:mod:`tasks.common.schema`)."""

from tasks.cartpole.data import CartPoleDataModule
from tasks.cartpole.policy import DECODERS, READOUTS, SPIKING_LAYERS, SpikingPolicy
from tasks.common.builders import NeuronSettings, layer_settings
from tasks.common.module import OptimizerConfig, SchedulerConfig
from tasks.common.schema import register, schema

LAYERS = layer_settings("CartPoleLayers", SPIKING_LAYERS)
NET_KEYS = ("seq_length", "dt", "hidden", "gain", "recurrent", "readout", "decoder", "count_scale", "logit_scale",
            "recurrent_init", "carry_readout", "time_constants", "li", "value_scale")

register("cartpole", {
    "net": schema(SpikingPolicy, "CartPoleNet", NET_KEYS, rename={"li": "readout_p"},
                  choices={"readout": READOUTS, "decoder": DECODERS}, extra={"neuron": (NeuronSettings, NeuronSettings()),
                                                                         "layers": (LAYERS, LAYERS())}),
    "data": schema(CartPoleDataModule, "CartPoleData", ("env", "num_envs", "seed"), target=True),
    "optimizer": OptimizerConfig,
    "scheduler": SchedulerConfig,
})
