"""CartPole with a spiking policy trained by policy gradients (see :mod:`tasks.cartpole`).

One Lightning epoch drives the whole training: the data module's rollout dataset steps the
environments with the current policy and yields minibatches made by
:meth:`CartPoleTask.training_batches`; every ``eval.every`` rollouts the greedy policy plays
``eval.episodes`` fixed episodes, and training stops once they are solved.

Algorithms (``algo.name``):

* ``ppo``: fixed-length rollouts, GAE(lambda) advantages, clipped surrogate, several
  epochs of minibatches per rollout (the default).
* ``a2c``: fixed-length rollouts, GAE(lambda) advantages, one gradient step per rollout.
* ``reinforce``: one whole episode per environment, Monte-Carlo returns minus a learned
  baseline (the critic), one gradient step per batch of episodes.

``algo.aux_coef > 0`` adds an auxiliary loss: predict the change to the next observation
(standardised) from the hidden spike rates. Under partial observation that change is the
hidden velocity, so the loss teaches a recurrent policy's state to carry it.

Lightning fetches one batch ahead, so a rollout may be collected one optimiser step
before the previous rollout's last update; every loss weighs its policy gradient by the
probability ratio of the current and the collecting policy, which makes it exact
(for ppo, the ratio is clipped as usual).
"""

from __future__ import annotations

import copy
import dataclasses
import enum
import math
import time
from typing import Any, Dict, Iterator, List, Mapping, Optional

import numpy as np
import torch

import norse_core as snn
from tasks.cartpole.env import (
    SOLVED_RETURN,
    Actor,
    Evaluation,
    Rollout,
    RolloutCollector,
    advantages_and_returns,
    env_arguments,
    evaluate,
    make_envs,
)
from tasks.cartpole.policy import (  # noqa: F401 (spread_time_constants: re-exported)
    ObservationCoding,
    PolicyActor,
    SpikingPolicy,
    recurrent_layer_of,
    spread_time_constants,
)
from tasks.common.builders import build_encoder, build_neurons, find_setting, override_parameters  # noqa: F401
from tasks.common.builders import trainable_names
from tasks.common.module import SpikingTask

ALGORITHMS = ("ppo", "a2c", "reinforce")


class _Choice(str, enum.Enum):
    """A config choice that reads as its value where the config interpolates it (``--help``)."""

    def __str__(self) -> str:
        return str(self.value)


Algorithm = _Choice("Algorithm", {k: k for k in ALGORITHMS})


@dataclasses.dataclass
class AlgoConfig:
    """The ``algo`` block (its defaults: conf/cartpole.yaml's values). ``name``: ppo | a2c |
    reinforce; per rollout ``rollout_steps`` steps of each of ``num_envs`` environments; ppo:
    ``epochs`` passes of ``minibatches``, ratio clipped to ``1 +- clip``; advantages by GAE
    (``gamma``, ``gae_lambda``); loss ``policy + vf_coef*value - ent_coef*entropy + aux_coef*aux``;
    training stops after ``max_env_steps`` environment steps."""

    name: Algorithm = "ppo"  # type: ignore[assignment]
    num_envs: int = 8
    rollout_steps: int = 64
    epochs: int = 4
    minibatches: int = 4
    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip: float = 0.2
    vf_coef: float = 0.5
    ent_coef: float = 0.0
    aux_coef: float = 0.0
    normalize_advantages: bool = True
    max_env_steps: int = 500_000


@dataclasses.dataclass
class EvalSchedule:
    """When the ``eval`` block evaluates (besides :func:`~tasks.cartpole.env.evaluate`'s
    ``episodes`` and ``seed``): every ``every`` rollouts once the running average reaches
    ``min_running_avg``; stop at the first solved evaluation (``stop_when_solved``); an unsolved
    run keeps its best evaluated policy (``keep_best``); ``episode_figure``: a spike raster."""

    every: int = 5
    min_running_avg: float = 0.0
    stop_when_solved: bool = True
    keep_best: bool = True
    episode_figure: bool = True
PROGRESS_BAR = ("train/running_avg_return", "eval/avg_return_100")


