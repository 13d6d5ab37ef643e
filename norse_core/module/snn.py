"""Generic module wrappers around functional step functions.

A neuron model is declared once as a functional step; these wrappers turn it into modules:

==================  ===================  =====================================
                    one step             over time (dim 0)
==================  ===================  =====================================
feed-forward        :class:`SNNCell`     :class:`SNN` (``class LIF(SNN, LIFCell)``)
with input weights  :class:`SNNLinearCell`
recurrent           :class:`SNNRecurrentCell`  :class:`SNN` over a recurrent cell
==================  ===================  =====================================

A concrete cell only declares ``parameters_type``, ``state_type``, ``step`` and the
parameter names that initialise state fields (``initial_values``); everything else
(state creation on the input's device and dtype, input and state checks, weights,
autapse masking, time loops, recorded states) lives here.
"""

from __future__ import annotations

import math
import weakref
from typing import Any, Callable, ClassVar, Iterator, Mapping, NamedTuple, Optional, Sequence, Tuple, Union

import torch
from torch.utils._pytree import tree_map

from norse_core.functional.dynamics import CONFIG_FIELDS, Dynamics
from norse_core.functional.parameters import check_parameters
from norse_core.fused._common import run_kernel
from norse_core.fused.loops import selection_state
from norse_core.utils.state import broadcasts_to, stack_states


InitialValue = Union[str, Callable[[torch.Tensor, Any], Any]]


def fill_state(
    state_type: type, like: torch.Tensor, p: Any, initial_values: Mapping[str, InitialValue]
) -> NamedTuple:
    """A ``state_type`` whose fields are shaped like ``like``: each field starts at the value
    named by ``initial_values[field]`` (a parameter name, or a function ``(like, p)``
    returning a value, a tensor or a nested state) and at 0 when unlisted."""
    fields = []
    for name in state_type._fields:
        source = initial_values.get(name)
        if source is None:
            value: Any = 0.0
        elif callable(source):
            value = source(like, p)
        else:
            value = getattr(p, source)
        if isinstance(value, tuple):  # a nested state, already built
            fields.append(value)
        elif isinstance(value, torch.Tensor):
            fields.append(like + value.detach().to(like))
        elif value == 0.0:
            fields.append(like.clone())
        else:
            fields.append(torch.full_like(like, value))
    return state_type(*fields)


def inner_state(cell: type, field: str) -> Callable[[torch.Tensor, Any], NamedTuple]:
    """Initial-value rule for a state that nests ``cell``'s state, built from ``p.<field>``."""
    return lambda like, p: fill_state(cell.state_type, like, getattr(p, field), cell.initial_values)


def _get_path(p: Any, path: str) -> Any:
    for part in path.split("."):
        if not hasattr(p, "_fields") or part not in p._fields:
            raise ValueError(
                f"trainable parameter {path!r} is not a field of {type(p).__name__} "
                f"(fields: {', '.join(getattr(p, '_fields', ()))})"
            )
        p = getattr(p, part)
    return p


def _replace_path(p: Any, path: str, value: Any) -> Any:
    head, _, rest = path.partition(".")
    if not rest:
        return p._replace(**{head: value})
    return p._replace(**{head: _replace_path(getattr(p, head), rest, value)})


