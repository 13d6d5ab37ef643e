"""Spiking policies for CartPole, built from norse_core.

::

    observation (B, D)
      --coding-->  input currents (B, C)        signed: [relu(x/s), relu(-x/s)]   (C = 2D)
                                                 population: Gaussian tuning curves (C = D*n)
      --encoder--> input spikes (T, B, C)       e.g. constant-current LIF, Poisson; direct: currents
      --hidden-->  spikes (T, B, H)              linear -> neuron layer (model=lif, lsnn, ...), or its
                                                 recurrent variant (LIFRecurrent, LSNNRecurrent, ...)
                                                 behind fixed identity input weights
      --readout--> action preferences (B, A)     li: linear -> leaky integrator, decoded over time
                                                 spike_count: linear -> LIF, spikes counted
      critic:      value (B,)                    linear map of the hidden spike counts

A feed-forward policy starts every observation's ``T`` steps from the initial state. A
recurrent policy carries the hidden and readout states from one environment step to the
next and resets them where an episode starts (``starts``).
"""

from __future__ import annotations

import math
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import torch
from torch import nn

import norse_core as snn
from tasks.cartpole.env import Actor
from tasks.common.builders import override_parameters

CODINGS = ("signed", "population")
READOUTS = ("li", "spike_count")
DECODERS = ("max", "mean", "last")
SPIKING_LAYERS = ("hidden", "readout")  # readout: with readout=spike_count


class ObservationCoding(nn.Module):
    """Observations ``(B, D)`` -> non-negative input currents ``(B, C)``.

    ``signed``: ``x/obs_scale`` split into its positive and negative parts, ``C = 2D``.
    ``population``: ``n`` Gaussian tuning curves per observation over ``[-1, 1]`` of
    ``x/obs_scale`` (width ``sigma``, in units of the spacing of the centres), ``C = D*n``
    (:func:`norse_core.population_encode`)."""

    def __init__(self, obs_scale: Sequence[float], name: str = "population", population: int = 8, sigma: float = 1.0):
        super().__init__()
        if name not in CODINGS:
            raise ValueError(f"coding must be one of {', '.join(CODINGS)}, got {name!r}")
        if name == "population" and population < 2:
            raise ValueError(f"population coding needs at least 2 neurons per observation, got {population}")
        self.name = name
        self.population = int(population)
        self.sigma = float(sigma)
        self.register_buffer("obs_scale", torch.as_tensor(list(obs_scale), dtype=torch.float32))

    @property
    def size(self) -> int:
        d = self.obs_scale.numel()
        return 2 * d if self.name == "signed" else d * self.population

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        x = obs / self.obs_scale
        if self.name == "signed":
            return torch.cat([torch.relu(x), torch.relu(-x)], dim=-1)
        unit = (x.clamp(-1.0, 1.0) + 1.0) / 2.0  # centres at linspace(0, 1, n)
        width = self.sigma / (self.population - 1)
        code = snn.population_encode(unit, self.population, 1.0, lambda d: snn.gaussian_rbf(d, width))
        return code.flatten(-2)


def recurrent_layer_of(layer: type, name: Optional[str] = None) -> type:
    """The recurrent layer matching a feed-forward one (``LIF`` -> ``LIFRecurrent``), or the
    class named ``name`` (a ``model.recurrent_layer`` entry)."""
    if name:
        from hydra.utils import get_class

        return get_class(name)
    candidate = getattr(snn, layer.__name__ + "Recurrent", None)
    if candidate is None:
        raise ValueError(
            f"{layer.__name__} has no recurrent variant (norse_core.{layer.__name__}Recurrent); "
            "choose another model or set model.recurrent_layer"
        )
    return candidate


