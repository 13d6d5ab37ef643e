"""Checks of parameter values: :func:`check_parameters`.

The modules call it once when they are built (and when ``module.p`` is replaced), never
while they run; the step functions do not check. The rules go by field name, for the fields
of a parameters ``NamedTuple`` and of every ``NamedTuple`` nested in it (the refractory
wrappers' ``lif``/``lif_adex``, an Izhikevich behaviour's ``p`` and ``s``):

=====================  ========================================================================
field                  allowed values (every element of a tensor, e.g. one value per neuron)
=====================  ========================================================================
``tau*_inv``           finite and > 0, and ``dt * tau_inv < 1``: a forward-Euler step of a
                       decay ``x' = x + dt*tau_inv*(target - x)`` overshoots its target for
                       ``dt*tau_inv > 1`` (oscillates, then diverges beyond 2) and forgets all
                       memory at 1. ``dt * tau_inv = 1`` is allowed where forgetting in one
                       step is a model of its own (:data:`FULL_DECAY_ALLOWED`): the box
                       neurons' ``tau_mem_inv`` (``v' = v_leak + x``, NIR's ``LIF``/``LI``
                       with ``tau = dt``) and the plasticity traces
other ``*_inv``        finite and > 0 (``c_m_inv``, an inverse capacitance)
``alpha``              finite and > 0 (the surrogate's sharpness); any finite value with
                       ``method="heaviside"``, which has no gradient and ignores it
``delta_T``            finite and > 0 (it divides the exponential term)
``rho_reset``          finite and >= 0 (the refractory period in steps)
``method``             a registered surrogate (:func:`~norse_core.functional.threshold.surrogate_methods`)
``reset_method``       ``"value"`` or ``"subtract"`` (or a reset function)
any other number       not NaN (``v_th = inf``, a neuron that never spikes, is allowed)
=====================  ========================================================================
"""

from __future__ import annotations

import math
from typing import Any, Callable, Dict, FrozenSet, Iterator, List, Optional, Tuple

import torch

from norse_core.functional.reset import RESET_METHODS, reset_method_error
from norse_core.functional.threshold import _check_method

#: parameters class name -> inverse time constants that may be ``1/dt`` (``dt * tau_inv = 1``:
#: the variable keeps nothing from the previous step): a box neuron without memory
#: (``v' = v_leak + x``) and plasticity traces that hold only the last step
FULL_DECAY_ALLOWED: Dict[str, FrozenSet[str]] = {
    "LIFBoxParameters": frozenset({"tau_mem_inv"}),
    "LIBoxParameters": frozenset({"tau_mem_inv"}),
    "STDPParameters": frozenset({"tau_pre_inv", "tau_post_inv"}),
    "TsodyksMakramParameters": frozenset({"tau_f_inv", "tau_s_inv", "tau_d_inv"}),
}


def check_parameters(p: Any, dt: float = 0.001, *, name: Optional[str] = None) -> None:
    """Raises ``ValueError`` for parameter values a model cannot run at step ``dt``
    (the rules are in the module docstring); ``name`` (e.g. the module's class) prefixes
    the messages. Nested parameter ``NamedTuple``s are checked too, named by their path
    (``lif.tau_mem_inv``). Every time constant that is too fast for ``dt`` is named in one
    message."""
    prefix = f"{name}: " if name else ""
    if isinstance(dt, bool) or not isinstance(dt, (int, float)) or not dt > 0 or not math.isfinite(dt):
        raise ValueError(f"{prefix}dt must be a positive float, got {dt!r}")
    dt = float(dt)
    too_fast: List[Tuple[str, torch.Tensor, bool]] = []
    for owner, path, value in _fields(p):
        rates = _check_field(owner, path, value, prefix)
        if rates is not None and rates.numel():
            product = dt * float(rates.max())
            full_decay = path.rpartition(".")[2] in FULL_DECAY_ALLOWED.get(type(owner).__name__, ())
            if not (product < 1 or (full_decay and product <= 1)):
                too_fast.append((path, rates, full_decay))
    if too_fast:
        raise ValueError(prefix + _euler_message(too_fast, dt))


def _fields(p: Any, prefix: str = "") -> Iterator[Tuple[Any, str, Any]]:
    """``(the NamedTuple holding it, dotted path, value)`` for every leaf field of ``p``."""
    for field, value in zip(p._fields, p):
        if isinstance(value, tuple) and hasattr(value, "_fields"):
            yield from _fields(value, f"{prefix}{field}.")
        else:
            yield p, prefix + field, value


_POSITIVE = "finite and > 0"


