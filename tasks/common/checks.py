"""Numerical checks of a training run: :class:`NonFiniteCheck` stops at the first NaN or
infinity naming the layer; :class:`HealthCheck` warns, after the first validation, about
spiking layers that are almost silent, saturated, or whose voltages sit where the surrogate
gradient vanishes."""

from __future__ import annotations

import warnings
from typing import Any, Dict, List, Mapping, Optional, Tuple

import pytorch_lightning as pl
import torch
from torch import nn

from tasks.common.builders import find_setting


class NonFiniteError(FloatingPointError):
    """Training produced a NaN or infinity (see :class:`NonFiniteCheck`)."""


def _leaves(value: Any, path: str = "output") -> List[Tuple[str, torch.Tensor]]:
    """``(path, tensor)`` for every floating-point tensor in a (nested) output or state."""
    if isinstance(value, torch.Tensor):
        return [(path, value)] if value.is_floating_point() else []
    if isinstance(value, tuple) and hasattr(value, "_fields"):  # a state
        return [leaf for name, v in zip(value._fields, value) for leaf in _leaves(v, f"{path}.{name}")]
    if isinstance(value, (list, tuple)):
        return [leaf for k, v in enumerate(value) for leaf in _leaves(v, f"{path}[{k}]")]
    if isinstance(value, Mapping):
        return [leaf for k, v in value.items() for leaf in _leaves(v, f"{path}[{k!r}]")]
    return []


def _quick_flag(tensors: List[torch.Tensor]) -> Optional[torch.Tensor]:
    """A 0-dim tensor that is non-finite if any of ``tensors`` holds a NaN or infinity: one
    sum per tensor, no device sync (a sum of huge finite values may overflow: a false alarm
    that the precise check afterwards clears)."""
    sums = [t.detach().sum(dtype=torch.float32 if t.element_size() < 4 else None).float() for t in tensors if t.numel()]
    return torch.stack(sums).sum() if sums else None


def _non_finite(tensor: torch.Tensor) -> bool:
    return not bool(torch.isfinite(tensor.detach()).all())


