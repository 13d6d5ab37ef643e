"""Reset rules after a spike ``z`` (Norse's signature ``reset(z, v, v_reset, v_th) -> v``)::

    reset_value:     v' = (1 - z)*v + z*v_reset
    reset_subtract:  v' = (1 - z)*v + z*(v - v_th)   = v - z*v_th

Box LIF takes either as ``LIFBoxParameters(reset_method=reset_subtract)``, or by name
(``"value"``, ``"subtract"``).
"""

from __future__ import annotations

from typing import Callable, Union

import torch

Scalar = Union[float, torch.Tensor]

#: A reset rule: ``(z, v, v_reset, v_th) -> v'``.
ResetMethod = Callable[[torch.Tensor, torch.Tensor, Scalar, Scalar], torch.Tensor]


def reset_value(z: torch.Tensor, v: torch.Tensor, reset: Scalar, th: Scalar) -> torch.Tensor:
    """Where a neuron spiked its voltage becomes ``reset``: ``(1 - z)*v + z*reset``."""
    return (1 - z) * v + z * reset


def reset_subtract(z: torch.Tensor, v: torch.Tensor, reset: Scalar, th: Scalar) -> torch.Tensor:
    """Where a neuron spiked the threshold is subtracted from its voltage: ``v - z*th``
    (``reset`` is not used)."""
    return v - z * th


#: The reset rules by the names the parameters take.
RESET_FUNCTIONS = {"value": reset_value, "subtract": reset_subtract}


def reset_method_name(method: Union[str, ResetMethod]) -> str:
    """``"value"`` or ``"subtract"`` for a name or one of the two functions; ``ValueError``
    for anything else."""
    for name, function in RESET_FUNCTIONS.items():
        if method == name or method is function:
            return name
    raise ValueError(
        f"unknown reset_method {method!r}; valid: 'value', 'subtract' "
        "(or norse_core.functional.reset.reset_value / reset_subtract)"
    )
