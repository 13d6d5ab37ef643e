"""Checks of constructor arguments shared by the tasks' data modules and LightningModules.

Each returns the value (as the checked type) or raises a ``ValueError`` naming the argument,
the bad value and what is allowed, e.g. ``shift must be an integer with 0 <= shift <= 27,
got -1``. A bool is never taken for a number.
"""

from __future__ import annotations

from typing import Optional


def check_int(name: str, value: object, minimum: int, maximum: Optional[int] = None) -> int:
    """``value`` if it is an int with ``minimum <= value [<= maximum]``."""
    allowed = f"an integer >= {minimum}" if maximum is None else f"an integer with {minimum} <= {name} <= {maximum}"
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be {allowed}, got {value!r} ({type(value).__name__})")
    if value < minimum or (maximum is not None and value > maximum):
        raise ValueError(f"{name} must be {allowed}, got {value}")
    return value


def check_float(name: str, value: object, minimum: float, maximum: float, *, below: bool = False) -> float:
    """``float(value)`` if it is a real number with ``minimum <= value <= maximum``
    (``below=True``: ``value < maximum``)."""
    upper = "<" if below else "<="
    allowed = f"a number with {minimum:g} <= {name} {upper} {maximum:g}"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be {allowed}, got {value!r} ({type(value).__name__})")
    if not (minimum <= value < maximum if below else minimum <= value <= maximum):
        raise ValueError(f"{name} must be {allowed}, got {value}")
    return float(value)


def check_bool(name: str, value: object) -> bool:
    """``value`` if it is a bool."""
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be True or False, got {value!r} ({type(value).__name__})")
    return value
