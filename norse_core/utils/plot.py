"""Plot helpers: spike rasters, state traces and Izhikevich firing patterns.

matplotlib is imported inside the functions, so ``import norse_core`` does not need it.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import torch

from norse_core.functional.izhikevich import IzhikevichSpikingBehavior, izhikevich_feed_forward_step  # noqa: F401 (Norse's names here)

Current = Union[None, str, float, int, torch.Tensor, Sequence[float], Any]


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError("norse_core.utils.plot needs matplotlib: pip install matplotlib") from error
    return plt


def _as_traces(tensor: Any, what: str) -> torch.Tensor:
    """``(T,)`` or ``(T, ...)`` -> a detached float ``(T, N)`` CPU tensor."""
    if not isinstance(tensor, torch.Tensor):
        raise TypeError(f"{what} must be a torch.Tensor, got {type(tensor).__name__}")
    if tensor.dim() == 0:
        raise ValueError(f"{what} needs a time dimension (dim 0), got a 0-d tensor")
    return tensor.detach().to("cpu", torch.float64).reshape(tensor.shape[0], -1)


def plot_spikes_2d(spikes: torch.Tensor, axes: Any = None, **kwargs: Any) -> Any:
    """Raster plot of ``spikes`` ``(T, N)`` (dims after the first are flattened into neurons):
    a tick at ``(t, n)`` for every nonzero entry; time steps on x, neurons on y.

    ``kwargs`` go to ``Axes.scatter`` (defaults: black ``|`` markers). Returns the Axes."""
    traces = _as_traces(spikes, "spikes")
    if axes is None:
        _, axes = _pyplot().subplots()
    steps, neurons = traces.shape
    t, n = torch.nonzero(traces, as_tuple=True)
    style: Dict[str, Any] = {"marker": "|", "color": "black", "s": 30, "linewidths": 1}
    style.update(kwargs)
    axes.scatter(t.numpy(), n.numpy(), **style)
    axes.set_xlim(-0.5, steps - 0.5)
    axes.set_ylim(-0.5, neurons - 0.5)
    axes.set_xlabel("time step")
    axes.set_ylabel("neuron")
    return axes



def plot_heatmap_2d(data: torch.Tensor, axes: Any = None, show_colorbar: bool = False, **kwargs: Any) -> Any:
    """Heatmap of 2-D ``data`` ``(X, Y)`` with ``imshow`` (``kwargs`` go to it; transposed
    so that the first dimension runs along x, like time in :func:`plot_spikes_2d`). Returns
    the image."""
    if not isinstance(data, torch.Tensor) or data.dim() != 2:
        got = tuple(data.shape) if isinstance(data, torch.Tensor) else type(data).__name__
        raise ValueError(f"plot_heatmap_2d needs a 2-D tensor, got {got}")
    if axes is None:
        axes = _pyplot().gca()
    style: Dict[str, Any] = {"aspect": "auto", "interpolation": "none", "origin": "lower"}
    style.update(kwargs)
    image = axes.imshow(data.detach().cpu().T.numpy(), **style)
    if show_colorbar:
        axes.figure.colorbar(image, ax=axes)
    return image


def plot_histogram_2d(spikes: torch.Tensor, axes: Any = None, **kwargs: Any) -> Any:
    """Histogram of the values of ``spikes`` (any shape, flattened; e.g. a voltage),
    ``kwargs`` to ``Axes.hist``. Returns the Axes."""
    if not isinstance(spikes, torch.Tensor):
        raise TypeError(f"plot_histogram_2d needs a tensor, got {type(spikes).__name__}")
    if axes is None:
        axes = _pyplot().gca()
    axes.hist(spikes.detach().cpu().flatten().numpy(), **kwargs)
    return axes

def _leaves(state: Any, prefix: str = "") -> List[Tuple[str, Any]]:
    leaves: List[Tuple[str, Any]] = []
    for field, value in zip(state._fields, state):
        if isinstance(value, tuple) and hasattr(value, "_fields"):
            leaves.extend(_leaves(value, f"{prefix}{field}."))
        else:
            leaves.append((prefix + field, value))
    return leaves


def plot_neuron_states(states: Any, axes: Any = None, labels: Optional[Sequence[str]] = None) -> Any:
    """Traces over time, one line per neuron, of a ``(T, N)`` tensor (returns its Axes) or
    of a NamedTuple of stacked states such as ``LIF(record_states=True)`` returns (one Axes
    per field, y-labelled with the field name; returns the list). ``labels`` name the
    neurons in a legend; ``axes`` is one Axes, or one per field."""
    if isinstance(states, torch.Tensor):
        named = [("", states)]
    elif isinstance(states, tuple) and hasattr(states, "_fields"):
        named = [(name, value) for name, value in _leaves(states) if isinstance(value, torch.Tensor)]
        if not named:
            raise ValueError(f"{type(states).__name__} holds no tensors to plot")
    else:
        raise TypeError(
            f"states must be a (T, N) tensor or a NamedTuple of stacked states, got {type(states).__name__}"
        )
    if axes is None:
        _, grid = _pyplot().subplots(len(named), 1, sharex=True, squeeze=False)
        axes_list = [row[0] for row in grid]
    else:
        if hasattr(axes, "flat"):  # a numpy array of Axes
            axes_list = list(axes.flat)
        else:
            axes_list = list(axes) if isinstance(axes, (list, tuple)) else [axes]
        if len(axes_list) != len(named):
            raise ValueError(f"got {len(axes_list)} Axes for {len(named)} state field(s)")
    for ax, (name, value) in zip(axes_list, named):
        traces = _as_traces(value, f"states.{name}" if name else "states")
        if labels is not None and len(labels) != traces.shape[1]:
            raise ValueError(f"got {len(labels)} labels for {traces.shape[1]} neurons")
        for n in range(traces.shape[1]):
            ax.plot(traces[:, n].numpy(), label=None if labels is None else labels[n])
        if name:
            ax.set_ylabel(name)
        if labels is not None:
            ax.legend()
    axes_list[-1].set_xlabel("time step")
    return axes_list[0] if isinstance(states, torch.Tensor) else axes_list


def _behavior_and_name(behavior: Any) -> Tuple[Any, Optional[str]]:
    from norse_core.functional.izhikevich import IZHIKEVICH_BEHAVIORS, IzhikevichSpikingBehavior

    if isinstance(behavior, str):
        if behavior not in IZHIKEVICH_BEHAVIORS:
            raise ValueError(
                f"unknown Izhikevich behaviour {behavior!r}; known: {', '.join(IZHIKEVICH_BEHAVIORS)}"
            )
        return IZHIKEVICH_BEHAVIORS[behavior], behavior
    if not isinstance(behavior, IzhikevichSpikingBehavior):
        raise TypeError(
            f"behavior must be an IzhikevichSpikingBehavior or a preset name, got {type(behavior).__name__}"
        )
    for name, preset in IZHIKEVICH_BEHAVIORS.items():
        if preset is behavior:
            return behavior, name
    return behavior, None


def _izhikevich_current(
    behavior: Any, current: Current = None, steps: Optional[int] = None, dt: float = 0.001
) -> torch.Tensor:
    """The input current ``(steps,)`` of :func:`plot_izhikevich` (see there for ``current``)."""
    from norse_core.functional.izhikevich import IZHIKEVICH_PROTOCOLS, IzhikevichProtocol

    behavior, name = _behavior_and_name(behavior)
    step_ms = float(behavior.p.tau_inv) * dt
    if current is None:
        if name is None:
            raise ValueError("current is required for a behaviour that is not one of the presets")
        current = IZHIKEVICH_PROTOCOLS[name]
    if isinstance(current, str):
        if current not in IZHIKEVICH_PROTOCOLS:
            raise ValueError(f"no protocol named {current!r}; known: {', '.join(IZHIKEVICH_PROTOCOLS)}")
        current = IZHIKEVICH_PROTOCOLS[current]
    if isinstance(current, IzhikevichProtocol):
        return current.current(step_ms, steps)
    if isinstance(current, (int, float)) and not isinstance(current, bool):
        n = 400 if steps is None else int(steps)
        trace = torch.zeros(n)
        trace[n // 10:] = float(current)
        return trace
    trace = torch.as_tensor(current, dtype=torch.float32).detach().cpu()
    if trace.dim() != 1 or len(trace) == 0:
        raise ValueError(f"a current trace must be 1-D (one value per step), got shape {tuple(trace.shape)}")
    if steps is not None and steps != len(trace):
        raise ValueError(f"steps={steps} but the current trace has {len(trace)} steps")
    return trace


def plot_izhikevich(
    behavior: Any,
    current: Current = None,
    steps: Optional[int] = None,
    axes: Any = None,
    dt: float = 0.001,
) -> Tuple[Any, Any]:
    """Runs an Izhikevich firing pattern under an input current and plots the membrane
    potential (spikes drawn up to ``v_th``) with the current beneath it on a twin y-axis.

    ``behavior``: an :class:`~norse_core.IzhikevichSpikingBehavior` or a preset name.
    ``current``: ``None`` (the preset's protocol from ``IZHIKEVICH_PROTOCOLS``), a protocol
    or its name, a number (a step of that size after the first tenth of ``steps``, 400 by
    default) or a 1-D per-step trace. Time is in model milliseconds (``tau_inv*dt`` per step).
    Returns ``(voltage_axes, current_axes)``."""
    from norse_core.module.izhikevich import Izhikevich

    behavior, name = _behavior_and_name(behavior)
    trace = _izhikevich_current(behavior, current, steps, dt)
    with torch.no_grad():
        spikes, states = Izhikevich(behavior, dt=dt, record_states=True)(trace[:, None])
    v_th = float(behavior.p.v_th)
    v = torch.where(spikes[:, 0] > 0, torch.full_like(states.v[:, 0], v_th), states.v[:, 0])
    t = torch.arange(len(trace), dtype=torch.float64) * float(behavior.p.tau_inv) * dt
    if axes is None:
        _, axes = _pyplot().subplots(figsize=(5, 3))
    axes.plot(t.numpy(), v.numpy(), color="black", linewidth=0.8)
    v_lo, v_hi = float(v.min()), max(float(v.max()), v_th)
    span = max(v_hi - v_lo, 1.0)
    axes.set_ylim(v_lo - 0.45 * span, v_hi + 0.05 * span)
    axes.set_xlim(float(t[0]), float(t[-1]))
    axes.set_xlabel("time (model ms)")
    axes.set_ylabel("v (mV)")
    if name is not None:
        axes.set_title(name.replace("_", " "))
    current_axes = axes.twinx()
    current_axes.plot(t.numpy(), trace.numpy(), color="tab:orange", linewidth=0.8)
    i_lo, i_hi = float(trace.min()), float(trace.max())
    i_span = max(i_hi - i_lo, 1e-3)
    current_axes.set_ylim(i_lo - 0.05 * i_span, i_lo + i_span / 0.28)
    ticks = [i_lo, i_hi] if i_hi > i_lo else [i_lo]
    current_axes.set_yticks(ticks, labels=[f"{tick:.3g}" for tick in ticks])
    current_axes.tick_params(axis="y", colors="tab:orange", labelsize="small")
    return axes, current_axes
