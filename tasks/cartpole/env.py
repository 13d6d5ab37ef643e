"""Environment plumbing for CartPole: vectorised environments, the velocity mask, rollouts
with correct termination / truncation / autoreset handling, returns, and greedy evaluation.

Gymnasium's vector environments (``gymnasium.make_vec``) reset a finished sub-environment
on the *next* call to ``step`` (``AutoresetMode.NEXT_STEP``, the default): the step that
ends an episode returns the episode's true last observation with ``terminated`` or
``truncated`` set; the following step ignores its action and returns the new episode's
first observation with reward 0 and both flags false. That autoreset step is no
transition of the MDP, so it is masked out (``valid = False``) of every loss here.

Termination (the pole fell, the cart left the track) ends the return: no bootstrap.
Truncation (the 500-step time limit) only stops the episode: the return is bootstrapped
with the value of the last observation, which the autoreset step row holds.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Deque, Dict, List, Mapping, Optional, Sequence

import gymnasium as gym
import numpy as np
import torch
from gymnasium.wrappers.vector import TransformObservation

#: CartPole-v1 counts as solved at a mean return of 475 over 100 consecutive episodes.
SOLVED_RETURN = 475.0
#: Observation names of CartPole (the order of gymnasium's observation vector).
OBSERVATIONS = ("cart_position", "cart_velocity", "pole_angle", "pole_angular_velocity")
#: The partially observed variant: positions only, no velocities.
POSITIONS_ONLY = (0, 2)


def env_arguments(env: Mapping[str, Any]) -> Dict[str, Any]:
    """The :func:`make_envs` / :func:`evaluate` arguments of an ``env`` config (``conf/env``:
    ``id``, ``observe``, ``vectorization_mode``); a key it lacks keeps the function's default."""
    names = {"id": "env_id", "observe": "observe", "vectorization_mode": "vectorization_mode"}
    return {arg: env[key] for key, arg in names.items() if key in env}


def make_envs(
    env_id: str = "CartPole-v1",
    num_envs: int = 8,
    observe: Optional[Sequence[int]] = None,
    vectorization_mode: str = "vector_entry_point",
    **env_kwargs: Any,
) -> gym.vector.VectorEnv:
    """``num_envs`` environments in one vector env (NEXT_STEP autoreset). ``observe`` keeps
    only these observation indices (``(0, 2)``: cart position and pole angle, no velocities)."""
    envs = gym.make_vec(env_id, num_envs=num_envs, vectorization_mode=vectorization_mode, **env_kwargs)
    mode = envs.metadata.get("autoreset_mode", gym.vector.AutoresetMode.NEXT_STEP)
    if mode != gym.vector.AutoresetMode.NEXT_STEP:
        raise ValueError(f"the rollouts assume NEXT_STEP autoreset, {env_id} uses {mode}")
    if observe is not None:
        envs = mask_observations(envs, observe)
    return envs


def mask_observations(envs: gym.vector.VectorEnv, observe: Sequence[int]) -> gym.vector.VectorEnv:
    """Wraps ``envs`` so that its observations hold only the entries ``observe``."""
    index = np.asarray(list(observe), dtype=np.int64)
    full = envs.single_observation_space
    if index.ndim != 1 or len(index) == 0 or index.min() < 0 or index.max() >= full.shape[0]:
        raise ValueError(f"observe must list indices into the {full.shape[0]} observations, got {list(observe)}")
    single = gym.spaces.Box(full.low[index], full.high[index], dtype=full.dtype)
    return TransformObservation(envs, lambda obs: obs[..., index], single_observation_space=single)


