"""e-prop for a recurrent LIF or LSNN layer with a linear (optionally leaky-integrator)
readout: :class:`EProp` runs the network step by step without an autograd graph and writes
the gradients into the weights' ``.grad``; the equations are in
:mod:`norse_core.functional.eprop`."""

from __future__ import annotations

import math
from typing import Any, Callable, Optional

import torch
import torch.nn.functional as F

from norse_core.functional import eprop_cpp
from norse_core.functional.eprop import (
    EligibilityTraces,
    eligibility_chunk,
    eligibility_traces,
    per_neuron_row,
    readout_filter_chunk,
)
from norse_core.functional.li import LIParameters, LIState
from norse_core.functional.lif import LIFState, lif_step, lif_update
from norse_core.functional.lsnn import LSNNState, lsnn_step, lsnn_update
from norse_core.functional.threshold import surrogate_derivative
from norse_core.fused._common import native_method_id

#: The recurrent steps e-prop supports, and what it uses of each: its update, its state type.
_MODELS = {
    lif_step: ("lif", lambda j, s, p, dt: lif_update(j, s.v, p, dt, True), LIFState),
    lsnn_step: ("lsnn", lambda j, s, p, dt: lsnn_update(j, s.v, s.b, p, dt, True), LSNNState),
}
FEEDBACK = ("symmetric", "random")
#: ``(step t, readout y^t (batch, out)) -> dE/dy^t`` or ``None`` (no error at this step).
OutputError = Callable[[int, torch.Tensor], Optional[torch.Tensor]]
#: ``(step t, spikes z^t (batch, hidden)) -> dE/dz^t`` or ``None``.
SpikeError = Callable[[int, torch.Tensor], Optional[torch.Tensor]]