class NonFiniteCheck(pl.Callback):
    """Stops training at the first NaN or infinity, naming the step and the layer.

    Every training step: the loss is checked before the backward pass and, with
    ``check_states`` (default), the outputs and states of every neuron layer (one fused sum
    per tensor, one device sync per step). On a non-finite value the batch's forward runs
    again (no gradients, random generators and buffers put back) with hooks on every module,
    and :class:`NonFiniteError` names the global step, epoch and batch and the first module,
    in execution order, whose output or state is not finite: its qualified name (e.g.
    ``net.body.0``), its type, the non-finite parts (``output[0]``, ``output[1].v``, ...) and
    whether its inputs and parameters were finite. The optimizer never steps on non-finite
    gradients. For the operation that made the value, run with ``debug=anomaly``."""

    def __init__(self, check_states: bool = True) -> None:
        super().__init__()
        self.check_states = bool(check_states)
        self._handles: List[Any] = []
        self._mode = "off"  # "step": quick flags of neuron layers; "diagnose": every module, precisely
        self._flags: List[Tuple[str, torch.Tensor]] = []
        self._records: List[Tuple[str, nn.Module, List[str], List[bool], bool]] = []
        self._batch: Any = None
        self._batch_idx = 0

    # -- hooks ---------------------------------------------------------------------------
    def _hook(self, name: str, is_neuron: bool):
        def hook(module: nn.Module, inputs: Any, output: Any) -> None:
            if self._mode == "step" and is_neuron:
                flag = _quick_flag([t for _, t in _leaves(output)])
                if flag is not None:
                    self._flags.append((name, flag))
            elif self._mode == "diagnose":
                leaves = _leaves(output)
                bad = [_non_finite(t) for _, t in leaves]
                input_bad = any(_non_finite(t) for _, t in _leaves(inputs, "input"))
                self._records.append((name, module, [p for p, _ in leaves], bad, input_bad))

        return hook

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        from norse_core.module.snn import SNNCell

        self._remove()
        for name, module in pl_module.named_modules():
            is_neuron = isinstance(module, SNNCell)
            if name and (is_neuron or not any(True for _ in module.children())):
                self._handles.append(module.register_forward_hook(self._hook(name, is_neuron)))

    def _remove(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles, self._flags, self._records, self._mode = [], [], [], "off"

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._remove()

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        self._remove()

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int):
        self._flags = []
        self._mode = "step" if self.check_states else "off"
        self._batch, self._batch_idx = batch, batch_idx

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self._mode, self._flags, self._batch = "off", [], None

    # -- the check -----------------------------------------------------------------------
    def on_before_backward(self, trainer: pl.Trainer, pl_module: pl.LightningModule, loss: torch.Tensor) -> None:
        self._mode = "off"
        values = [loss.detach().float().sum()] + [flag for _, flag in self._flags]
        if bool(torch.isfinite(torch.stack([v.to(values[0].device) for v in values]).sum())):
            self._flags = []
            return  # the common case: one sync, nothing more
        loss_bad = _non_finite(loss)
        first = self._diagnose(pl_module)
        if not loss_bad and first is None:  # a finite sum overflowed: a false alarm
            self._flags = []
            return
        raise NonFiniteError(self._message(trainer, loss, loss_bad, first))

    def _diagnose(self, pl_module: pl.LightningModule) -> Optional[int]:
        """Runs the batch's forward again with every hook on (without gradients, logging or
        lasting side effects); the index of the first record with a non-finite output."""
        self._records = []
        if self._batch is None:
            return None
        rng = torch.get_rng_state()
        cuda_rng = torch.cuda.get_rng_state_all() if torch.cuda.is_available() and torch.cuda.is_initialized() else None
        buffers = {name: b.detach().clone() for name, b in pl_module.named_buffers()}
        log = pl_module.log
        pl_module.log = lambda *args, **kwargs: None  # type: ignore[method-assign]
        self._mode = "diagnose"
        try:
            with torch.no_grad():
                pl_module.training_step(self._batch, self._batch_idx)
        except Exception:  # noqa: BLE001 - the diagnosis must not hide the non-finite value
            pass
        finally:
            self._mode = "off"
            pl_module.log = log  # type: ignore[method-assign]
            with torch.no_grad():
                for name, b in pl_module.named_buffers():
                    if name in buffers:
                        b.copy_(buffers[name])
            torch.set_rng_state(rng)
            if cuda_rng is not None:
                torch.cuda.set_rng_state_all(cuda_rng)
        for k, (_, _, _, bad, _) in enumerate(self._records):
            if any(bad):
                return k
        return None

    def _message(self, trainer: pl.Trainer, loss: torch.Tensor, loss_bad: bool, first: Optional[int]) -> str:
        where = f"at global step {trainer.global_step} (epoch {trainer.current_epoch}, batch {self._batch_idx})"
        value = float(loss.detach().float().reshape(-1)[0]) if loss.numel() else float("nan")
        head = f"non-finite loss ({value}) {where}" if loss_bad else f"non-finite output or state {where}"
        batch_bad = self._batch is not None and any(_non_finite(t) for _, t in _leaves(self._batch, "batch"))
        if first is None:
            if batch_bad:
                detail = "the input batch is not finite"
            elif self._flags:
                detail = (f"layer {self._flags[0][0]!r} had a non-finite output or state, which running the batch "
                          "again did not reproduce")
            else:
                detail = "every module output and state was finite: the loss computation itself produced it"
            return f"{head}: {detail}."
        name, module, paths, bad, input_bad = self._records[first]
        bad_paths = [p for p, b in zip(paths, bad) if b]
        bad_params = [n for n, p in module.named_parameters() if _non_finite(p)]
        origin = "its input was already non-finite" if input_bad else "its inputs were finite"
        if bad_params:
            origin += f"; non-finite parameters: {', '.join(bad_params)}"
        if batch_bad:
            origin += "; the input batch itself is not finite"
        return (f"{head}: the first layer with a non-finite output or state is {name!r} "
                f"({type(module).__name__}; non-finite: {', '.join(bad_paths[:6])}); {origin}. "
                "Run with debug=anomaly to find the operation.")


# -- training health: silent, saturated, outside the surrogate's support ----------------------
class HealthWarning(UserWarning):
    """A spiking layer is almost silent, saturated, or its voltages sit outside the
    surrogate's support (see :class:`HealthCheck`)."""