def index_state(state: Any, index: torch.Tensor) -> Any:
    """The entries ``index`` (along the batch, dim 0) of every tensor in a nested state."""
    if state is None:
        return None
    if isinstance(state, torch.Tensor):
        return state[index]
    parts = [index_state(s, index) for s in state]
    return type(state)(*parts) if hasattr(state, "_fields") else type(state)(parts)


class CartPoleTask(SpikingTask):
    """Trains a :class:`~tasks.cartpole.policy.SpikingPolicy` on CartPole. ``algo`` and
    ``evaluation`` hold every key of the ``algo`` and ``eval`` blocks of conf/cartpole.yaml,
    the one place of their values."""

    hp_metric = "eval/avg_return_100"

    def __init__(
        self,
        model: Mapping[str, Any],
        encoder: Mapping[str, Any],
        env: Mapping[str, Any],
        net: Mapping[str, Any],
        coding: Mapping[str, Any],
        algo: Mapping[str, Any],
        evaluation: Mapping[str, Any],
        optimizer: Mapping[str, Any],
        scheduler: Optional[Mapping[str, Any]] = None,
        seed: Optional[int] = None,
    ):
        super().__init__(optimizer, scheduler)
        self.save_hyperparameters(logger=False)
        self.algo = dict(algo)
        if self.algo["name"] not in ALGORITHMS:
            raise ValueError(f"algo.name must be one of {', '.join(ALGORITHMS)}, got {self.algo['name']!r}")
        self.evaluation = dict(evaluation)
        self.env_cfg = dict(env)
        self.policy = self.build_policy(model, encoder, env, net, coding)
        self.actor: Actor = PolicyActor(self.policy)
        self._rollouts = 0
        self._end_of_rollout = False
        self._best: Optional[Evaluation] = None  # the best evaluation so far
        self._best_weights: Optional[Dict[str, torch.Tensor]] = None
        self._evaluated_at = -1  # global step of the last evaluation
        self._solved = False
        self._started = time.perf_counter()

    def neuron_layers(self) -> Dict[str, torch.nn.Module]:
        spiking = self.policy.readout_kind == "spike_count"
        return {"hidden": self.policy.hidden, **({"readout": self.policy.readout} if spiking else {})}

    @staticmethod
    def build_policy(model, encoder, env, net, coding) -> SpikingPolicy:
        """The policy of the configs: the ``net`` keys pass to :class:`SpikingPolicy` as they
        are (a key left out keeps the constructor's default), except ``neuron`` and ``layers``
        (overrides of the model's neuron parameters: every layer, one layer), ``li`` (the
        readout's parameters) and ``gain`` (times the model's ``gain``)."""
        net = dict(net)
        layers = ("hidden", "readout") if net.get("readout") == "spike_count" else ("hidden",)
        neuron, layer_p = build_neurons(model, layers, net.pop("neuron", None), net.pop("layers", None))
        if trainable_names(model, None):
            raise ValueError(f"model={model.get('name')}: trainable neuron parameters {list(model['trainable'])} "
                             "are not wired into the CartPole policy yet; use a model without them (model=lif)")
        if "li" in net:
            net["readout_p"] = snn.LIParameters(**net.pop("li"))
        net["gain"] = float(net["gain"]) * float(model["gain"])
        if model.get("recurrent_layer"):
            net["recurrent_layer"] = recurrent_layer_of(neuron, model["recurrent_layer"])
        encoder_module, scale = build_encoder(encoder)
        observe = env.get("observe")
        obs_size = len(observe) if observe is not None else 4
        coding = dict(coding)
        obs_scale = list(coding.pop("obs_scale"))
        return SpikingPolicy(obs_size, 2, neuron, layer_p["hidden"], ObservationCoding(obs_scale, **coding),
                             encoder=encoder_module, input_scale=scale, layer_p=layer_p, **net)

    # -- rollouts -> batches -----------------------------------------------------------------
    def training_batches(self, collector: RolloutCollector) -> Iterator[Dict[str, Any]]:
        """Collects rollouts with the current policy until ``algo.max_env_steps`` environment
        steps and yields the minibatches of each (called by the rollout dataset)."""
        a = self.algo
        name = a["name"]
        gamma = float(a["gamma"])
        lam = 1.0 if name == "reinforce" else float(a["gae_lambda"])
        epochs = int(a["epochs"]) if name == "ppo" else 1
        minibatches = int(a["minibatches"]) if name == "ppo" else 1
        max_steps = int(a["max_env_steps"])
        while collector.total_steps < max_steps:
            was_training = self.policy.training
            self.policy.eval()
            if name == "reinforce":
                rollout = collector.collect_episodes(self.actor)
            else:
                rollout = collector.collect(self.actor, int(a["rollout_steps"]))
            self.policy.train(was_training)
            self._rollouts += 1
            values = rollout.extras["value"]
            adv, ret = advantages_and_returns(
                rollout.rewards, values, rollout.terminated, rollout.truncated, rollout.valid, gamma, lam
            )
            stats = self._rollout_stats(rollout, collector)
            for epoch in range(epochs):
                parts = self._split(rollout, minibatches)
                for k, index in enumerate(parts):
                    batch = self._minibatch(rollout, adv, ret, index)
                    batch["end_of_rollout"] = epoch == epochs - 1 and k == len(parts) - 1
                    if stats is not None:
                        batch["stats"], stats = stats, None
                    yield batch

    def _split(self, rollout: Rollout, parts: int) -> List[torch.Tensor]:
        if self.policy.recurrent:  # whole sequences: split the environments
            n = rollout.actions.shape[1]
            return list(torch.randperm(n).chunk(min(parts, n)))
        flat = torch.nonzero(rollout.valid.flatten()).flatten()  # only real transitions
        return list(flat[torch.randperm(len(flat))].chunk(min(parts, max(len(flat), 1))))

    def _minibatch(self, rollout: Rollout, adv: torch.Tensor, ret: torch.Tensor, index: torch.Tensor) -> Dict[str, Any]:
        # the change to the next observation (after an episode's last step: to its final one)
        delta = rollout.obs[1:] - rollout.obs[:-1]
        fields = {"actions": rollout.actions, "logp": rollout.extras["logp"], "adv": adv, "ret": ret,
                  "valid": rollout.valid, "delta": delta}
        if self.policy.recurrent:  # (L, G, ...) sequences from the rollout's first state
            batch = {k: v[:, index] for k, v in fields.items()}
            batch["obs"] = rollout.obs[:-1, index]
            batch["starts"] = rollout.starts[:-1, index]
            batch["state"] = index_state(rollout.state, index)
            return batch
        steps = rollout.actions.shape[0] * rollout.actions.shape[1]
        batch = {k: v.reshape(steps, *v.shape[2:])[index].unsqueeze(0) for k, v in fields.items()}
        batch["obs"] = rollout.obs[:-1].reshape(steps, -1)[index].unsqueeze(0)
        batch["starts"], batch["state"] = None, None
        return batch

    def _rollout_stats(self, rollout: Rollout, collector: RolloutCollector) -> Dict[str, float]:
        stats = {
            "train/running_avg_return": collector.running_average,
            "train/env_steps": float(collector.total_steps),
            "train/episodes": float(collector.episodes),
            "train/rollouts": float(self._rollouts),
        }
        if rollout.episode_returns:
            stats["train/episode_return"] = float(np.mean(rollout.episode_returns))
            stats["train/episode_length"] = float(np.mean(rollout.episode_lengths))
        return {k: v for k, v in stats.items() if math.isfinite(v)}

    # -- training ------------------------------------------------------------------------------
    def training_step(self, batch: Dict[str, Any], batch_idx: int) -> torch.Tensor:
        a = self.algo
        logits, values, _, out = self.policy(batch["obs"], batch["state"], batch["starts"])
        valid = batch["valid"].float()
        count = valid.sum().clamp(min=1.0)

        def mean(x: torch.Tensor) -> torch.Tensor:
            return (x * valid).sum() / count

        adv = batch["adv"]
        if a["normalize_advantages"]:
            centred = adv - mean(adv)
            adv = centred / (mean(centred**2).sqrt() + 1e-8)
        logps = torch.log_softmax(logits, -1)
        logp = logps.gather(-1, batch["actions"].unsqueeze(-1)).squeeze(-1)
        ratio = torch.exp(logp - batch["logp"])
        if a["name"] == "ppo":
            clip = float(a["clip"])
            policy_loss = mean(-torch.min(ratio * adv, ratio.clamp(1 - clip, 1 + clip) * adv))
        else:
            policy_loss = mean(-ratio * adv)
        entropy = mean(-(logps.exp() * logps).sum(-1))
        value_loss = mean((values - batch["ret"]) ** 2)
        loss = policy_loss + float(a["vf_coef"]) * value_loss - float(a["ent_coef"]) * entropy
        aux_coef = float(a["aux_coef"])
        if aux_coef:  # predict the next observation's change (standardised): velocities, if hidden
            delta = batch["delta"]
            scale = delta[batch["valid"]].std(0, correction=0).clamp(min=1e-4)
            aux_loss = mean(((out["prediction"] - delta / scale) ** 2).mean(-1))
            loss = loss + aux_coef * aux_loss
        self._end_of_rollout = bool(batch.get("end_of_rollout", False))
        if batch.get("stats"):  # once per rollout
            self._log_now(batch["stats"])
        if self._should_log():
            with torch.no_grad():
                approx_kl = mean((ratio - 1) - torch.log(ratio))
                clipped = mean(((ratio - 1).abs() > float(a["clip"])).float())
            metrics = {
                "train/loss": loss.detach(),
                "train/policy_loss": policy_loss.detach(),
                "train/value_loss": value_loss.detach(),
                "train/entropy": entropy.detach(),
                "train/approx_kl": approx_kl,
                "train/clip_fraction": clipped,
            }
            if aux_coef:
                metrics["train/aux_loss"] = aux_loss.detach()
            metrics.update({f"train/spike_rate/{k[5:]}": v for k, v in out.items() if k.startswith("rate/")})
            self.log_dict(metrics)
        return loss

    def _log_now(self, metrics: Mapping[str, float]) -> None:
        """Logs ``metrics`` for this step whether or not it is one of the trainer's logging
        steps (``log_every_n_steps``): rollout statistics and evaluations are rare."""
        for key, value in metrics.items():
            self.log(key, float(value), logger=False, prog_bar=key in PROGRESS_BAR)
        step = self.global_step
        for logger in self.loggers:
            logger.log_metrics({k: float(v) for k, v in metrics.items()}, step=step)

    def _should_log(self) -> bool:
        """Whether Lightning logs this training step (``log_every_n_steps``; one optimizer step
        per batch here, so the step about to run is ``global_step + 1``)."""
        trainer = self.trainer
        return (self.global_step + 1) % trainer.log_every_n_steps == 0 or trainer.should_stop

    # -- evaluation ------------------------------------------------------------------------------
    def evaluate(self, episodes: Optional[int] = None) -> Evaluation:
        """The greedy policy on ``eval.episodes`` fixed episodes (``eval.seed``)."""
        was_training = self.policy.training
        self.policy.eval()
        try:
            return evaluate(
                self.actor,
                episodes=int(episodes or self.evaluation["episodes"]),
                seed=int(self.evaluation["seed"]),
                **self._env_kwargs(),
            )
        finally:
            self.policy.train(was_training)

    def _env_kwargs(self) -> Dict[str, Any]:
        """The ``make_envs``/``evaluate`` arguments of the ``env`` config."""
        return env_arguments(self.env_cfg)

    def _evaluation_metrics(self, result: Evaluation) -> Dict[str, float]:
        return {
            "eval/avg_return_100": result.mean,
            "eval/solved": float(result.solved),
            "eval/min_return": float(result.returns.min()),
            self._hp_name(): result.mean,
        }

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        if not self._end_of_rollout:
            return
        every = int(self.evaluation["every"])
        if every < 1 or self._rollouts % every:
            return
        threshold = float(self.evaluation["min_running_avg"])
        collector = self.trainer.datamodule.collector if self.trainer.datamodule is not None else None
        if collector is not None and not collector.running_average >= threshold:
            return
        self._run_evaluation()

    def _run_evaluation(self) -> Evaluation:
        result = self.evaluate()
        self._evaluated_at = self.global_step
        metrics = self._evaluation_metrics(result)
        datamodule = getattr(self.trainer, "datamodule", None)
        if datamodule is not None and getattr(datamodule, "collector", None) is not None:
            metrics["eval/env_steps"] = float(datamodule.collector.total_steps)
        metrics["eval/seconds"] = time.perf_counter() - self._started
        self._log_now(metrics)
        if self._best is None or result.mean > self._best.mean:
            self._best = result
            if self.evaluation["keep_best"]:
                self._best_weights = copy.deepcopy(self.policy.state_dict())
        if result.solved:
            self._solved = True
            if self.evaluation["stop_when_solved"]:
                self.trainer.should_stop = True
        return result

    def on_train_start(self) -> None:
        self._started = time.perf_counter()

    def on_train_epoch_end(self) -> None:
        """Evaluates the final policy (unless just done); with ``eval.keep_best`` a better
        earlier policy replaces it, so the checkpoint written next is the best one."""
        if self._evaluated_at != self.global_step:
            self._run_evaluation()
        if self._best_weights is not None and not self._solved:
            final = self.trainer.callback_metrics.get("eval/avg_return_100")
            if final is not None and float(final) < self._best.mean:
                self.policy.load_state_dict(self._best_weights)
                self._log_now(self._evaluation_metrics(self._best))  # greedy, fixed episodes: as evaluated then
        self._best_weights = None

    def on_train_end(self) -> None:
        self.log_episode_figure()

    # -- testing: the greedy evaluation of a (loaded) policy ----------------------------------------
    def test_step(self, batch: Any, batch_idx: int) -> None:
        metrics = self._evaluation_metrics(self.evaluate())
        for key, value in metrics.items():
            self.log(key, value, batch_size=1, prog_bar=key in PROGRESS_BAR)

    # -- figures ---------------------------------------------------------------------------------
    @torch.no_grad()
    def record(self, batch: Any = None) -> Dict[str, torch.Tensor]:
        """Spikes ``spikes/<layer>`` ``(steps*T, 1, neurons)`` of the greedy policy over one
        evaluation episode (the first of ``eval.seed``)."""
        envs = make_envs(num_envs=1, **self._env_kwargs())
        was_training = self.policy.training
        self.policy.eval()
        try:
            obs, _ = envs.reset(seed=int(self.evaluation["seed"]))
            state, recorded = None, []
            for _ in range(100_000):
                x = torch.as_tensor(obs, dtype=torch.float32, device=self.device).unsqueeze(0)
                logits, _, state, out = self.policy(x, state, None, record=True)
                recorded.append({k: v for k, v in out.items() if k.startswith("spikes/")})
                obs, _, terminated, truncated, _ = envs.step(logits[0].argmax(-1).cpu().numpy())
                if terminated[0] or truncated[0]:
                    break
        finally:
            envs.close()
            self.policy.train(was_training)
        return {k: torch.cat([r[k] for r in recorded]) for k in recorded[0]}

    def log_episode_figure(self) -> None:
        """TensorBoard: ``episode/raster/<layer>`` (spikes of one greedy episode) and
        ``episode/firing_rate/<layer>`` (per-neuron rate histograms)."""
        from pytorch_lightning.loggers import TensorBoardLogger

        writers = [lg.experiment for lg in self.loggers if isinstance(lg, TensorBoardLogger)]
        if not writers or not self.evaluation["episode_figure"]:
            return
        from tasks.common.monitoring import raster_figure

        record = self.record()
        steps = next(iter(record.values())).shape[0] // self.policy.seq_length
        for key, spikes in record.items():
            layer = key.split("/", 1)[1]
            title = f"{layer}, one greedy episode ({steps} steps x {self.policy.seq_length})"
            for writer in writers:
                writer.add_figure(f"episode/raster/{layer}", raster_figure(spikes[:, 0], title), self.global_step)
                writer.add_histogram(f"episode/firing_rate/{layer}", spikes.float().mean(dim=(0, 1)).flatten(),
                                     self.global_step)

    def dashboard_hparams(self) -> Dict[str, Any]:
        h = self.hparams
        return {
            "env": h.env.get("name", "?"),
            "model": h.model.get("name", "?"),
            "recurrent": self.policy.recurrent,
            "encoder": h.encoder.get("name", "?"),
            "coding": self.policy.coding.name,
            "readout": self.policy.readout_kind,
            "algo": self.algo["name"],
            "surrogate": find_setting(h.model, "method", "none"),
            "lr": float(h.optimizer["lr"]),
            "T": self.policy.seq_length,
            "hidden": self.policy.input_layer.out_features,
            "seed": -1 if h.seed is None else int(h.seed),
        }