class SNNCell(torch.nn.Module):
    """One step of a feed-forward neuron model: ``forward(x, state=None) -> (out, state)``.

    ``state=None`` starts from the model's initial state, shaped like ``x`` (dtype and
    device of ``x``). Inputs of any shape with at least one dimension are accepted.

    ``trainable=("tau_mem_inv", "v_th")`` turns those parameters (dotted paths for nested
    parameters, e.g. ``"lif.v_th"``) into ``nn.Parameter``s named ``p_<name>``, shared by all
    neurons or, with ``trainable_shape=(n,)``, one per neuron (any shape that broadcasts
    against the state); they are saved in ``state_dict`` and learn with the weights.

    Parameters are checked when the module is built (:func:`~norse_core.functional.parameters.check_parameters`:
    time constants finite, > 0 and ``dt * tau_inv < 1``, ``alpha > 0``, no NaN, a registered
    ``method``...), and again when ``module.p`` is replaced; never while the module runs, so
    trainable parameters are checked at their initial values only.
    """

    parameters_type: ClassVar[type]
    state_type: ClassVar[type]
    step: ClassVar[Callable[..., Tuple[torch.Tensor, Any]]]
    #: state field -> parameter name (or ``(like, p)`` function) giving its initial value;
    #: unlisted fields start at 0.
    initial_values: ClassVar[Mapping[str, InitialValue]] = {}
    _time_dims: ClassVar[int] = 0

    def __init__(
        self,
        p: Optional[NamedTuple] = None,
        dt: float = 0.001,
        *,
        trainable: Sequence[str] = (),
        trainable_shape: Optional[Sequence[int]] = None,
    ):
        super().__init__()
        if p is None:
            p = self.parameters_type()
        if not isinstance(p, self.parameters_type):
            raise TypeError(
                f"{type(self).__name__}: p must be a {self.parameters_type.__name__}, "
                f"got {type(p).__name__}"
            )
        if isinstance(dt, bool) or not isinstance(dt, (int, float)) or not dt > 0 or not math.isfinite(dt):
            raise ValueError(f"{type(self).__name__}: dt must be a positive float, got {dt!r}")
        self.dt = float(dt)
        p = _named_reset(p)
        self._check_parameters(p)
        self._p = p
        if isinstance(trainable, str):
            trainable = (trainable,)
        self._trainable: Tuple[str, ...] = tuple(trainable)
        for path in self._trainable:
            value = _get_path(p, path)
            if isinstance(value, (str, bool)) or not isinstance(value, (int, float, torch.Tensor)):
                raise ValueError(f"{type(self).__name__}: trainable parameter {path!r} must be numeric, got {value!r}")
            tensor = torch.as_tensor(value, dtype=torch.get_default_dtype()).detach().clone()
            if trainable_shape is not None:
                tensor = tensor.expand(tuple(trainable_shape)).clone()
            self.register_parameter("p_" + path.replace(".", "_"), torch.nn.Parameter(tensor))

    @property
    def p(self) -> NamedTuple:
        """The parameters, with trainable ones as the module's current ``nn.Parameter``s."""
        p = self._p
        for path in self._trainable:
            p = _replace_path(p, path, getattr(self, "p_" + path.replace(".", "_")))
        return p

    @p.setter
    def p(self, value: NamedTuple) -> None:
        if not isinstance(value, self.parameters_type):
            raise TypeError(
                f"{type(self).__name__}: p must be a {self.parameters_type.__name__}, got {type(value).__name__}"
            )
        value = _named_reset(value)
        self._check_parameters(value)
        self._p = value

    def _check_parameters(self, p: NamedTuple) -> None:
        """Raises for parameter values the model cannot use at ``self.dt`` (the rules of
        :func:`~norse_core.functional.parameters.check_parameters`; override to add checks)."""
        check_parameters(p, self.dt, name=type(self).__name__)

    def _step_p(self) -> Any:
        """The parameters handed to ``step`` (override when the module's ``p`` wraps them)."""
        return self.p

    # -- state ---------------------------------------------------------------------------
    def state_shape(self, input_tensor: torch.Tensor) -> torch.Size:
        """Shape of every state tensor for one step of ``input_tensor``."""
        return input_tensor.shape

    def initial_state(self, input_tensor: torch.Tensor) -> NamedTuple:
        """The initial state for one step of ``input_tensor`` (its dtype and device)."""
        like = torch.zeros(self.state_shape(input_tensor), dtype=input_tensor.dtype, device=input_tensor.device)
        return fill_state(self.state_type, like, self.p, self.initial_values)

    def _check_state(self, state: Any, input_tensor: torch.Tensor) -> None:
        name = type(self).__name__
        if not isinstance(state, self.state_type):
            raise TypeError(
                f"{name}: state must be a {self.state_type.__name__} "
                f"(fields {', '.join(self.state_type._fields)}) or None, got {type(state).__name__}"
            )
        expected = self.state_shape(input_tensor)
        for field, value in _named_leaves(state):
            if not isinstance(value, torch.Tensor) or value.shape != expected:
                got = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
                raise ValueError(
                    f"{name}: state.{field} has shape {got} but the input of shape "
                    f"{tuple(input_tensor.shape)} needs state tensors of shape {tuple(expected)}; "
                    "pass state=None to start afresh (e.g. when the batch size changes)"
                )
            if value.device != input_tensor.device:
                raise ValueError(
                    f"{name}: state.{field} is on {value.device} but the input is on {input_tensor.device}; "
                    "move the state (or pass state=None to start afresh)"
                )

    def _check_parameter_shapes(self, state_shape: torch.Size) -> None:
        """Raises when a tensor parameter would broadcast the state to a larger shape (a
        parameter must broadcast *to* the state shape, e.g. one value per neuron)."""
        for field, value in _named_leaves(self.p):
            if isinstance(value, torch.Tensor) and value.dim() > 0:
                if not broadcasts_to(value.shape, state_shape):
                    raise ValueError(
                        f"{type(self).__name__}: parameter {field} has shape {tuple(value.shape)}, which does "
                        f"not broadcast to the state shape {tuple(state_shape)} of this input without "
                        "changing it (use a scalar or a shape that broadcasts to the neurons, e.g. "
                        f"{tuple(state_shape[-1:])})"
                    )

    def _check_input(self, input_tensor: Any) -> None:
        name = type(self).__name__
        if not isinstance(input_tensor, torch.Tensor):
            raise TypeError(f"{name}: input must be a torch.Tensor, got {type(input_tensor).__name__}")
        if not input_tensor.is_floating_point():
            raise TypeError(
                f"{name}: input must be a floating point tensor, got dtype {input_tensor.dtype}"
            )
        min_dims = 1 + self._time_dims
        if input_tensor.dim() < min_dims:
            what = "(time, ...)" if self._time_dims else "(...)"
            raise ValueError(
                f"{name}: input must have at least {min_dims} dimension(s) {what}, "
                f"got shape {tuple(input_tensor.shape)}"
            )

    # -- stepping ------------------------------------------------------------------------
    def _step_args(self) -> Tuple[torch.Tensor, ...]:
        """Extra tensors passed to ``step`` between state and parameters (e.g. weights)."""
        return ()

    def _first_step(self, input_tensor: torch.Tensor) -> torch.Tensor:
        """One step of the input (its first; an empty stand-in when there are no steps)."""
        if not self._time_dims:
            return input_tensor
        return input_tensor[0] if input_tensor.shape[0] else input_tensor.new_empty(input_tensor.shape[1:])

    def _prepare(self, input_tensor: torch.Tensor, state: Any) -> Any:
        """Checks the input and returns a checked state (the initial one for ``None``).

        A state field given as a number or a 0-d tensor broadcasts to the state shape (as in
        Norse: ``LIFFeedForwardState(v=0.0, i=0.0)``); any other mismatching shape raises.
        Under grad mode, when neither the input nor a parameter of the module requires grad,
        the initial state's voltage does (as in Norse), so ``out.sum().backward()`` works
        (not inside ``torch.compile``, which cannot trace it)."""
        self._check_input(input_tensor)
        first_step = self._first_step(input_tensor)
        self._check_parameter_shapes(self.state_shape(first_step))
        if state is None:
            state = self.initial_state(first_step)
            if (
                torch.is_grad_enabled()
                and not input_tensor.requires_grad
                and not torch.compiler.is_compiling()  # requires_grad_() cannot be traced
                and not self._has_grad_parameters()
            ):
                state = _voltage_requiring_grad(state)
            return state
        try:
            self._check_state(state, first_step)
        except ValueError:
            broadcast = _broadcast_scalars(state, self.state_shape(first_step), first_step)
            if broadcast is state:
                raise
            self._check_state(broadcast, first_step)
            state = broadcast
        return state

    def _has_grad_parameters(self) -> bool:
        return any(parameter.requires_grad for parameter in self.parameters())

    def _forward_converted(self, input_tensor: Any, state: Any):
        """``forward`` for inputs that are not dense floating point tensors: a bool or integer
        tensor is cast to the module's floating dtype (its first floating parameter's, else
        the default dtype), as Norse's type promotion does; a sparse (COO) input runs dense
        and its output comes back sparse, as in Norse. Under ``torch.autocast`` a
        bfloat16/float16 input runs in float32 (as autocast runs reductions): voltages
        integrated over many steps need its precision, and the compiled fused kernels run; the
        output comes back in the input's dtype (spikes are exact in it), the state stays
        float32. Outside autocast a low-precision input keeps its dtype throughout. Anything
        else raises."""
        if not isinstance(input_tensor, torch.Tensor):
            self._check_input(input_tensor)  # raises the TypeError
        sparse = input_tensor.is_sparse
        dense = input_tensor.to_dense() if sparse else input_tensor
        if not dense.is_floating_point() and not dense.is_complex():
            dtype = next((t.dtype for t in self.parameters() if t.is_floating_point()), torch.get_default_dtype())
            dense = dense.to(dtype)
        low_precision = dense.dtype if _autocast_low_precision(dense) else None
        if low_precision is not None:
            dense, state = _float32(dense), _to_float32(state)
        if not sparse:
            self._check_input(dense)  # complex inputs raise here
        output, state = self.forward(dense, state)
        if low_precision is not None:
            output = output.to(low_precision)
        return (output.to_sparse() if sparse else output), state

    def forward(self, input_tensor: torch.Tensor, state: Optional[NamedTuple] = None):
        if not _dense_float(input_tensor):
            return self._forward_converted(input_tensor, state)
        state = self._prepare(input_tensor, state)
        return type(self).step(input_tensor, state, *self._step_args(), self._step_p(), self.dt)

    def _no_steps(self, input_tensor: torch.Tensor, state: Any) -> Tuple[torch.Tensor, Any]:
        """``(outputs, state)`` for an input of no time steps ``(0, ...)`` and its prepared
        state: empty outputs ``(0, *state shape)`` in the input's dtype and device, and the
        state unchanged (with ``record_states``, the states of no steps: ``(0, *shape)``)."""
        step = input_tensor.new_empty(input_tensor.shape[1:])
        outputs = input_tensor.new_empty((0, *self.state_shape(step)))
        if getattr(self, "record_states", False):
            state = tree_map(lambda t: t.new_empty((0, *t.shape)) if isinstance(t, torch.Tensor) else t, state)
        return outputs, state

    def extra_repr(self) -> str:
        return f"p={self._p}, dt={self.dt}" + (f", trainable={self._trainable}" if self._trainable else "")