class EProp(torch.nn.Module):
    """e-prop for ``layer`` (a :class:`~norse_core.LIFRecurrent` or
    :class:`~norse_core.LSNNRecurrent`, or their cells) read out by ``readout`` (a
    ``torch.nn.Linear``) and, when ``readout_filter`` is given, a leaky integrator with those
    parameters: ``y^t = LI(W_out z^t + b)`` (else ``y^t = W_out z^t + b``).

    Per step the network runs forward under ``torch.no_grad``, the eligibility traces are
    updated, and the caller's error ``dE/dy^t`` becomes the learning signal
    ``L^t = (dE/dy^t) B`` with ``B = W_out`` (``feedback="symmetric"``) or a fixed random
    matrix ``N(0, 1/hidden)`` (``feedback="random"``, the buffer ``feedback_weights``). The
    gradients ``Σ_t L^t F(e^t)`` of ``input_weights`` and ``recurrent_weights`` and the
    readout's exact gradients are added to the parameters' ``.grad``, so any optimizer applies
    them. Memory does not depend on the sequence length: only the current traces are kept.

    ``update_every=K`` calls ``on_update(t)`` after every K-th step of a sequence (``t``
    steps since the sequence started), e.g. ``optimizer.step(); optimizer.zero_grad()``:
    online learning; ``None`` leaves the gradients to the caller. The traces restart with
    every sequence (:meth:`reset`, done by :meth:`run`). Neuron parameters are not learned
    (a layer with ``trainable`` parameters is refused).

    :meth:`run` takes ``chunk_size`` steps at a time (the network, then the callbacks, then
    :func:`~norse_core.functional.eprop.eligibility_chunk`): the same gradients, memory
    O(chunk_size). ``compiled``: ``None`` runs the compiled loops
    (:mod:`norse_core.functional.eprop_cpp`) when loaded or worth building, ``False`` never,
    ``True`` always (built now).
    """

    def __init__(
        self,
        layer: torch.nn.Module,
        readout: torch.nn.Linear,
        readout_filter: Optional[LIParameters] = None,
        *,
        feedback: str = "symmetric",
        update_every: Optional[int] = None,
        on_update: Optional[Callable[[int], Any]] = None,
        generator: Optional[torch.Generator] = None,
        chunk_size: int = 128,
        compiled: Optional[bool] = None,
    ):
        super().__init__()
        step = getattr(type(layer), "step", None)
        if not isinstance(layer, torch.nn.Module) or step not in _MODELS:
            raise TypeError(
                f"EProp: layer must be a LIFRecurrent or LSNNRecurrent layer (or cell), got {type(layer).__name__}"
            )
        trainable = getattr(layer, "_trainable", ())
        if trainable:
            raise ValueError(
                f"EProp: layer has trainable neuron parameters {list(trainable)}; e-prop learns "
                "input_weights and recurrent_weights only (build the layer without trainable=...)"
            )
        if not isinstance(readout, torch.nn.Linear) or readout.in_features != layer.hidden_size:
            got = (f"Linear({readout.in_features}, {readout.out_features})" if isinstance(readout, torch.nn.Linear)
                   else type(readout).__name__)
            raise ValueError(f"EProp: readout must be a torch.nn.Linear({layer.hidden_size}, out), got {got}")
        if readout_filter is not None:
            if not isinstance(readout_filter, LIParameters):
                raise TypeError(f"EProp: readout_filter must be LIParameters or None, got {type(readout_filter).__name__}")
            for name, value in readout_filter._asdict().items():
                if isinstance(value, torch.Tensor) and value.numel() != 1:
                    raise ValueError(
                        f"EProp: readout_filter.{name} must be one number (shared by the outputs), "
                        f"got a tensor of shape {tuple(value.shape)}"
                    )
        if feedback not in FEEDBACK:
            raise ValueError(f"EProp: feedback must be one of {', '.join(FEEDBACK)}, got {feedback!r}")
        if update_every is not None and (
            isinstance(update_every, bool) or not isinstance(update_every, int) or update_every < 1
        ):
            raise ValueError(f"EProp: update_every must be a positive int or None, got {update_every!r}")
        if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
            raise ValueError(f"EProp: chunk_size must be a positive int, got {chunk_size!r}")
        if compiled not in (None, True, False):
            raise ValueError(f"EProp: compiled must be None, True or False, got {compiled!r}")
        reset_method = getattr(layer.p, "reset_method", "value")
        if reset_method not in ("value", "subtract"):
            raise ValueError(
                f"EProp: layer.p.reset_method must be 'value' or 'subtract' (the traces need the reset's "
                f"derivative), got {reset_method!r}"
            )
        if update_every is not None and not callable(on_update):
            raise ValueError(f"EProp: update_every={update_every} needs on_update, a callable (got {on_update!r})")
        # not submodules: the layer and readout belong to the caller's model (and state_dict)
        self.__dict__["layer"], self.__dict__["readout"] = layer, readout
        self.readout_filter = readout_filter
        self.feedback = feedback
        self.update_every = update_every
        self.on_update = on_update
        self.kind, self._update, self._state_type = _MODELS[step]
        self.chunk_size = chunk_size
        self.compiled = compiled
        weights = None
        if feedback == "random":
            weight = readout.weight
            weights = torch.randn(readout.out_features, layer.hidden_size, generator=generator, dtype=weight.dtype)
            weights = (weights / math.sqrt(layer.hidden_size)).to(weight.device)
        self.register_buffer("feedback_weights", weights)
        self.reset()

    def reset(self) -> None:
        """Starts a new sequence: the next :meth:`step` starts from the initial neuron and
        readout states and zero traces."""
        self.steps = 0
        self.state: Optional[Any] = None
        self.spikes: Optional[torch.Tensor] = None
        self._readout_state: Optional[LIState] = None
        self._traces: Optional[EligibilityTraces] = None

    def _start(self, x: torch.Tensor) -> None:
        layer, batch = self.layer, x.shape[:-1]
        if len(batch) != 1:
            raise ValueError(f"EProp: one step of input must be (batch, input_size), got shape {tuple(x.shape)}")
        self.state = layer.initial_state(x)
        z = self.state.z
        # one set of traces for [W_in, W_rec], whose presynaptic signal is [x^t, z^{t-1}]
        self._traces = eligibility_traces(torch.cat([x, z], -1), layer.hidden_size, self.kind == "lsnn")
        if self.readout_filter is not None:
            out = x.new_zeros((*batch, self.readout.out_features))
            # F's states: the readout's voltage relative to v_leak, the trace's, the spikes', 1's
            self._readout_state = _zero_li(out)
            self._filters = {
                "trace": _zero_li(self._traces.v),
                "spikes": _zero_li(z),
                "bias": _zero_li(x.new_zeros(1)),
            }
        self._weights = self.layer._step_args()

    @torch.no_grad()
    def step(
        self, x: torch.Tensor, output_error: Optional[OutputError] = None, spike_error: Optional[SpikeError] = None
    ) -> torch.Tensor:
        """One step of input ``x`` ``(batch, input_size)``: runs the network, updates the
        traces, adds this step's gradient (from ``output_error(t, y^t)`` and
        ``spike_error(t, z^t)``, each ``None`` or returning ``None`` for no error) to ``.grad``
        and, every ``update_every`` steps, calls ``on_update``. Returns ``y^t`` ``(batch, out)``."""
        compiled = _compiled_dtype(x) and eprop_cpp.use(0, self.compiled)
        with torch.autocast(x.device.type, enabled=False):
            return self._chunk(x.unsqueeze(0), output_error, spike_error, False, compiled)[0]

    @torch.no_grad()
    def run(
        self,
        inputs: torch.Tensor,
        output_error: Optional[Callable] = None,
        spike_error: Optional[Callable] = None,
        *,
        per_chunk: bool = False,
    ) -> None:
        """:meth:`reset`, then the steps of ``inputs`` ``(T, batch, input_size)``, ``chunk_size``
        at a time (chunks end at every ``update_every``-th step too). The outputs are not kept:
        read ``y^t`` in ``output_error``. The callbacks are called in the order of the steps,
        after the network ran the chunk: ``output_error(t, y^t)`` and ``spike_error(t, z^t)``
        per step, or with ``per_chunk=True`` once per chunk, ``output_error(steps, y)`` with
        ``steps`` a ``range`` and ``y`` ``(len(steps), batch, out)``, returning ``dE/dy``
        of that shape (``spike_error(steps, z)`` likewise) or ``None``."""
        if not isinstance(inputs, torch.Tensor) or inputs.dim() != 3:
            got = tuple(inputs.shape) if isinstance(inputs, torch.Tensor) else type(inputs).__name__
            raise ValueError(f"EProp.run: inputs must be a tensor (T, batch, input_size), got {got}")
        self.reset()
        steps = inputs.shape[0]
        compiled = _compiled_dtype(inputs) and eprop_cpp.use(steps * inputs.shape[1] * self.layer.hidden_size, self.compiled)
        with torch.autocast(inputs.device.type, enabled=False):
            t = 0
            while t < steps:
                end = min(steps, t + self.chunk_size)
                if self.update_every is not None:
                    end = min(end, (t // self.update_every + 1) * self.update_every)
                self._chunk(inputs[t:end], output_error, spike_error, per_chunk, compiled)
                t = end

    def _forward(self, x: torch.Tensor, compiled: bool):
        """The layer over the chunk ``x`` ``(K, batch, input)``: ``(z, v_d - threshold)``
        ``(K, batch, hidden)`` and its state after."""
        layer, p, dt = self.layer, self.layer.p, self.layer.dt
        input_weights, recurrent_weights = self._weights
        current = F.linear(x, input_weights)
        state = self.state
        if compiled and native_method_id(p.method) is not None:
            hidden = layer.hidden_size
            lsnn = self.kind == "lsnn"
            rows = [dt * p.tau_mem_inv, dt * p.tau_syn_inv, dt * p.tau_adapt_inv if lsnn else 0.0,
                    p.beta if lsnn else 0.0, p.v_leak, p.v_th, p.v_reset]
            params = torch.stack([per_neuron_row(value, hidden, x) for value in rows])
            b = state.b if lsnn else state.v
            z, distance, v, i, b, z_last = eprop_cpp.ops().forward(
                current.contiguous(), state.v, state.i, b, state.z, recurrent_weights.t(), params, lsnn,
                p.reset_method == "subtract",
            )
            state = self._state_type(z_last, v, i, b) if lsnn else self._state_type(z_last, v, i)
            return z, distance, state
        spikes, distances = [], []
        for t in range(x.shape[0]):
            i_jump = state.i + current[t] + F.linear(state.z, recurrent_weights)
            update = self._update(i_jump, state, p, dt)
            state = self._state_type(update.z, *update[1:-1])
            spikes.append(update.z)
            distances.append(update.distance)
        return torch.stack(spikes), torch.stack(distances), state

    def _chunk(self, x, output_error, spike_error, per_chunk: bool, compiled: bool) -> torch.Tensor:
        """Runs the steps ``x`` ``(K, batch, input)`` (see :meth:`run`); returns ``y`` ``(K, batch, out)``."""
        if self.state is None:
            self._start(x[0])
        layer, p, dt = self.layer, self.layer.p, self.layer.dt
        previous = self.state.z
        z, distance, self.state = self._forward(x, compiled)
        self.spikes = z[-1]
        psi = surrogate_derivative(p.method)(distance, p.alpha)
        presynaptic = torch.cat([x, torch.cat([previous.unsqueeze(0), z[:-1]])], -1)
        drive = F.linear(z, self.readout.weight, self.readout.bias)
        li = self.readout_filter
        if li is not None:
            y, self._readout_state = readout_filter_chunk(drive, self._readout_state, li, dt)
            y = y + li.v_leak
            spikes_f, self._filters["spikes"] = readout_filter_chunk(z, self._filters["spikes"], li, dt)
            ones = self._filters["bias"].v.new_ones((x.shape[0], 1))
            ones_f, self._filters["bias"] = readout_filter_chunk(ones, self._filters["bias"], li, dt)
        else:
            y, spikes_f, ones_f = drive, z, 1.0
        steps = range(self.steps, self.steps + x.shape[0])
        error = _errors(output_error, steps, y, per_chunk)
        z_error = _errors(spike_error, steps, z, per_chunk)
        signal = None if error is None else error @ self._feedback()
        gradient, self._traces, trace_filter = eligibility_chunk(
            self._traces, self._filters["trace"] if li is not None else None, presynaptic, z, psi, signal, z_error,
            p, li, dt, compiled,
        )
        if li is not None:
            self._filters["trace"] = trace_filter
        if error is not None or z_error is not None:
            recurrent = gradient[:, x.shape[-1]:]
            if not layer.autapses:
                recurrent.fill_diagonal_(0.0)
            _accumulate(layer.input_weights, gradient[:, : x.shape[-1]])
            _accumulate(layer.recurrent_weights, recurrent)
            if error is not None:
                _accumulate(self.readout.weight, torch.einsum("tbo,tbh->oh", error, spikes_f))
                if self.readout.bias is not None:
                    _accumulate(self.readout.bias, (error.sum(1) * ones_f).sum(0))
        self.steps = steps.stop
        if self.update_every is not None and self.steps % self.update_every == 0:
            self.on_update(self.steps)
            self._weights = layer._step_args()  # the masked recurrent weights, after the update
        return y

    def _feedback(self) -> torch.Tensor:
        return self.readout.weight if self.feedback_weights is None else self.feedback_weights

    def extra_repr(self) -> str:
        return f"model={self.kind}, feedback={self.feedback}, update_every={self.update_every}"


def _errors(callback: Optional[Callable], steps: range, values: torch.Tensor, per_chunk: bool) -> Optional[torch.Tensor]:
    """The callback's errors for the chunk's ``values`` ``(K, batch, n)``, stacked (``None``
    steps: zero), or ``None`` when it gave none."""
    if callback is None:
        return None
    if per_chunk:
        return callback(steps, values)
    errors = [callback(t, value) for t, value in zip(steps, values)]
    if all(e is None for e in errors):
        return None
    return torch.stack([torch.zeros_like(values[0]) if e is None else e.expand_as(values[0]) for e in errors])


def _compiled_dtype(x: torch.Tensor) -> bool:
    """The compiled loops take CPU float32/float64 tensors (anything else: PyTorch)."""
    return x.device.type == "cpu" and x.dtype in (torch.float32, torch.float64)


def _zero_li(like: torch.Tensor) -> LIState:
    return LIState(torch.zeros_like(like), torch.zeros_like(like))


def _accumulate(parameter: torch.Tensor, gradient: torch.Tensor) -> None:
    if parameter.grad is None:
        parameter.grad = gradient.to(parameter.dtype).clone()
    else:
        parameter.grad.add_(gradient)
