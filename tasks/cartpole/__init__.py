"""CartPole-v1 with spiking policies trained by policy gradients: ``python -m tasks.cartpole``.

``env=cartpole`` (default) observes all four state variables; ``env=cartpole_masked`` only
the cart position and the pole angle, which needs a recurrent policy (``net.recurrent``,
on by default there) whose state carries over between the steps of an episode.

Importing the package registers the typed blocks of ``conf/cartpole.yaml``: ``net`` (the
arguments of :class:`SpikingPolicy`, plus ``neuron`` and ``layers``:
:data:`~tasks.common.builders.NeuronSettings` for every spiking layer and per layer),
``data`` (:class:`CartPoleDataModule`), ``env`` (:func:`~tasks.cartpole.env.make_envs`' arguments,
``name`` and ``obs_scale``), ``coding`` (:class:`ObservationCoding`), ``algo``
(:class:`~tasks.cartpole.task.AlgoConfig`), ``eval`` (:func:`~tasks.cartpole.env.evaluate`'s
``episodes`` and ``seed``, :class:`~tasks.cartpole.task.EvalSchedule`), ``optimizer`` and
``scheduler`` (:mod:`tasks.common.schema`)."""

import dataclasses
from typing import List

from tasks.cartpole.data import CartPoleDataModule
from tasks.cartpole.env import evaluate, make_envs
from tasks.cartpole.policy import CODINGS, DECODERS, READOUTS, SPIKING_LAYERS, ObservationCoding, SpikingPolicy
from tasks.cartpole.task import AlgoConfig, EvalSchedule
from tasks.common.builders import NeuronSettings, layer_settings
from tasks.common.module import OptimizerConfig, SchedulerConfig
from tasks.common.schema import REQUIRED, register, schema

LAYERS = layer_settings("CartPoleLayers", SPIKING_LAYERS)
NET_KEYS = ("seq_length", "dt", "hidden", "gain", "recurrent", "readout", "decoder", "count_scale", "logit_scale",
            "recurrent_init", "carry_readout", "time_constants", "li", "value_scale")

register("cartpole", {
    "net": schema(SpikingPolicy, "CartPoleNet", NET_KEYS, rename={"li": "readout_p"},
                  choices={"readout": READOUTS, "decoder": DECODERS}, extra={"neuron": (NeuronSettings, NeuronSettings()),
                                                                         "layers": (LAYERS, LAYERS())}),
    "data": schema(CartPoleDataModule, "CartPoleData", ("env", "num_envs", "seed"), target=True),
    "env": schema(make_envs, "CartPoleEnv", ("id", "observe", "vectorization_mode"), rename={"id": "env_id"},
                  extra={"name": (str, REQUIRED), "obs_scale": (List[float], REQUIRED)}),
    "coding": schema(ObservationCoding, "CartPoleCoding", ("name", "obs_scale", "population", "sigma"),
                     choices={"name": CODINGS}),
    "algo": AlgoConfig,
    "eval": dataclasses.make_dataclass("CartPoleEval", [], bases=(
        EvalSchedule, schema(evaluate, "CartPoleEvalEpisodes", ("episodes", "seed")))),
    "optimizer": OptimizerConfig,
    "scheduler": SchedulerConfig,
})