# --------------------------------------------------------------------------------------------
# policies as the rollouts see them
# --------------------------------------------------------------------------------------------
class Actor:
    """What rollouts and evaluation need from a policy. ``act`` gets the observations
    ``(N, D)``, the recurrent state (``None`` at first) and ``starts`` ``(N,)`` (True where
    the observation is an episode's first: reset the state there) and returns
    ``(actions (N,), state, extras)``; ``extras`` holds tensors ``(N,)`` to store per step
    (e.g. ``logp``, ``value``)."""

    def act(self, obs: torch.Tensor, state: Any, starts: torch.Tensor, greedy: bool):  # pragma: no cover
        raise NotImplementedError


class FunctionActor(Actor):
    """A fixed controller ``fn(obs (N, D)) -> actions (N,)`` (no state)."""

    def __init__(self, fn: Callable[[torch.Tensor], torch.Tensor]):
        self.fn = fn

    def act(self, obs, state, starts, greedy=True):
        return self.fn(obs), None, {}


# --------------------------------------------------------------------------------------------
# episode bookkeeping
# --------------------------------------------------------------------------------------------
class EpisodeTracker:
    """Per sub-environment: whether the next step is the autoreset step, whether the current
    observation starts an episode, and the return and length of the running episode.

    ``step`` takes one ``env.step`` result and returns ``valid`` (False on the autoreset step)."""

    def __init__(self, num_envs: int):
        self.num_envs = num_envs
        self.needs_reset = np.zeros(num_envs, dtype=bool)  # the next step is the autoreset step
        self.starts = np.ones(num_envs, dtype=bool)  # the current observation is an episode's first
        self.returns = np.zeros(num_envs, dtype=np.float64)
        self.lengths = np.zeros(num_envs, dtype=np.int64)
        self.finished_returns: List[float] = []  # since the last drain()
        self.finished_lengths: List[int] = []

    def step(self, rewards: np.ndarray, terminated: np.ndarray, truncated: np.ndarray) -> np.ndarray:
        valid = ~self.needs_reset
        self.returns[valid] += rewards[valid]
        self.lengths[valid] += 1
        done = valid & (terminated | truncated)
        for k in np.flatnonzero(done):
            self.finished_returns.append(float(self.returns[k]))
            self.finished_lengths.append(int(self.lengths[k]))
        self.returns[done] = 0.0
        self.lengths[done] = 0
        # after an autoreset step the observation is a new episode's first one
        self.starts = self.needs_reset.copy()
        self.needs_reset = done
        return valid

    def drain(self) -> Dict[str, List[float]]:
        out = {"returns": self.finished_returns, "lengths": self.finished_lengths}
        self.finished_returns, self.finished_lengths = [], []
        return out


# --------------------------------------------------------------------------------------------
# rollouts
# --------------------------------------------------------------------------------------------
@dataclass
class Rollout:
    """``L`` steps of ``N`` environments. Row ``t`` holds the observation the action was
    chosen at; ``obs``, ``starts`` and ``extras['value']`` have a row ``L`` more (the
    observation after the last step, for bootstrapping). ``state`` is the policy state
    before row 0 (recurrent policies replay the rollout from it)."""

    obs: torch.Tensor  # (L + 1, N, D)
    actions: torch.Tensor  # (L, N)
    rewards: torch.Tensor  # (L, N)
    terminated: torch.Tensor  # (L, N) bool
    truncated: torch.Tensor  # (L, N) bool
    valid: torch.Tensor  # (L, N) bool: False on autoreset steps (and after the episode, episodes mode)
    starts: torch.Tensor  # (L + 1, N) bool: the observation is an episode's first
    extras: Dict[str, torch.Tensor] = field(default_factory=dict)  # (L, N) or (L + 1, N)
    state: Any = None
    episode_returns: List[float] = field(default_factory=list)  # of the episodes that ended
    episode_lengths: List[int] = field(default_factory=list)

    @property
    def num_steps(self) -> int:
        return self.actions.shape[0]