class SNNLinearCell(SNNCell):
    """A cell whose input passes through ``input_weights`` ``(hidden_size, input_size)``
    first; inputs are ``(..., input_size)``, states ``(..., hidden_size)``."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        p: Optional[NamedTuple] = None,
        *,
        input_weights: Optional[torch.Tensor] = None,
        dt: float = 0.001,
        **neuron_options: Any,
    ):
        super().__init__(p, dt, **neuron_options)
        for arg, value in (("input_size", input_size), ("hidden_size", hidden_size)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{type(self).__name__}: {arg} must be a positive int, got {value!r}")
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.input_weights = torch.nn.Parameter(
            _weights_or_default(input_weights, (hidden_size, input_size), "input_weights", self)
        )

    def state_shape(self, input_tensor: torch.Tensor) -> torch.Size:
        return torch.Size((*input_tensor.shape[:-1], self.hidden_size))

    def _check_input(self, input_tensor: Any) -> None:
        super()._check_input(input_tensor)
        if input_tensor.shape[-1] != self.input_size:
            raise ValueError(
                f"{type(self).__name__}: input has {input_tensor.shape[-1]} features in its last "
                f"dimension (shape {tuple(input_tensor.shape)}) but input_size is {self.input_size}"
            )
        weights = self.input_weights
        if input_tensor.dtype != weights.dtype and not torch.is_autocast_enabled(input_tensor.device.type):
            raise TypeError(
                f"{type(self).__name__}: input has dtype {input_tensor.dtype} but the weights have dtype "
                f"{weights.dtype}; convert one of them (e.g. module.to({input_tensor.dtype}))"
            )

    def _step_args(self) -> Tuple[torch.Tensor, ...]:
        return (self.input_weights,)

    def extra_repr(self) -> str:
        return f"input_size={self.input_size}, hidden_size={self.hidden_size}, " + super().extra_repr()


class SNNRecurrentCell(SNNLinearCell):
    """A recurrent cell: ``step(x, state, input_weights, recurrent_weights, p, dt)``.

    With ``autapses=False`` (default) the diagonal of ``recurrent_weights`` is masked out,
    so no neuron feeds its own spikes back to itself.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        p: Optional[NamedTuple] = None,
        *,
        autapses: bool = False,
        input_weights: Optional[torch.Tensor] = None,
        recurrent_weights: Optional[torch.Tensor] = None,
        dt: float = 0.001,
        **neuron_options: Any,
    ):
        super().__init__(input_size, hidden_size, p, input_weights=input_weights, dt=dt, **neuron_options)
        self.autapses = bool(autapses)
        weights = _weights_or_default(
            recurrent_weights, (hidden_size, hidden_size), "recurrent_weights", self
        )
        if not self.autapses:
            weights = weights * (1 - torch.eye(hidden_size, dtype=weights.dtype))
        self.recurrent_weights = torch.nn.Parameter(weights)

    def _step_args(self) -> Tuple[torch.Tensor, ...]:
        recurrent = self.recurrent_weights
        if not self.autapses:
            recurrent = recurrent * (
                1 - torch.eye(self.hidden_size, dtype=recurrent.dtype, device=recurrent.device)
            )
        return (self.input_weights, recurrent)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", autapses={self.autapses}"


