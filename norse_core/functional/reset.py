"""Reset rules after a spike ``z`` (Norse's signature ``reset(z, v, v_reset, v_th) -> v``)::

    reset_value:     v' = (1 - z)*v + z*v_reset
    reset_subtract:  v' = (1 - z)*v + z*(v - v_th)   = v - z*v_th

Every spiking model whose reset sets the voltage alone (LIF, LIFBox, LIFEx, LIFAdEx, LSNN,
IAF, CobaLIF and their refractory, recurrent and multi-compartment variants) takes either as
``reset_method`` in its parameters, by name (``"value"``, the default, or ``"subtract"``) or
as a function; its step function applies it with :func:`apply_reset`.
"""

from __future__ import annotations

from typing import Any, Callable, Union

import torch

Scalar = Union[float, torch.Tensor]

#: A reset rule: ``(z, v, v_reset, v_th) -> v'``.
ResetMethod = Callable[[torch.Tensor, torch.Tensor, Scalar, Scalar], torch.Tensor]

#: The names ``reset_method`` takes (the fused kernels run these two).
RESET_METHODS = ("value", "subtract")


def reset_value(z: torch.Tensor, v: torch.Tensor, reset: Scalar, th: Scalar) -> torch.Tensor:
    """Where a neuron spiked its voltage becomes ``reset``: ``(1 - z)*v + z*reset``."""
    return (1 - z) * v + z * reset


def reset_subtract(z: torch.Tensor, v: torch.Tensor, reset: Scalar, th: Scalar) -> torch.Tensor:
    """Where a neuron spiked the threshold is subtracted from its voltage: ``v - z*th``
    (``reset`` is not used)."""
    return v - z * th


#: The reset rules by the names the parameters take.
RESET_FUNCTIONS = {"value": reset_value, "subtract": reset_subtract}


def reset_method_error(value: Any, path: str = "reset_method") -> ValueError:
    """The error for a ``reset_method`` that is neither a name of :data:`RESET_METHODS` nor a
    function (``path``: the field's name, e.g. ``lif.reset_method``)."""
    return ValueError(
        f"unknown {path} {value!r}; valid: {', '.join(RESET_METHODS)} or a function "
        "(z, v, v_reset, v_th) -> v such as norse_core.functional.reset.reset_subtract"
    )


def apply_reset(method: Union[str, ResetMethod], z: torch.Tensor, v: torch.Tensor, v_reset: Scalar, v_th: Scalar) -> torch.Tensor:
    """The voltage after the reset of the neurons that spiked (``z``), by a parameters'
    ``reset_method``: ``"value"`` ``(1 - z)*v + z*v_reset``, ``"subtract"`` ``v - z*v_th``,
    or a function ``method(z, v, v_reset, v_th)``; ``ValueError`` for anything else. ``v`` is
    the voltage before the reset, ``v_th`` the model's threshold parameter."""
    if method == "value":
        return reset_value(z, v, v_reset, v_th)
    if method == "subtract":
        return reset_subtract(z, v, v_reset, v_th)
    if callable(method):
        return method(z, v, v_reset, v_th)
    raise reset_method_error(method)


def reset_method_name(method: Union[str, ResetMethod]) -> str:
    """``"value"`` or ``"subtract"`` for a name or one of the two functions; ``ValueError``
    for anything else."""
    for name, function in RESET_FUNCTIONS.items():
        if method == name or method is function:
            return name
    raise reset_method_error(method)