class RolloutCollector:
    """Steps ``envs`` with an :class:`Actor`, carrying observations, episode bookkeeping and
    the actor's recurrent state from one rollout to the next. ``recent`` holds the returns
    of the last ``window`` episodes (the running average)."""

    def __init__(self, envs: gym.vector.VectorEnv, seed: Optional[int] = None, window: int = 100):
        self.envs = envs
        self.num_envs = envs.num_envs
        self.seed = seed
        self._obs: Optional[np.ndarray] = None
        self.tracker = EpisodeTracker(self.num_envs)
        self.state: Any = None
        self.recent: Deque[float] = deque(maxlen=window)
        self.episodes = 0
        self.total_steps = 0  # environment steps of valid transitions

    def reset(self) -> None:
        """Starts new episodes everywhere (seeded at the first call only: later resets
        continue the environments' random streams)."""
        self._obs, _ = self.envs.reset(seed=self.seed)
        self.seed = None
        self.tracker = EpisodeTracker(self.num_envs)
        self.state = None

    @property
    def running_average(self) -> float:
        return float(np.mean(self.recent)) if self.recent else float("nan")

    @torch.no_grad()
    def collect(self, actor: Actor, num_steps: int, greedy: bool = False) -> Rollout:
        """``num_steps`` steps of every environment, continuing where the last call stopped."""
        if self._obs is None:
            self.reset()
        return self._run(actor, greedy, num_steps, whole_episodes=False)

    @torch.no_grad()
    def collect_episodes(self, actor: Actor, greedy: bool = False, max_steps: int = 100_000) -> Rollout:
        """One whole episode per environment, all starting now (REINFORCE, evaluation): rows
        after an environment's episode ended are invalid; stops once every episode ended."""
        self.reset()
        return self._run(actor, greedy, max_steps, whole_episodes=True)

    def _run(self, actor: Actor, greedy: bool, max_steps: int, whole_episodes: bool) -> Rollout:
        n = self.num_envs
        rows: Dict[str, List[torch.Tensor]] = {k: [] for k in ("obs", "starts", "actions", "rewards", "terminated",
                                                                "truncated", "valid")}
        extras: Dict[str, List[torch.Tensor]] = {}
        first_state = self.state
        ended = np.zeros(n, dtype=bool)  # whole_episodes: the environment's episode is over
        while len(rows["actions"]) < max_steps and not (whole_episodes and ended.all()):
            obs = torch.as_tensor(self._obs, dtype=torch.float32)
            starts = torch.as_tensor(self.tracker.starts)
            action, self.state, extra = actor.act(obs, self.state, starts, greedy)
            self._obs, reward, terminated, truncated, _ = self.envs.step(action.cpu().numpy())
            valid = self.tracker.step(reward, terminated, truncated)
            if whole_episodes:
                valid &= ~ended
                ended |= valid & (terminated | truncated)
            for key, value in (("obs", obs), ("starts", starts), ("actions", action),
                               ("rewards", torch.as_tensor(reward, dtype=torch.float32)),
                               ("terminated", torch.as_tensor(terminated)),
                               ("truncated", torch.as_tensor(truncated)), ("valid", torch.as_tensor(valid))):
                rows[key].append(value)
            for key, value in extra.items():
                extras.setdefault(key, []).append(value)
        last_obs = torch.as_tensor(self._obs, dtype=torch.float32)
        last_starts = torch.as_tensor(self.tracker.starts)
        if "value" in extras:  # the bootstrap value of the observation after the last step
            _, _, extra = actor.act(last_obs, self.state, last_starts, greedy)
            extras["value"].append(extra["value"])
        finished = self.tracker.drain()
        rollout = Rollout(
            obs=torch.stack([*rows["obs"], last_obs]),
            actions=torch.stack(rows["actions"]),
            rewards=torch.stack(rows["rewards"]),
            terminated=torch.stack(rows["terminated"]),
            truncated=torch.stack(rows["truncated"]),
            valid=torch.stack(rows["valid"]),
            starts=torch.stack([*rows["starts"], last_starts]),
            extras={k: torch.stack(v) for k, v in extras.items()},
            state=first_state,
        )
        if whole_episodes:  # only each environment's first episode counts
            rollout.episode_returns = (rollout.rewards * rollout.valid).sum(0)[torch.as_tensor(ended)].tolist()
            rollout.episode_lengths = rollout.valid.sum(0)[torch.as_tensor(ended)].tolist()
        else:
            rollout.episode_returns, rollout.episode_lengths = finished["returns"], finished["lengths"]
        self.total_steps += int(rollout.valid.sum())
        self.recent.extend(rollout.episode_returns)
        self.episodes += len(rollout.episode_returns)
        return rollout