class SNN(SNNCell):
    """Mixin that runs a cell over time (dim 0): ``class LIF(SNN, LIFCell)``.

    ``forward(x, state=None) -> (outputs, state)`` with ``x`` of shape ``(T, ...)`` and
    outputs ``(T, ...)``. With ``record_states=True`` the returned state holds every
    step's state stacked along time instead of the last one. An input of no steps
    (``T = 0``) gives empty outputs ``(0, ...)`` and the state it was given (or the initial
    state for ``state=None``).

    A layer whose step is an explicit Euler update declares its terms,
    ``dynamics = LIF_DYNAMICS`` (:mod:`norse_core.functional.dynamics`); its ``fused_loop``
    then runs the sequence as one autograd node with a hand-written backward
    (:mod:`norse_core.fused`). Any layer may instead declare ``fused_loop(x, state,
    *step_args, p, dt) -> (outputs, state)`` itself. It runs when ``fused=True`` (default)
    and states are not recorded (and not inside ``torch.compile``, which traces the step
    loop instead), and may return ``NotImplemented`` to fall back to the step-by-step loop.
    """

    _time_dims = 1
    dynamics: ClassVar[Optional[Dynamics]] = None
    fused_loop: ClassVar[Optional[Callable[..., Any]]] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "dynamics" in cls.__dict__ and cls.dynamics is not None and "fused_loop" not in cls.__dict__:
            from norse_core.fused.loops import fused_loop

            cls.fused_loop = staticmethod(fused_loop(cls.dynamics))

    def __init__(self, *args, record_states: bool = False, fused: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        self.record_states = record_states
        self.fused = fused

    def forward(self, input_tensor: torch.Tensor, state: Optional[NamedTuple] = None):
        loop, dynamics = type(self).fused_loop, type(self).dynamics
        key = None
        plannable = dynamics is not None and not (dynamics.recurrent or dynamics.refractory) and hasattr(loop, "choose")
        if state is None and self.fused and plannable and isinstance(input_tensor, torch.Tensor):
            key = self._plan_key(input_tensor)
            plan = _PLANS.get(self)
            if plan is not None and plan.key == key:
                if plan.kernel is not None and not _is_compiling():
                    return self._run_plan(plan, input_tensor)
                key = None  # no plan for this signature: the full path, as before
        if not _dense_float(input_tensor):
            return self._forward_converted(input_tensor, state)
        state = self._prepare(input_tensor, state)
        if input_tensor.shape[0] == 0:
            return self._no_steps(input_tensor, state)
        step, args, p = type(self).step, self._step_args(), self._step_p()
        # Under torch.compile the step loop is traced (and fused by the compiler): the fused
        # kernels are opaque to it (a C++ kernel cannot run on its fake tensors).
        if self.fused and loop is not None and not self.record_states and not torch.compiler.is_compiling():
            if key is not None:
                _PLANS[self] = self._make_plan(key, input_tensor, state, p)
            result = loop(input_tensor, state, *args, p, self.dt)
            if result is not NotImplemented:
                return result
        outputs, states = [], []
        for x in input_tensor.unbind(0):
            out, state = step(x, state, *args, p, self.dt)
            outputs.append(out)
            if self.record_states:
                states.append(state)
        return torch.stack(outputs), stack_states(states) if self.record_states else state

    # -- the plan of a fused call without a state -------------------------------------------
    def _plan_key(self, x: torch.Tensor) -> Tuple[Any, ...]:
        """What a fused call from the initial state depends on besides values: the input's type,
        shape, dtype, device, layout and ``requires_grad``, grad and inference mode, the
        parameters (``p`` by identity, the trainable ones' dtype, device, shape and
        ``requires_grad``), ``dt``, whether states are recorded, and the backends
        (:func:`~norse_core.fused.loops.selection_state`)."""
        parameters = tuple(
            (t.dtype, t.device, t.shape, t.requires_grad) for t in self._parameters.values() if t is not None
        ) if self._parameters else ()
        return (type(x), x.shape, x.dtype, x.device, x.layout, x.requires_grad, _grad_enabled(),
                _inference_mode(), id(self._p), self.dt, self.record_states, selection_state(), parameters)

    def _make_plan(self, key: Tuple[Any, ...], x: torch.Tensor, state: Any, p: Any) -> "_Plan":
        """The plan of a feed-forward layer (not refractory) whose initial state holds numbers
        (``kernel`` None: none, e.g. an initial voltage that must require grad)."""
        none = _Plan(key, self._p, None, None, None, None, None)
        if torch.is_grad_enabled() and not x.requires_grad and not self._has_grad_parameters():
            return none  # _prepare marks the initial voltage as requiring grad
        for name in self.state_type._fields:
            source = self.initial_values.get(name)
            value = 0.0 if source is None else getattr(self.p, source) if isinstance(source, str) else None
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                return none
        chosen = type(self).fused_loop.choose(x, state, p, self.dt)
        if chosen is NotImplemented:
            return none
        kernel, cfg, _ = chosen
        fresh, initial = self._fresh_fields(cfg), self.state_type(*(t.detach() for t in state))
        grad, prepare = torch.is_grad_enabled(), getattr(kernel, "prepare", None)
        run = prepare(cfg, tuple(initial), grad) if prepare and fresh == () and (x.requires_grad or not grad) else None
        return _Plan(key, self._p, kernel, cfg, fresh, initial, run)

    def _fresh_fields(self, cfg: Any) -> Optional[Tuple[Tuple[str, str, bool], ...]]:
        """The config fields a planned call makes again from the trainable parameters, as
        ``(field, parameter attribute, times dt)`` (as ``make_config`` does); ``None`` when a call
        must run ``make_config`` itself (its own ``_step_p``, or any other tensor in the config)."""
        if type(self)._step_p is not SNNCell._step_p:
            return None
        fresh = []
        for field, value in zip(cfg._fields, cfg):
            source, rate = CONFIG_FIELDS.get(field, (None, False))
            if source in self._trainable:
                fresh.append((field, "p_" + source, rate))
            elif isinstance(value, torch.Tensor):
                return None
        return tuple(fresh)

    def _run_plan(self, plan: "_Plan", x: torch.Tensor) -> Tuple[torch.Tensor, Any]:
        """The planned fused call: the config (its trainable fields made again) and the kernel
        (:func:`~norse_core.fused._common.run_kernel`) on the plan's initial state."""
        if plan.run is not None:
            result = run_kernel(plan.kernel, None, x, prepared=plan.run)
            return result[0], self.state_type(*result[1:])
        from norse_core.fused.loops import portable

        cfg = plan.cfg
        if plan.fresh is None:
            cfg = portable.make_config(type(self).dynamics, self._step_p(), self.dt)
        elif plan.fresh:
            dt = self.dt
            cfg = cfg._replace(**{
                field: dt * getattr(self, name) if rate else getattr(self, name) for field, name, rate in plan.fresh
            })
        result = run_kernel(plan.kernel, cfg, x, *plan.state)
        return result[0], self.state_type(*result[1:])


class _Plan(NamedTuple):
    """What a layer's fused call from the initial state decided for one signature
    (:meth:`SNN._plan_key`), so that later calls with it skip the checks and the kernel choice
    (about 0.45 ms of a 3.3 ms LIF forward + backward with cold caches, docs/benchmarks.md):
    the kernel (``None``: no plan), its config, the fields made again per call from the
    trainable parameters (:meth:`SNN._fresh_fields`), the initial state (numbers in every
    field; the kernels only read it) and, where no field is made again, the kernel's call as a
    function of the input (the kernel's ``prepare``, where it has one)."""

    key: Tuple[Any, ...]
    p: Any  # the parameters whose id the key holds, kept alive so that the id stays theirs
    kernel: Any
    cfg: Any
    fresh: Optional[Tuple[Tuple[str, str, bool], ...]]
    state: Any
    run: Optional[Callable[[torch.Tensor], Any]]


_grad_enabled, _inference_mode = torch.is_grad_enabled, torch.is_inference_mode_enabled
_is_compiling = torch.compiler.is_compiling

#: Each layer's plan, weakly keyed by the layer: plans never travel with a copied or pickled module.
_PLANS: "weakref.WeakKeyDictionary[SNN, _Plan]" = weakref.WeakKeyDictionary()


#: Input dtypes whose neuron dynamics run in float32 under ``torch.autocast``
#: (:meth:`SNNCell._forward_converted`).
LOW_PRECISION = (torch.bfloat16, torch.float16)


def _autocast_low_precision(input_tensor: torch.Tensor) -> bool:
    return input_tensor.dtype in LOW_PRECISION and torch.is_autocast_enabled(input_tensor.device.type)


def _dense_float(input_tensor: Any) -> bool:
    """A dense floating tensor that ``forward`` runs as it is (not a low-precision one under
    autocast)."""
    return (
        isinstance(input_tensor, torch.Tensor)
        and input_tensor.is_floating_point()
        and not input_tensor.is_sparse
        and not _autocast_low_precision(input_tensor)
    )


class _CastKeepingTimeBroadcast(torch.autograd.Function):
    """``x.float()`` of an input constant over time (``x.stride(0) == 0``, e.g. a constant
    current expanded over the steps): casts one step and expands it again, so the fused
    kernels read one row instead of a float32 copy of every step. Values and gradient are
    ``x.float()``'s (the incoming gradient cast to ``x``'s dtype)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        ctx.dtype = x.dtype
        return x[0].float().unsqueeze(0).expand(x.shape)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        return grad.to(ctx.dtype)


def _float32(input_tensor: torch.Tensor) -> torch.Tensor:
    """``input_tensor.float()``; one that is constant over time stays a broadcast."""
    if input_tensor.dim() >= 2 and input_tensor.shape[0] > 1 and input_tensor.stride(0) == 0:
        return _CastKeepingTimeBroadcast.apply(input_tensor)
    return input_tensor.float()


def _to_float32(state: Any) -> Any:
    """``state`` (or ``None``) with its low-precision floating tensors in float32."""
    cast = lambda t: t.float() if isinstance(t, torch.Tensor) and t.dtype in LOW_PRECISION else t  # noqa: E731
    return None if state is None else tree_map(cast, state)


def _named_reset(p: Any) -> Any:
    """``p`` with a built-in reset function (Norse's ``reset_value``, ``reset_subtract``) in
    ``reset_method`` replaced by its name, so the fused kernels run it; nested parameters
    (a refractory model's ``lif``) too."""
    fields = getattr(p, "_fields", None)
    if not isinstance(p, tuple) or fields is None:
        return p
    if "reset_method" in fields and callable(p.reset_method):
        from norse_core.functional.reset import RESET_FUNCTIONS

        for name, function in RESET_FUNCTIONS.items():
            if p.reset_method is function:
                return p._replace(reset_method=name)
        return p
    nested = {f: _named_reset(v) for f, v in zip(fields, p) if isinstance(v, tuple) and hasattr(v, "_fields")}
    changed = {f: v for f, v in nested.items() if v is not getattr(p, f)}
    return p._replace(**changed) if changed else p


def _is_scalar(value: Any) -> bool:
    if isinstance(value, torch.Tensor):
        return value.dim() == 0
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _broadcast_scalars(state: Any, shape: torch.Size, like: torch.Tensor) -> Any:
    """``state`` with every number or 0-d tensor field broadcast to ``shape`` (dtype and
    device of ``like``; gradients flow to a 0-d tensor); ``state`` itself if there is none."""
    fields, changed = [], False
    for value in state:
        if isinstance(value, tuple) and hasattr(value, "_fields"):
            new = _broadcast_scalars(value, shape, like)
        elif _is_scalar(value):
            zeros = torch.zeros(shape, dtype=like.dtype, device=like.device)
            new = zeros + (value.to(like.dtype) if isinstance(value, torch.Tensor) else value)
        else:
            new = value
        changed = changed or new is not value
        fields.append(new)
    return type(state)(*fields) if changed else state


def _voltage_requiring_grad(state: Any) -> Any:
    """The (fresh) initial ``state`` with its voltage ``v`` (every ``v`` of nested states)
    marked as requiring grad; all float fields when there is no ``v``."""
    names = [name for name, _ in _named_leaves(state)]
    wanted = [name for name in names if name.rpartition(".")[2] == "v"] or names
    for name, value in _named_leaves(state):
        if name in wanted and isinstance(value, torch.Tensor) and value.is_floating_point() and value.is_leaf:
            value.requires_grad_()
    return state


def _named_leaves(state: Any, prefix: str = "") -> Iterator[Tuple[str, Any]]:
    for field, value in zip(state._fields, state):
        if isinstance(value, tuple) and hasattr(value, "_fields"):
            yield from _named_leaves(value, f"{prefix}{field}.")
        else:
            yield prefix + field, value


def _weights_or_default(
    weights: Optional[torch.Tensor], shape: Tuple[int, int], name: str, owner: torch.nn.Module
) -> torch.Tensor:
    if weights is None:
        return torch.randn(*shape) * math.sqrt(2.0 / shape[0])
    if not isinstance(weights, torch.Tensor) or tuple(weights.shape) != shape:
        got = tuple(weights.shape) if isinstance(weights, torch.Tensor) else type(weights).__name__
        raise ValueError(f"{type(owner).__name__}: {name} must have shape {shape}, got {got}")
    return weights.detach().clone()


#: Norse's name for a layer over time of a recurrent cell; here one class, :class:`SNN`,
#: runs feed-forward and recurrent cells alike (``class LIFRecurrent(SNN, LIFRecurrentCell)``).
SNNRecurrent = SNN
