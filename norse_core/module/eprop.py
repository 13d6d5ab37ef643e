"""e-prop for a recurrent LIF or LSNN layer with a linear (optionally leaky-integrator)
readout: :class:`EProp` runs the network step by step without an autograd graph and writes
the gradients into the weights' ``.grad``; the equations are in
:mod:`norse_core.functional.eprop`."""

from __future__ import annotations

import math
from typing import Any, Callable, Optional

import torch
import torch.nn.functional as F

from norse_core.functional.eprop import (
    eligibility_traces,
    eprop_gradient,
    lif_eligibility_step,
    lsnn_eligibility_step,
    readout_filter_step,
)
from norse_core.functional.li import LIParameters, LIState, li_feed_forward_step
from norse_core.functional.lif import LIFState, lif_step, lif_update, recurrent_current
from norse_core.functional.lsnn import LSNNState, lsnn_step, lsnn_update
from norse_core.functional.threshold import surrogate_derivative

#: The recurrent steps e-prop supports, and what it uses of each: its update, its trace step,
#: its state type.
_MODELS = {
    lif_step: ("lif", lambda j, s, p, dt: lif_update(j, s.v, p, dt, True), lif_eligibility_step, LIFState),
    lsnn_step: ("lsnn", lambda j, s, p, dt: lsnn_update(j, s.v, s.b, p, dt, True), lsnn_eligibility_step, LSNNState),
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

    Per step (:meth:`step`) the network runs forward under ``torch.no_grad``, the eligibility
    traces are updated, and the caller's error ``dE/dy^t`` becomes the learning signal
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
        if update_every is not None and not callable(on_update):
            raise ValueError(f"EProp: update_every={update_every} needs on_update, a callable (got {on_update!r})")
        # not submodules: the layer and readout belong to the caller's model (and state_dict)
        self.__dict__["layer"], self.__dict__["readout"] = layer, readout
        self.readout_filter = readout_filter
        self.feedback = feedback
        self.update_every = update_every
        self.on_update = on_update
        self.kind, self._update, self._trace_step, self._state_type = _MODELS[step]
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
        self._traces: Optional[dict] = None

    def _start(self, x: torch.Tensor) -> None:
        layer, batch = self.layer, x.shape[:-1]
        if len(batch) != 1:
            raise ValueError(f"EProp: one step of input must be (batch, input_size), got shape {tuple(x.shape)}")
        self.state = layer.initial_state(x)
        z = self.state.z
        out = x.new_zeros((*batch, self.readout.out_features))
        # one set of traces for [W_in, W_rec], whose presynaptic signal is [x^t, z^{t-1}]
        self._traces = eligibility_traces(torch.cat([x, z], -1), layer.hidden_size, self.kind == "lsnn")
        if self.readout_filter is not None:
            self._readout_state = LIState(out + self.readout_filter.v_leak, out.clone())
            self._filters = {
                "trace": _zero_li(self._traces.v),
                "spikes": _zero_li(z),
                "bias": _zero_li(x.new_zeros(1)),
            }
        self._weights = layer._step_args()

    @torch.no_grad()
    def step(
        self, x: torch.Tensor, output_error: Optional[OutputError] = None, spike_error: Optional[SpikeError] = None
    ) -> torch.Tensor:
        """One step of input ``x`` ``(batch, input_size)``: runs the network, updates the
        traces, adds this step's gradient (from ``output_error(t, y^t)`` and
        ``spike_error(t, z^t)``, each ``None`` or returning ``None`` for no error) to ``.grad``
        and, every ``update_every`` steps, calls ``on_update``. Returns ``y^t`` ``(batch, out)``."""
        with torch.autocast(x.device.type, enabled=False):
            return self._step(x, output_error, spike_error)

    def _step(self, x, output_error, spike_error) -> torch.Tensor:
        if self.state is None:
            self._start(x)
        layer, p, dt = self.layer, self.layer.p, self.layer.dt
        input_weights, recurrent_weights = self._weights
        state, z_previous = self.state, self.state.z
        i_jump = recurrent_current(state.i, state.z, x, input_weights, recurrent_weights)
        update = self._update(i_jump, state, p, dt)
        z = update.z
        self.state = self._state_type(z, *update[1:-1])
        self.spikes = z
        psi = surrogate_derivative(p.method)(update.distance, p.alpha)
        presynaptic = torch.cat([x, z_previous], -1)
        trace, self._traces = self._trace_step(self._traces, presynaptic, z, psi, p, dt)
        drive = F.linear(z, self.readout.weight, self.readout.bias)
        filtered, spikes_f, ones_f = trace, z, 1.0
        if self.readout_filter is not None:
            y, self._readout_state = li_feed_forward_step(drive, self._readout_state, self.readout_filter, dt)
            filters, li = self._filters, self.readout_filter
            filtered, filters["trace"] = readout_filter_step(trace, filters["trace"], li, dt)
            spikes_f, filters["spikes"] = readout_filter_step(z, filters["spikes"], li, dt)
            ones_f, filters["bias"] = readout_filter_step(torch.ones_like(filters["bias"].v), filters["bias"], li, dt)
        else:
            y = drive
        t = self.steps
        error = output_error(t, y) if output_error is not None else None
        z_error = spike_error(t, z) if spike_error is not None else None
        if error is not None or z_error is not None:
            signal = None if error is None else error @ self._feedback()
            gradient = eprop_gradient(signal, filtered, z_error, trace)
            recurrent = gradient[:, x.shape[-1]:]
            if not layer.autapses:
                recurrent.fill_diagonal_(0.0)
            _accumulate(layer.input_weights, gradient[:, : x.shape[-1]])
            _accumulate(layer.recurrent_weights, recurrent)
            if error is not None:
                _accumulate(self.readout.weight, error.transpose(0, 1) @ spikes_f)
                if self.readout.bias is not None:
                    _accumulate(self.readout.bias, error.sum(0) * ones_f)
        self.steps = t + 1
        if self.update_every is not None and self.steps % self.update_every == 0:
            self.on_update(self.steps)
            self._weights = layer._step_args()  # the masked recurrent weights, after the update
        return y

    def _feedback(self) -> torch.Tensor:
        return self.readout.weight if self.feedback_weights is None else self.feedback_weights

    def run(
        self, inputs: torch.Tensor, output_error: Optional[OutputError] = None, spike_error: Optional[SpikeError] = None
    ) -> None:
        """:meth:`reset`, then :meth:`step` over every step of ``inputs`` ``(T, batch,
        input_size)``. The outputs are not kept: read ``y^t`` in ``output_error``."""
        if not isinstance(inputs, torch.Tensor) or inputs.dim() != 3:
            got = tuple(inputs.shape) if isinstance(inputs, torch.Tensor) else type(inputs).__name__
            raise ValueError(f"EProp.run: inputs must be a tensor (T, batch, input_size), got {got}")
        self.reset()
        for t in range(inputs.shape[0]):  # one view at a time (unbind would make all T at once)
            self.step(inputs[t], output_error, spike_error)

    def extra_repr(self) -> str:
        return f"model={self.kind}, feedback={self.feedback}, update_every={self.update_every}"


def _zero_li(like: torch.Tensor) -> LIState:
    return LIState(torch.zeros_like(like), torch.zeros_like(like))


def _accumulate(parameter: torch.Tensor, gradient: torch.Tensor) -> None:
    if parameter.grad is None:
        parameter.grad = gradient.to(parameter.dtype).clone()
    else:
        parameter.grad.add_(gradient)