# --------------------------------------------------------------------------------------------
# returns and advantages
# --------------------------------------------------------------------------------------------
def advantages_and_returns(
    rewards: torch.Tensor,
    values: torch.Tensor,
    terminated: torch.Tensor,
    truncated: torch.Tensor,
    valid: torch.Tensor,
    gamma: float = 0.99,
    lam: float = 0.95,
):
    """Generalised advantage estimates and value targets ``(L, N)`` each.

    ``values`` is ``(L + 1, N)``: row ``t + 1`` is the value of the observation that followed
    step ``t`` (after a terminated or truncated step: the episode's last observation, held
    by the autoreset row). A terminated step does not bootstrap; a truncated one does; GAE
    never crosses an episode's end; invalid (autoreset) rows get advantage 0 and are cut.
    ``lam=1`` gives Monte-Carlo returns minus the baseline (bootstrapped only at
    truncation and at the end of the rollout)."""
    steps = rewards.shape[0]
    advantages = torch.zeros_like(rewards)
    running = torch.zeros_like(rewards[0])
    nonterminal = 1.0 - terminated.float()
    continues = 1.0 - (terminated | truncated).float()
    valid_f = valid.float()
    for t in reversed(range(steps)):
        delta = rewards[t] + gamma * values[t + 1] * nonterminal[t] - values[t]
        running = (delta + gamma * lam * continues[t] * running) * valid_f[t]
        advantages[t] = running
    return advantages, (advantages + values[:-1]) * valid_f


def discounted_returns(
    rewards: torch.Tensor, dones: torch.Tensor, gamma: float, bootstrap: Optional[torch.Tensor] = None
) -> torch.Tensor:
    """Discounted returns ``G_t = r_t + gamma * G_{t+1}`` ``(L, N)``, restarting after every
    ``done``; ``bootstrap`` ``(N,)`` is the value after the last row (0 by default)."""
    returns = torch.zeros_like(rewards)
    running = torch.zeros_like(rewards[0]) if bootstrap is None else bootstrap.clone()
    for t in reversed(range(rewards.shape[0])):
        running = rewards[t] + gamma * running * (1.0 - dones[t].float())
        returns[t] = running
    return returns


# --------------------------------------------------------------------------------------------
# evaluation
# --------------------------------------------------------------------------------------------
@dataclass
class Evaluation:
    returns: np.ndarray  # one per episode

    @property
    def mean(self) -> float:
        return float(self.returns.mean())

    @property
    def solved(self) -> bool:
        return self.mean >= SOLVED_RETURN


@torch.no_grad()
def evaluate(
    actor: Actor,
    episodes: int = 100,
    seed: int = 10_000,
    env_id: str = "CartPole-v1",
    observe: Optional[Sequence[int]] = None,
    vectorization_mode: str = "vector_entry_point",
    greedy: bool = True,
    **env_kwargs: Any,
) -> Evaluation:
    """Runs ``episodes`` episodes side by side (one per sub-environment, all reset with the
    same ``seed``, hence the same episodes every call) and returns their returns."""
    envs = make_envs(env_id, episodes, observe, vectorization_mode, **env_kwargs)
    try:
        rollout = RolloutCollector(envs, seed=seed).collect_episodes(actor, greedy=greedy)
    finally:
        envs.close()
    return Evaluation((rollout.rewards * rollout.valid).sum(0).double().numpy())