def spread_time_constants(bounds: Sequence[float], hidden: int, dt: float) -> Dict[str, torch.Tensor]:
    """Heterogeneous time constants: per hidden neuron, ``tau_mem_inv`` spread log-uniformly
    over ``bounds = [low, high]`` (1/s) and ``tau_syn_inv`` twice as fast (at most ``0.5/dt``).
    A recurrent layer then holds its past at several time scales at once, which lets a
    readout form differences over time (velocities from positions)."""
    low, high = (float(b) for b in bounds)
    if not 0 < low <= high or high * dt >= 1:
        raise ValueError(f"time_constants must be [low, high] with 0 < low <= high < 1/dt, got {list(bounds)}")
    membrane = torch.logspace(math.log10(low), math.log10(high), hidden)
    return {"tau_mem_inv": membrane, "tau_syn_inv": torch.clamp(2 * membrane, max=0.5 / dt)}


class SpikingPolicy(nn.Module):
    """Actor-critic spiking policy (see the module docstring). Its defaults are the values of
    conf/cartpole.yaml (the task passes the ``net`` keys through); ``time_constants``:
    per-neuron time constants of the hidden layer (:func:`spread_time_constants`); ``layer_p``:
    the parameters of one spiking layer (``hidden``, ``readout``: :data:`SPIKING_LAYERS`)
    instead of ``neuron_p``."""

    def __init__(
        self,
        obs_size: int,
        num_actions: int,
        neuron: type,
        neuron_p: Any,
        coding: ObservationCoding,
        encoder: Optional[nn.Module] = None,
        input_scale: float = 1.0,
        seq_length: int = 8,
        hidden: int = 64,
        recurrent: bool = False,
        recurrent_layer: Optional[type] = None,
        recurrent_init: float = 0.0,
        carry_readout: bool = False,
        readout: str = "li",
        readout_p: snn.LIParameters = snn.LIParameters(),
        decoder: str = "mean",
        count_scale: float = 1.0,
        logit_scale: float = 10.0,
        dt: float = 0.001,
        gain: float = 1.0,
        value_scale: float = 10.0,
        time_constants: Optional[Sequence[float]] = None,
        layer_p: Optional[Mapping[str, Any]] = None,
    ):
        super().__init__()
        if readout not in READOUTS:
            raise ValueError(f"readout must be one of {', '.join(READOUTS)}, got {readout!r}")
        if decoder not in DECODERS:
            raise ValueError(f"decoder must be one of {', '.join(DECODERS)}, got {decoder!r}")
        if not isinstance(seq_length, int) or seq_length < 1:
            raise ValueError(f"seq_length must be a positive int, got {seq_length!r}")
        if coding.obs_scale.numel() != obs_size:
            raise ValueError(
                f"coding.obs_scale has {coding.obs_scale.numel()} entries but the observations have {obs_size}"
            )
        layer_p = dict(layer_p or {})
        if set(layer_p) - set(SPIKING_LAYERS):
            raise ValueError(f"layer_p names no spiking layer: {sorted(set(layer_p) - set(SPIKING_LAYERS))}; "
                             f"the layers: {', '.join(SPIKING_LAYERS)}")
        hidden_p = layer_p.get("hidden", neuron_p)
        if time_constants:
            hidden_p = override_parameters(hidden_p, spread_time_constants(time_constants, hidden, dt))
        self.coding = coding
        self.encoder = encoder
        self.input_scale = float(input_scale)
        self.seq_length = seq_length
        self.recurrent = bool(recurrent)
        self.carry_readout = bool(carry_readout)
        self.readout_kind = readout
        self.decoder = decoder
        self.count_scale = float(count_scale)
        self.logit_scale = float(logit_scale)
        self.value_scale = float(value_scale)
        self.gain = float(gain)
        self.input_layer = nn.Linear(coding.size, hidden)
        if self.recurrent:
            # the input layer feeds the recurrent cell through fixed identity input weights, so
            # that with recurrent_init=0 the policy starts as the feed-forward one plus memory
            layer = recurrent_layer or recurrent_layer_of(neuron)
            self.hidden = layer(hidden, hidden, hidden_p, dt=dt, input_weights=torch.eye(hidden))
            self.hidden.input_weights.requires_grad_(False)
            with torch.no_grad():
                self.hidden.recurrent_weights.mul_(float(recurrent_init))
        else:
            self.hidden = neuron(hidden_p, dt=dt)
        self.readout_layer = nn.Linear(hidden, num_actions)
        if readout == "li":
            self.readout = snn.LI(readout_p, dt=dt)
        else:
            self.readout = neuron(layer_p.get("readout", neuron_p), dt=dt)
        self.critic = nn.Linear(hidden, 1)
        self.predictor = nn.Linear(hidden, obs_size)  # the auxiliary prediction of the next observation change

    # -- pieces ----------------------------------------------------------------------------
    def encode(self, obs: torch.Tensor) -> torch.Tensor:
        """Input spikes (or, direct, currents) ``(T, B, C)`` of observations ``(B, D)``."""
        currents = self.coding(obs) * self.input_scale
        if self.encoder is None:
            return currents.unsqueeze(0).expand(self.seq_length, *currents.shape)
        return self.encoder(currents)

    def _decode(self, out: torch.Tensor) -> torch.Tensor:
        """Action preferences (logits) from the readout's output over the ``T`` steps."""
        if self.readout_kind == "spike_count":
            return out.sum(0) * self.count_scale
        if self.decoder == "max":
            return out.max(0).values * self.logit_scale
        return (out.mean(0) if self.decoder == "mean" else out[-1]) * self.logit_scale

    def _run(self, obs: torch.Tensor, state: Any) -> Tuple[torch.Tensor, torch.Tensor, Any, Dict[str, torch.Tensor]]:
        """``l`` consecutive environment steps ``(l, B, D)`` -> ``logits (l, B, A)``,
        ``values (l, B)``, state, spikes ``(T, l, B, ...)`` per layer. Feed-forward: every
        step from the initial state (steps folded into the batch); recurrent: one sequence
        of ``l*T`` time steps from ``state``, with no episode starting after its first row."""
        steps, batch = obs.shape[:2]
        t = self.seq_length
        spikes_in = self.encode(obs.reshape(steps * batch, -1))  # (T, l*B, C)
        hidden_state, readout_state = (None, None) if state is None else state
        if self.recurrent:  # time runs through the environment steps: (l*T, B, C)
            x = spikes_in.view(t, steps, batch, -1).transpose(0, 1).reshape(steps * t, batch, -1)
            z, hidden_state = self.hidden(self.input_layer(x) * self.gain, hidden_state)
            z = z.view(steps, t, batch, -1).transpose(0, 1)  # (T, l, B, H)
            if self.carry_readout:
                out, readout_state = self.readout(self.readout_layer(z.transpose(0, 1).flatten(0, 1)), readout_state)
                out = out.view(steps, t, batch, -1).transpose(0, 1)
            else:  # the readout decodes each environment step afresh
                out, _ = self.readout(self.readout_layer(z.flatten(1, 2)))
                out = out.view(t, steps, batch, -1)
            new_state: Any = (hidden_state, readout_state)
        else:
            z, _ = self.hidden(self.input_layer(spikes_in) * self.gain)
            out, _ = self.readout(self.readout_layer(z))
            z, out = z.view(t, steps, batch, -1), out.view(t, steps, batch, -1)
            new_state = None
        logits = self._decode(out)
        rates = z.mean(0)
        value = self.critic(rates).squeeze(-1) * self.value_scale
        spikes = {"encoder": spikes_in.view(t, steps, batch, -1), "hidden": z, "prediction": self.predictor(rates)}
        if self.readout_kind == "spike_count":
            spikes["readout"] = out
        return logits, value, new_state, spikes

    # -- state -----------------------------------------------------------------------------
    def reset_state(self, state: Any, starts: Optional[torch.Tensor]) -> Any:
        """``state`` with the entries of environments where ``starts`` is True set to the
        initial state (``None`` when every environment starts, or without a state)."""
        if state is None or starts is None or not bool(starts.any()):
            return state
        if bool(starts.all()):
            return None
        keep = ~starts

        def reset(tree: Any, initial: Any) -> Any:
            if isinstance(tree, torch.Tensor):
                mask = keep.view(-1, *([1] * (tree.dim() - 1))).to(tree.device)
                return torch.where(mask, tree, initial)
            return type(tree)(*(reset(t, i) for t, i in zip(tree, initial)))

        hidden_state, readout_state = state
        like = hidden_state.v
        init_hidden = self.hidden.initial_state(torch.zeros(*like.shape[:-1], self.hidden.input_size, dtype=like.dtype,
                                                            device=like.device))
        if readout_state is None:
            return reset(hidden_state, init_hidden), None
        init_readout = self.readout.initial_state(readout_state.v)
        return reset(hidden_state, init_hidden), reset(readout_state, init_readout)

    # -- whole sequences -------------------------------------------------------------------
    def forward(
        self, obs: torch.Tensor, state: Any = None, starts: Optional[torch.Tensor] = None, record: bool = False
    ) -> Tuple[torch.Tensor, torch.Tensor, Any, Dict[str, torch.Tensor]]:
        """Observations ``(L, B, D)`` of ``L`` consecutive environment steps (``starts``
        ``(L, B)``: an episode starts there) -> ``logits (L, B, A)``, ``values (L, B)``, the
        state after the last step, and ``out``: mean spike rate per layer (``rate/<layer>``)
        and, with ``record=True``, the spikes ``spikes/<layer>`` ``(L*T, B, ...)``."""
        if obs.dim() != 3:
            raise ValueError(f"obs must be (steps, batch, features), got {tuple(obs.shape)}")
        steps = obs.shape[0]
        if not self.recurrent:
            logits, values, _, spikes = self._run(obs, None)
            return logits, values, None, self._out(spikes, record)
        # recurrent: split the steps where some episode starts, reset there, run each piece
        cuts = [0] if starts is None else [0] + torch.nonzero(starts[1:].any(-1)).flatten().add(1).tolist()
        pieces = []
        for begin, end in zip(cuts, cuts[1:] + [steps]):
            if starts is not None:
                state = self.reset_state(state, starts[begin])
            logits, values, state, spikes = self._run(obs[begin:end], state)
            pieces.append((logits, values, spikes))
        logits = torch.cat([p[0] for p in pieces])
        values = torch.cat([p[1] for p in pieces])
        spikes = {k: torch.cat([p[2][k] for p in pieces], dim=0 if k == "prediction" else 1) for k in pieces[0][2]}
        return logits, values, state, self._out(spikes, record)

    @staticmethod
    def _out(spikes: Dict[str, torch.Tensor], record: bool) -> Dict[str, torch.Tensor]:
        """``prediction`` ``(L, B, D)``, mean spike rates ``rate/<layer>`` and, with ``record``,
        spikes ``(T, L, B, ...)`` as ``(L*T, B, ...)`` in time order."""
        out = {"prediction": spikes.pop("prediction")}
        out.update({f"rate/{k}": v.detach().float().mean() for k, v in spikes.items()})
        if record:
            out.update({f"spikes/{k}": v.detach().transpose(0, 1).flatten(0, 1) for k, v in spikes.items()})
        return out

    def spiking_layers(self) -> List[str]:
        return ["encoder", "hidden"] + (["readout"] if self.readout_kind == "spike_count" else [])


class PolicyActor(Actor):
    """Lets rollouts drive a :class:`SpikingPolicy`: samples actions (or takes the most
    preferred one, ``greedy``) and returns ``logp`` and ``value`` per environment."""

    def __init__(self, policy: SpikingPolicy):
        self.policy = policy

    @torch.no_grad()
    def act(self, obs, state, starts, greedy=False):
        device = self.policy.critic.weight.device
        logits, values, state, _ = self.policy(obs.unsqueeze(0).to(device), state, starts.unsqueeze(0).to(device))
        logits, values = logits[0].cpu(), values[0].cpu()
        if greedy:
            actions = logits.argmax(-1)
        else:
            actions = torch.distributions.Categorical(logits=logits).sample()
        logp = torch.log_softmax(logits, -1).gather(-1, actions.unsqueeze(-1)).squeeze(-1)
        return actions, state, {"logp": logp, "value": values}
