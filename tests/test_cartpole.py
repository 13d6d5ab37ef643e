"""The CartPole task: environment plumbing (termination, truncation, the autoreset step),
the velocity mask, returns, recurrent state resets, evaluation of a fixed controller, and
short real runs through the shared runner."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra.errors import ConfigCompositionException
from omegaconf import OmegaConf

import norse_core as snn
from scripts import results_table
from tasks.cartpole.env import (
    POSITIONS_ONLY,
    SOLVED_RETURN,
    Actor,
    EpisodeTracker,
    FunctionActor,
    RolloutCollector,
    advantages_and_returns,
    discounted_returns,
    evaluate,
    make_envs,
)
from tasks.cartpole.policy import ObservationCoding, PolicyActor, SpikingPolicy, recurrent_layer_of
from tasks.cartpole.task import CartPoleTask, index_state, override_parameters, spread_time_constants
from tasks.common.runner import train
from tests.helpers import REPO, compose_task, event_tags

QUICK = ["threads=1", "algo.max_env_steps=1000", "algo.rollout_steps=32", "algo.num_envs=4", "eval.every=1",
         "eval.episodes=10"]


def balance(obs: torch.Tensor) -> torch.Tensor:
    """A fixed linear controller that keeps the pole up for all 500 steps: push towards
    where the pole falls, with a little cart-position and cart-velocity feedback."""
    x, x_dot, theta, theta_dot = obs.unbind(-1)
    return ((theta + 0.5 * theta_dot + 0.01 * x + 0.1 * x_dot) > 0).long()


def push_right(obs: torch.Tensor) -> torch.Tensor:
    return torch.ones(obs.shape[0], dtype=torch.long)


class Recording(Actor):
    """Pushes right and records what it was given."""

    def __init__(self):
        self.starts = []

    def act(self, obs, state, starts, greedy):
        self.starts.append(starts.clone())
        return torch.ones(obs.shape[0], dtype=torch.long), None, {"value": obs[:, 0] * 0 + 1.0}


# -- environment plumbing -----------------------------------------------------------------------
def test_episode_tracker_masks_the_autoreset_step():
    tracker = EpisodeTracker(2)
    assert tracker.starts.all()
    f, t = np.array([False, False]), np.array([True, False])
    ones = np.ones(2)
    assert tracker.step(ones, f, f).all()
    assert not tracker.starts.any()
    valid = tracker.step(ones, t, f)  # env 0 terminates
    assert valid.all() and tracker.needs_reset.tolist() == [True, False]
    valid = tracker.step(np.array([0.0, 1.0]), f, np.array([False, True]))  # env 0: autoreset; env 1 truncated
    assert valid.tolist() == [False, True]
    assert tracker.starts.tolist() == [True, False]  # env 0 now shows its new episode's first observation
    valid = tracker.step(ones, f, f)  # env 1: autoreset
    assert valid.tolist() == [True, False] and tracker.starts.tolist() == [False, True]
    finished = tracker.drain()
    assert finished["returns"] == [2.0, 3.0] and finished["lengths"] == [2, 3]


def test_rollout_masks_termination_truncation_and_autoreset():
    envs = make_envs(num_envs=2, max_episode_steps=5)
    collector = RolloutCollector(envs, seed=0)
    actor = Recording()
    rollout = collector.collect(actor, 13)
    # pushing right from the start: no episode terminates within 5 steps; all are truncated
    assert rollout.truncated[4].all() and not rollout.terminated.any()
    assert (~rollout.valid[5]).all(), "the step after the time limit is the autoreset step"
    assert (rollout.rewards[5] == 0).all()
    assert rollout.valid[:5].all() and rollout.valid[6:11].all() and (~rollout.valid[11]).all()
    assert rollout.starts[0].all() and rollout.starts[6].all() and rollout.starts[12].all()
    assert not rollout.starts[1:6].any() and not rollout.starts[7:12].any()
    # the autoreset row holds the truncated episode's last observation, the row after a fresh one
    assert rollout.obs[6, :, 0].abs().max() <= 0.05
    assert rollout.episode_returns == [5.0, 5.0, 5.0, 5.0]
    assert collector.total_steps == 11 * 2
    # the next rollout continues: its first row is not a start, state and obs carry over
    more = collector.collect(actor, 3)
    assert not more.starts[0].any()
    assert torch.equal(more.obs[0], rollout.obs[-1])
    envs.close()


def test_terminated_episodes_end_early_and_are_masked():
    envs = make_envs(num_envs=3)
    rollout = RolloutCollector(envs, seed=1).collect(FunctionActor(push_right), 40)
    term = rollout.terminated
    assert term.any(), "pushing right always drops the pole within 40 steps"
    t, k = [int(i) for i in torch.nonzero(term)[0]]
    assert not rollout.valid[t + 1, k] and rollout.rewards[t + 1, k] == 0 and rollout.starts[t + 2, k]
    # valid transitions: one reward each; the returns of finished episodes add up to them
    assert rollout.rewards[rollout.valid].eq(1).all()
    envs.close()


def test_collect_episodes_keeps_one_whole_episode_per_environment():
    envs = make_envs(num_envs=4)
    rollout = RolloutCollector(envs, seed=2).collect_episodes(FunctionActor(push_right))
    ends = (rollout.terminated | rollout.truncated) & rollout.valid
    assert ends.sum(0).tolist() == [1, 1, 1, 1]
    lengths = rollout.valid.sum(0)
    assert rollout.episode_lengths == lengths.tolist()
    assert rollout.episode_returns == [float(x) for x in lengths]
    last = torch.nonzero(ends.T)[:, 1]
    for k in range(4):  # nothing counts after the episode's end
        assert not rollout.valid[last[k] + 1:, k].any()
    envs.close()


def test_velocity_mask_keeps_positions_only():
    full = make_envs(num_envs=3)
    masked = make_envs(num_envs=3, observe=POSITIONS_ONLY)
    assert masked.single_observation_space.shape == (2,) and masked.observation_space.shape == (3, 2)
    a, _ = full.reset(seed=5)
    b, _ = masked.reset(seed=5)
    np.testing.assert_array_equal(b, a[:, [0, 2]])
    for _ in range(30):
        action = np.array([0, 1, 1])
        a, ra, ta, ua, _ = full.step(action)
        b, rb, tb, ub, _ = masked.step(action)
        np.testing.assert_array_equal(b, a[:, [0, 2]])
        np.testing.assert_array_equal(ta, tb)
        assert masked.single_observation_space.contains(b[0])
    full.close(), masked.close()
    with pytest.raises(ValueError, match="observe"):
        make_envs(num_envs=1, observe=[4])


# -- returns and advantages -----------------------------------------------------------------------
def test_discounted_returns_restart_after_done():
    rewards = torch.ones(4, 1)
    dones = torch.tensor([[False], [True], [False], [False]])
    returns = discounted_returns(rewards, dones, 0.5)
    assert returns.flatten().tolist() == [1.5, 1.0, 1.5, 1.0]
    returns = discounted_returns(rewards, dones, 0.5, bootstrap=torch.tensor([4.0]))
    assert returns.flatten().tolist() == [1.5, 1.0, 2.5, 3.0]
    # Monte-Carlo returns (REINFORCE) are the GAE returns with lam = 1 and no baseline
    valid = torch.ones(4, 1, dtype=torch.bool)
    _, mc = advantages_and_returns(rewards, torch.zeros(5, 1), dones, torch.zeros_like(dones), valid, 0.5, 1.0)
    assert torch.equal(mc, discounted_returns(rewards, dones, 0.5))


def test_advantages_bootstrap_truncation_but_not_termination():
    # env 0 terminates at step 1, env 1 is truncated at step 1; row 2 is the autoreset row
    rewards = torch.tensor([[1.0, 1.0], [1.0, 1.0], [0.0, 0.0], [1.0, 1.0]])
    values = torch.tensor([[2.0, 2.0], [1.0, 1.0], [10.0, 10.0], [3.0, 3.0], [5.0, 5.0]])
    terminated = torch.tensor([[False, False], [True, False], [False, False], [False, False]])
    truncated = torch.tensor([[False, False], [False, True], [False, False], [False, False]])
    valid = torch.tensor([[True, True], [True, True], [False, False], [True, True]])
    gamma = 0.9
    adv, ret = advantages_and_returns(rewards, values, terminated, truncated, valid, gamma, lam=1.0)
    # terminated: return 1 + 1 (no bootstrap); truncated: 1 + 0.9 * (1 + 0.9 * V(last obs) = 10)
    assert ret[:, 0].tolist() == pytest.approx([1 + gamma * 1, 1, 0, 1 + gamma * 5])
    assert ret[:, 1].tolist() == pytest.approx([1 + gamma * (1 + gamma * 10), 1 + gamma * 10, 0, 1 + gamma * 5])
    assert adv[2].tolist() == [0.0, 0.0], "the autoreset row carries no advantage"
    assert torch.allclose(adv[[0, 1, 3]], (ret - values[:-1])[[0, 1, 3]])
    # lam = 0: one-step TD errors
    adv0, _ = advantages_and_returns(rewards, values, terminated, truncated, valid, gamma, lam=0.0)
    assert adv0[0, 0] == pytest.approx(1 + gamma * 1 - 2) and adv0[1, 0] == pytest.approx(1 - 1)
    assert adv0[1, 1] == pytest.approx(1 + gamma * 10 - 1)


# -- policies -------------------------------------------------------------------------------------
def _policy(recurrent: bool, model: str = "lif", coding: str = "population", encoder=True, seed: int = 0):
    torch.manual_seed(seed)
    if model == "lsnn":
        neuron, p = snn.LSNN, snn.LSNNParameters(tau_adapt_inv=20.0)
    else:
        neuron, p = snn.LIF, snn.LIFParameters()
    enc = snn.ConstantCurrentLIFEncoder(4, snn.LIFParameters(tau_mem_inv=500.0)) if encoder else None
    return SpikingPolicy(2, 2, neuron, p, ObservationCoding([2.4, 0.21], coding, 6), encoder=enc, input_scale=5.0,
                         seq_length=4, hidden=16, recurrent=recurrent, gain=3.0)


def test_observation_codings():
    coding = ObservationCoding([2.0, 0.5], "signed")
    out = coding(torch.tensor([[1.0, -0.25]]))
    assert out.tolist() == [[0.5, 0.0, 0.0, 0.5]] and coding.size == 4
    pop = ObservationCoding([1.0], "population", population=5)
    code = pop(torch.tensor([[-1.0], [0.0], [0.5], [3.0]]))
    assert code.shape == (4, 5) and pop.size == 5
    assert code.argmax(-1).tolist() == [0, 2, 3, 4]  # the centre nearest the (clamped) value
    assert code.max() == pytest.approx(1.0)


def test_recurrent_layers_follow_the_model():
    assert recurrent_layer_of(snn.LIF) is snn.LIFRecurrent
    assert recurrent_layer_of(snn.LSNN) is snn.LSNNRecurrent
    assert recurrent_layer_of(snn.LIF, "norse_core.IAFRecurrent") is snn.IAFRecurrent
    with pytest.raises(ValueError, match="no recurrent variant"):
        recurrent_layer_of(snn.LIFBox)


@pytest.mark.parametrize("model", ["lif", "lsnn"])
def test_recurrent_state_carries_within_and_resets_between_episodes(model):
    policy = _policy(recurrent=True, model=model)
    obs = torch.randn(12, 3, 2) * 0.5
    starts = torch.zeros(12, 3, dtype=torch.bool)
    starts[0] = True
    starts[7, 1] = True  # env 1 starts a new episode at step 7
    logits, values, state, _ = policy(obs, None, starts)
    # env 1 from step 7 on equals a fresh run on its new episode alone
    fresh, fresh_values, _, _ = policy(obs[7:, 1:2], None, None)
    assert torch.allclose(logits[7:, 1:2], fresh, atol=1e-6) and torch.allclose(values[7:, 1:2], fresh_values)
    # ... while envs 0 and 2 carry their state: a fresh start there gives other outputs
    other, _, _, _ = policy(obs[7:, [0, 2]], None, None)
    assert not torch.allclose(logits[7:, [0, 2]], other)
    # step by step (as in the rollouts) equals the whole sequence (as in training)
    state, stepped = None, []
    for t in range(12):
        out, _, state, _ = policy(obs[t:t + 1], state, starts[t:t + 1])
        stepped.append(out)
    assert torch.allclose(torch.cat(stepped), logits, atol=1e-5)
    # reset_state: exactly the initial state where an episode starts
    _, _, state, _ = policy(obs, None, starts)
    reset = policy.reset_state(state, torch.tensor([False, True, False]))
    initial = policy.hidden.initial_state(torch.zeros(3, policy.hidden.input_size))
    for now, then, init in zip(reset[0], state[0], initial):
        assert torch.equal(now[1], init[1]) and torch.equal(now[[0, 2]], then[[0, 2]])
    assert policy.reset_state(state, torch.ones(3, dtype=torch.bool)) is None


def test_feed_forward_policy_has_no_memory():
    policy = _policy(recurrent=False)
    obs = torch.randn(6, 3, 2)
    logits, values, state, out = policy(obs, None, None, record=True)
    assert state is None and logits.shape == (6, 3, 2) and values.shape == (6, 3)
    single, _, _, _ = policy(obs[4:5], None, None)
    assert torch.allclose(single, logits[4:5], atol=1e-6)
    assert out["spikes/hidden"].shape == (6 * 4, 3, 16) and out["spikes/encoder"].shape == (6 * 4, 3, 12)
    assert 0.0 <= float(out["rate/hidden"]) <= 1.0


def test_rollout_replay_reproduces_the_collecting_policy():
    """The training batches see the log-probabilities the rollout recorded (PPO ratio 1)."""
    for recurrent in (False, True):
        policy = _policy(recurrent=recurrent)
        envs = make_envs(num_envs=3, observe=POSITIONS_ONLY, max_episode_steps=9)
        collector = RolloutCollector(envs, seed=3)
        collector.collect(PolicyActor(policy), 5)
        rollout = collector.collect(PolicyActor(policy), 20)
        logits, values, _, _ = policy(rollout.obs[:-1], rollout.state, rollout.starts[:-1])
        logp = torch.log_softmax(logits, -1).gather(-1, rollout.actions.unsqueeze(-1)).squeeze(-1)
        assert torch.allclose(logp, rollout.extras["logp"], atol=1e-5)
        assert torch.allclose(values, rollout.extras["value"][:-1], atol=1e-5)
        envs.close()


def test_neuron_parameter_overrides_and_time_constant_spread():
    p = override_parameters(snn.LSNNParameters(), {"tau_adapt_inv": 50.0, "no_such_field": 1.0})
    assert p.tau_adapt_inv == 50.0 and p.tau_mem_inv == 100.0
    nested = override_parameters(snn.LIFRefracParameters(), {"tau_mem_inv": 20.0})
    assert nested.lif.tau_mem_inv == 20.0
    spread = spread_time_constants([10.0, 500.0], 16, 0.001)
    assert spread["tau_mem_inv"][0] == pytest.approx(10.0) and spread["tau_mem_inv"][-1] == pytest.approx(500.0)
    assert (spread["tau_syn_inv"] <= 500.0).all() and spread["tau_syn_inv"][0] == pytest.approx(20.0)
    with pytest.raises(ValueError, match="time_constants"):
        spread_time_constants([10.0, 2000.0], 16, 0.001)
    # per-neuron time constants run in a recurrent policy
    policy = SpikingPolicy(2, 2, snn.LIF, override_parameters(snn.LIFParameters(), spread), ObservationCoding(
        [1.0, 0.1]), seq_length=4, hidden=16, recurrent=True)
    logits, _, state, _ = policy(torch.randn(5, 3, 2), None, None)
    assert torch.isfinite(logits).all() and state[0].v.shape == (3, 16)


def test_index_state_slices_nested_states():
    policy = _policy(recurrent=True)
    _, _, state, _ = policy(torch.randn(3, 4, 2), None, None)
    part = index_state(state, torch.tensor([1, 3]))
    assert part[0].v.shape == (2, 16) and torch.equal(part[0].v, state[0].v[[1, 3]])
    assert index_state(None, torch.tensor([0])) is None


# -- evaluation ------------------------------------------------------------------------------------
def test_fixed_controller_reaches_500():
    result = evaluate(FunctionActor(balance), episodes=100, seed=10_000)
    assert result.returns.shape == (100,)
    assert result.returns.min() == 500.0 and result.mean == 500.0 and result.solved
    pushing = evaluate(FunctionActor(push_right), episodes=100, seed=10_000)
    assert pushing.mean < 20 and not pushing.solved
    again = evaluate(FunctionActor(push_right), episodes=100, seed=10_000)
    assert np.array_equal(pushing.returns, again.returns), "fixed seeds: the same episodes every time"
    assert SOLVED_RETURN == 475.0


# -- the task through the runner --------------------------------------------------------------------
@pytest.mark.parametrize("env", ["cartpole", "cartpole_masked"])
@pytest.mark.parametrize("model", ["lif", "lsnn", "lifbox", "iaf", "coba_lif", "izhikevich"])
def test_configs_compose_and_build(env, model, tmp_path):
    cfg = compose_task("cartpole", [f"env={env}", f"model={model}"], output_dir=tmp_path)
    container = OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)
    assert container["task"]["net"]["recurrent"] is (env == "cartpole_masked")
    assert container["task"]["evaluation"]["episodes"] == 100
    if env == "cartpole_masked" and model == "lifbox":
        with pytest.raises(ValueError, match="no recurrent variant"):
            CartPoleTask(**{k: v for k, v in container["task"].items() if k != "_target_"})
        return
    task = CartPoleTask(**{k: v for k, v in container["task"].items() if k != "_target_"})
    obs_size = 2 if env == "cartpole_masked" else 4
    logits, values, _, _ = task.policy(torch.zeros(3, 2, obs_size), None, torch.ones(3, 2, dtype=torch.bool))
    assert logits.shape == (3, 2, 2) and torch.isfinite(logits).all() and torch.isfinite(values).all()


def test_short_run_logs_and_evaluates(tmp_path):
    cfg = compose_task("cartpole", [*QUICK, "seed=3"], output_dir=tmp_path / "run")
    value = train(cfg)
    assert value is not None and 8.0 <= value <= 500.0
    tags = event_tags(tmp_path / "run" / "tensorboard")
    assert {"train/loss", "train/policy_loss", "train/value_loss", "train/entropy", "train/episode_return",
            "train/running_avg_return", "train/spike_rate/encoder", "train/spike_rate/hidden",
            "eval/avg_return_100", "eval/solved", "hp/eval_avg_return_100"} <= tags["scalars"]
    assert {"episode/raster/encoder", "episode/raster/hidden"} <= tags["images"]
    assert "_hparams_/experiment" in tags["hparams"]
    ckpt = tmp_path / "run" / "checkpoints" / "last.ckpt"
    assert ckpt.exists()
    summary = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert summary["metrics"]["eval/avg_return_100"] == pytest.approx(value)
    assert summary["metrics"]["eval/solved"] in (0.0, 1.0)
    table = results_table.rows([tmp_path / "run"], ["eval/avg_return_100", "eval/solved"])
    assert table[0].startswith("| command | overlay | eval/avg_return_100 | eval/solved |")
    # eval_only: the saved policy, evaluated again, gives the same (deterministic) result
    again = compose_task("cartpole", ["eval_only=true", f"ckpt_path={ckpt}", "eval.episodes=10"],
                         output_dir=tmp_path / "eval")
    assert train(again) == pytest.approx(value)
    assert not (tmp_path / "eval" / "checkpoints").exists()
    with pytest.raises(ValueError, match="ckpt_path"):
        train(compose_task("cartpole", ["eval_only=true"], output_dir=tmp_path / "none"))


def test_seed_makes_runs_reproducible(tmp_path):
    quick = [*QUICK, "algo.max_env_steps=300", "test=false", "logger=csv", "callbacks=none", "seed=7"]
    weights = []
    for name in ("a", "b"):
        cfg = compose_task("cartpole", quick, output_dir=tmp_path / name)
        cfg.callbacks = OmegaConf.create({"model_checkpoint": {
            "_target_": "pytorch_lightning.callbacks.ModelCheckpoint", "dirpath": str(tmp_path / name),
            "save_last": True}})
        train(cfg)
        weights.append(torch.load(tmp_path / name / "last.ckpt", weights_only=False)["state_dict"])
    assert weights[0].keys() == weights[1].keys()
    for key in weights[0]:
        assert torch.equal(weights[0][key], weights[1][key]), key


@pytest.mark.parametrize("algo", ["a2c", "reinforce"])
def test_other_algorithms_run(algo, tmp_path):
    cfg = compose_task("cartpole", [*QUICK, f"algo.name={algo}", "logger=csv", "callbacks=none", "test=false"],
                       output_dir=tmp_path)
    assert train(cfg) is not None
    assert (tmp_path / "csv" / "metrics.csv").exists()


def test_recurrent_masked_run(tmp_path):
    cfg = compose_task("cartpole", [*QUICK, "env=cartpole_masked", "model=lsnn", "logger=csv", "callbacks=none"],
                       output_dir=tmp_path)
    assert train(cfg) is not None
    summary = json.loads((tmp_path / "metrics.json").read_text())
    assert "env=cartpole_masked" in summary["command"] or summary["command"].startswith("python -m")


def test_debug_config_runs(tmp_path):
    cfg = compose_task("cartpole", ["debug=default", "threads=1", "eval.episodes=10", "callbacks=none"],
                       output_dir=tmp_path)
    assert train(cfg) is not None


def test_unknown_algorithm_is_refused(tmp_path):
    """At composition (the typed ``algo`` block) and by the task itself (a plain dict)."""
    with pytest.raises(ConfigCompositionException, match="algo.name"):
        compose_task("cartpole", ["algo.name=dqn"], output_dir=tmp_path)
    cfg = compose_task("cartpole", output_dir=tmp_path)
    container = OmegaConf.to_container(cfg.task, resolve=True, enum_to_str=True)
    container.pop("_target_")
    container["algo"]["name"] = "dqn"
    with pytest.raises(ValueError, match="algo.name must be one of"):
        CartPoleTask(**container)


def test_optuna_search_returns_env_steps(tmp_path):
    env = dict(os.environ, PYTHONUNBUFFERED="1", MPLBACKEND="Agg")
    result = subprocess.run(
        [sys.executable, "-m", "tasks.cartpole", "-m", "hparams_search=cartpole_optuna",
         *[q for q in QUICK if not q.startswith("algo.rollout_steps")], "callbacks=none",
         "logger=csv", "hydra.sweeper.n_trials=2", "hydra.sweeper.sampler.n_startup_trials=1",
         f"hydra.sweep.dir={tmp_path}"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    best = OmegaConf.load(tmp_path / "optimization_results.yaml")
    assert 0 < best.best_value <= 2000
    assert set(best.best_params) == {"optimizer.lr", "net.hidden", "net.seq_length", "algo.rollout_steps"}


def test_entry_point_module_exists():
    assert (REPO / "tasks" / "cartpole" / "__main__.py").exists()
    assert (REPO / "conf" / "env" / "cartpole_masked.yaml").exists()


def test_masked_preset_sets_lsnn_adaptation_and_leaves_lif_alone(tmp_path):
    def build(model):
        cfg = compose_task("cartpole", ["env=cartpole_masked", f"model={model}"], output_dir=tmp_path)
        kwargs = OmegaConf.to_container(cfg.task, resolve=True, enum_to_str=True)
        kwargs.pop("_target_")
        return CartPoleTask(**kwargs).policy.hidden.p

    lsnn = build("lsnn")
    assert lsnn.beta == 0.2 and lsnn.tau_adapt_inv == 20.0
    lif = build("lif")
    assert not hasattr(lif, "beta") and lif.tau_mem_inv.shape == (64,)  # the spread time constants