def _numeric_rule(owner: Any, field: str) -> Optional[Tuple[str, Callable[[torch.Tensor], torch.Tensor]]]:
    """The rule (description, elementwise test) of a numeric field of ``owner`` with a rule
    of its own."""
    if field == "alpha" and getattr(owner, "method", None) == "heaviside":
        return "finite (method='heaviside' ignores it)", torch.isfinite
    if field.startswith("tau") and field.endswith("_inv"):
        return f"{_POSITIVE} (an inverse time constant, in 1/s)", lambda v: torch.isfinite(v) & (v > 0)
    if field.endswith("_inv") or field in ("alpha", "delta_T"):
        return _POSITIVE, lambda v: torch.isfinite(v) & (v > 0)
    if field == "rho_reset":
        return "finite and >= 0 (a number of steps)", lambda v: torch.isfinite(v) & (v >= 0)
    return None


def _check_field(owner: Any, path: str, value: Any, prefix: str) -> Optional[torch.Tensor]:
    """Raises for a bad value; returns the values of an inverse time constant (else None)."""
    field = path.rpartition(".")[2]
    if field == "method":
        try:
            _check_method(value)
        except ValueError as error:
            where = "" if path == field else f"{path}: "
            raise ValueError(f"{prefix}{where}{error}") from None
    elif field == "reset_method":
        if not (callable(value) or (isinstance(value, str) and value in RESET_METHODS)):
            raise ValueError(f"{prefix}{reset_method_error(value, path)}")
    elif (rule := _numeric_rule(owner, field)) is not None:
        description, test = rule
        values = _numbers(path, value, prefix, description)
        _require(bool(test(values).all()), path, values, description, prefix)
        if field.startswith("tau") and field.endswith("_inv"):
            return values
    elif (isinstance(value, torch.Tensor) and value.is_floating_point()) or (
        isinstance(value, (int, float)) and not isinstance(value, bool)
    ):
        values = _numbers(path, value, prefix, "a number")
        _require(not bool(torch.isnan(values).any()), path, values, "a number (not NaN)", prefix)
    # anything else (strings, flags, pairs of ints) is not a number the dynamics run on
    return None


def _numbers(path: str, value: Any, prefix: str, rule: str) -> torch.Tensor:
    """``value`` as a tensor (float64 for a Python number), or raises for a non-number."""
    if isinstance(value, torch.Tensor) and not value.is_complex():
        return value.detach()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return torch.tensor(float(value), dtype=torch.float64)
    raise TypeError(f"{prefix}{path} must be a number or a tensor, {rule}; got {value!r}")


def _short(number: float) -> str:
    """``number`` without float noise: ``2.0``, not ``2.0000000000000004``."""
    return repr(float(f"{number:.12g}"))


def _describe(values: torch.Tensor) -> str:
    if values.numel() == 1:
        return _short(float(values.reshape(())))
    nan = int(torch.isnan(values).sum())
    finite = values[~torch.isnan(values)]
    if finite.numel() == 0:
        return f"a tensor of shape {tuple(values.shape)} of NaN"
    shown = f"a tensor of shape {tuple(values.shape)} with values in [{_short(float(finite.min()))}, {_short(float(finite.max()))}]"
    return shown + (f" and {nan} NaN" if nan else "")


def _require(ok: bool, path: str, values: torch.Tensor, rule: str, prefix: str) -> None:
    if not ok:
        raise ValueError(f"{prefix}{path} must be {rule}, got {_describe(values)}")


def _euler_message(too_fast: List[Tuple[str, torch.Tensor, bool]], dt: float) -> str:
    """``dt * tau_mem_inv = 0.02 * 100.0 = 2.0 must be < 1 ...; use a smaller dt ...``."""
    products = []
    for path, rates, _ in too_fast:
        which = f" (the largest of its {rates.numel()} values)" if rates.numel() > 1 else ""
        largest = float(rates.max())
        products.append(f"dt * {path} = {_short(dt)} * {_short(largest)}{which} = {_short(dt * largest)}")
    fields = [path.rpartition(".")[2] for path, _, _ in too_fast]
    fastest = max(float(rates.max()) for _, rates, _ in too_fast)
    if all(full_decay for _, _, full_decay in too_fast):
        bound, below = "<= 1 for a stable Euler step", "at most"
    else:
        bound, below = "< 1 for a stable Euler step", "below"
    slower = (
        f"a slower time constant (a smaller {fields[0]})" if len(fields) == 1
        else f"slower time constants (smaller {', '.join(fields)})"
    )
    listed = products[0] if len(products) == 1 else ", ".join(products[:-1]) + " and " + products[-1]
    return f"{listed} must be {bound}; use a smaller dt ({below} {_short(1 / fastest)}) or {slower}"