def _threshold_distance(module: nn.Module, state: Any) -> Optional[torch.Tensor]:
    """``v - v_th``, the argument of the layer's spike threshold (for LSNN layers ``v - b``,
    the adaptive threshold); None for a layer without a voltage or threshold."""
    from norse_core.module.lsnn import LSNNCell, LSNNRecurrentCell

    v = find_setting(state, "v")
    if isinstance(module, (LSNNCell, LSNNRecurrentCell)):
        v_th = state.b
    else:
        v_th = find_setting(module.p, ("v_th", "v_thresh"))
    if not isinstance(v, torch.Tensor) or v_th is None:
        return None
    return v.detach() - (v_th.detach() if isinstance(v_th, torch.Tensor) else v_th)


def support_width(method: str, alpha: float, level: float = 0.01) -> float:
    """The largest ``|x|`` with ``s(x, alpha) >= level * s(0, alpha)`` (``s`` the surrogate
    derivative of ``method``; 0 for a surrogate without gradient, e.g. ``heaviside``)."""
    from norse_core.functional.threshold import surrogate_derivative

    s = surrogate_derivative(method)
    peak = float(s(torch.zeros(()), alpha))
    if peak <= 0:
        return 0.0

    def inside(x: float) -> bool:
        return float(s(torch.tensor(x, dtype=torch.float64), alpha)) >= level * peak

    grid = [10.0 ** (k / 10) for k in range(-80, 81)]  # 1e-8 .. 1e8, then bisection
    low = max((x for x in grid if inside(x)), default=0.0)
    high = next((x for x in grid if x > low), low)
    for _ in range(60):
        middle = 0.5 * (low + high)
        low, high = (middle, high) if inside(middle) else (low, middle)
    return low


class _LayerStats:
    """Running sums of one spiking layer: spikes and outputs, and threshold distances."""

    def __init__(self, module: nn.Module, method: str, alpha: Any):
        self.module, self.method, self.alpha = module, method, float(torch.as_tensor(alpha).float().mean())
        self.width = support_width(method, self.alpha)
        self.spikes = self.outputs = self.inside = self.voltages = self.distance = 0

    def add(self, output: torch.Tensor, distance: Optional[torch.Tensor]) -> None:
        self.spikes += (output.detach() != 0).sum()
        self.outputs += output.numel()
        if distance is not None and self.width > 0:
            self.inside += (distance.abs() <= self.width).sum()
            self.voltages += distance.numel()
            self.distance += distance.float().sum()


class HealthCheck(pl.Callback):
    """Warns (:class:`HealthWarning`, once per layer) about spiking layers that will not learn
    well, measured during the first validation after training started (not the sanity check: a
    fresh network may start silent and train out of it in a few steps) with forward
    hooks on every norse_core layer that spikes through a surrogate (its parameters name a
    ``method``); the hooks are removed afterwards, so later epochs cost nothing.

    With ``r`` the fraction of neuron-steps that spike (mean of the layer's output ``!= 0``):

    * almost silent: ``r < silent`` (0.1%): raise its input current or lower its threshold;
    * saturated: ``r > saturated`` (90% of the neurons fire every step): the opposite;
    * outside the surrogate's support: fewer than ``min_in_support`` (1%) of its membrane
      voltages lie within ``w`` of the threshold, ``|v - v_th| <= w``, where ``w`` is the width
      in which the surrogate derivative is at least 1% of its peak (:func:`support_width`;
      0.09 for ``super`` with alpha 100), so its gradients vanish: widen the surrogate (a
      smaller ``surrogate.alpha``) or bring the voltages near the threshold. Voltages are the
      layer's returned state (for a layer over time: its last step's, after the reset).

    ``gain`` and ``threshold`` name the task's settings the warning suggests; a layer the task
    names (``neuron_layers()`` of a :class:`~tasks.common.module.SpikingTask`: ``fc1``) is
    warned about by that name, and when some layers are fine, its own threshold setting is
    suggested (``<layers>.fc1.v_th``, ``net.layers.fc1.v_th``) instead of the one for all."""

    def __init__(self, silent: float = 0.001, saturated: float = 0.9, min_in_support: float = 0.01,
                 gain: str = "net.gain", threshold: str = "net.neuron.v_th", layers: str = "net.layers") -> None:
        super().__init__()
        for name, value in (("silent", silent), ("saturated", saturated), ("min_in_support", min_in_support)):
            if not 0.0 <= float(value) <= 1.0:
                raise ValueError(f"HealthCheck: {name} must be a fraction in [0, 1], got {value!r}")
        self.silent, self.saturated, self.min_in_support = float(silent), float(saturated), float(min_in_support)
        self.gain, self.threshold, self.layers = str(gain), str(threshold), str(layers)
        self._done = False
        self._active = False
        self._handles: List[Any] = []
        self._stats: Dict[str, _LayerStats] = {}
        self._names: Dict[str, str] = {}  # module name -> the task's name of the layer

    def _hook(self, stats: _LayerStats):
        def hook(module: nn.Module, inputs: Any, output: Any) -> None:
            if self._active and isinstance(output, tuple) and len(output) == 2 and isinstance(output[0], torch.Tensor):
                stats.add(output[0], _threshold_distance(module, output[1]))

        return hook

    def on_validation_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        from norse_core.module.snn import SNNCell

        if self._done or self._handles or trainer.sanity_checking or not trainer.is_global_zero:
            return
        named = getattr(pl_module, "neuron_layers", dict)()
        names = {id(module): name for name, module in named.items()}
        for name, module in pl_module.named_modules():
            if id(module) in names:
                self._names[name] = names[id(module)]
            p = module.p if isinstance(module, SNNCell) else None
            method, alpha = find_setting(p, "method"), find_setting(p, "alpha")
            if isinstance(method, str) and alpha is not None:
                stats = self._stats[name] = _LayerStats(module, method, alpha)
                self._handles.append(module.register_forward_hook(self._hook(stats)))

    def on_validation_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0) -> None:
        self._active = bool(self._handles)

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        self._active = False

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not self._handles:
            return
        stats, names, self._stats = self._stats, self._names, {}
        self._remove()
        self._done = True
        flagged = [name for name, layer in stats.items() if self.problems(layer)]
        alone = len(flagged) < len(stats)  # some layers are fine: suggest the flagged ones' own settings
        for name in flagged:
            layer, own = stats[name], names.get(name)
            problems = self.problems(layer, own if alone else None)
            title = f"{own!r} ({name}, {type(layer.module).__name__})" if own else f"{name!r} ({type(layer.module).__name__})"
            warnings.warn(f"spiking layer {title} at the first validation: " + "; ".join(problems), HealthWarning)

    def problems(self, layer: _LayerStats, name: Optional[str] = None) -> List[str]:
        """What is wrong with ``layer`` (empty when nothing is, or nothing was measured); the
        threshold setting suggested is the layer's own (``net.layers.<name>.v_th``) given its ``name``."""
        found = []
        threshold = self._threshold_setting(layer)
        if name is not None:
            threshold = f"{self.layers}.{name}.{threshold.rsplit('.', 1)[-1]}"
        if layer.outputs:
            rate = float(layer.spikes) / layer.outputs
            if rate < self.silent:
                found.append(f"almost silent, {rate:.3%} of its neurons fire per step (below {self.silent:.1%}): "
                             f"raise its input current ({self.gain}; the encoder's scale for the first layer) "
                             f"or lower its threshold ({threshold})")
            elif rate > self.saturated:
                found.append(f"saturated, {rate:.1%} of its neurons fire every step (above {self.saturated:.0%}): "
                             f"lower its input current ({self.gain}) or raise its threshold ({threshold})")
        if layer.voltages:
            inside = float(layer.inside) / layer.voltages
            if inside < self.min_in_support:
                mean = float(layer.distance) / layer.voltages
                found.append(f"its membrane voltages sit outside the surrogate's support, {inside:.2%} of them within "
                             f"{layer.width:.3g} of the threshold where the surrogate ({layer.method}, alpha "
                             f"{layer.alpha:g}) is at least 1% of its peak (mean v - v_th = {mean:.3g}), "
                             "so its gradients vanish: widen the surrogate (a smaller surrogate.alpha) or bring the "
                             f"voltages near the threshold ({self.gain}, {threshold})")
        return found

    def _threshold_setting(self, layer: _LayerStats) -> str:
        """The threshold setting to suggest, named by the layer's own field (CobaLIF's
        ``v_thresh`` where the configured name ends in ``v_th``)."""
        fields = getattr(layer.module.p, "_fields", ())
        if self.threshold.endswith(".v_th") and "v_th" not in fields and "v_thresh" in fields:
            return self.threshold[: -len("v_th")] + "v_thresh"
        return self.threshold

    def _remove(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles, self._active, self._names = [], False, {}

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        self._remove()
