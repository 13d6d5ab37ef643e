"""Spike thresholds with surrogate gradients.

``threshold(x, method, alpha)`` is the Heaviside step ``Θ(x) = 1[x > 0]`` in the forward
pass (strict: ``x == 0`` does not spike). Its backward pass replaces the derivative of the
step (zero almost everywhere) by a smooth *surrogate* ``dΘ/dx ≈ s(x, alpha)``, chosen by name:

==============  =====================================================================
method          surrogate derivative ``s(x, alpha)``
==============  =====================================================================
``heaviside``   ``0`` (no gradient)
``super``       ``1 / (alpha*|x| + 1)^2`` (SuperSpike; alias ``superspike``)
``triangle``    ``alpha * relu(1 - |x|)``
``tanh``        ``1 - tanh(alpha*x)^2``
``circ``        ``alpha^3 / (alpha^2 + x^2)^(3/2)``
``heavi_erfc``  ``2*exp(-(alpha*x)^2) / sqrt(pi)``
``logistic``    ``1 - tanh(alpha*x)^2``; the forward pass is stochastic,
                ``Bernoulli(0.5 + 0.5*tanh(alpha*x))``
``atan``        ``alpha/2 / (1 + (pi/2*alpha*x)^2)``
``sigmoid``     ``alpha*s*(1 - s)`` with ``s = sigmoid(alpha*x)``
==============  =====================================================================

New methods are added with :func:`register_surrogate`.
"""

from __future__ import annotations

import math
from typing import Callable, Dict, Optional

import torch

SurrogateDerivative = Callable[[torch.Tensor, float], torch.Tensor]
SpikeForward = Callable[[torch.Tensor, float], torch.Tensor]


def heaviside(x: torch.Tensor) -> torch.Tensor:
    """Heaviside step ``Θ(x) = 1[x > 0]`` in the dtype of ``x`` (no gradient)."""
    return torch.gt(x, 0).to(x.dtype)


def _make_spike_function(
    name: str, derivative: SurrogateDerivative, forward: SpikeForward
) -> type:
    def fwd(ctx, x: torch.Tensor, alpha: float) -> torch.Tensor:
        ctx.save_for_backward(x)
        ctx.alpha = alpha
        return forward(x, alpha)

    def bwd(ctx, grad_output: torch.Tensor):
        (x,) = ctx.saved_tensors
        return grad_output * derivative(x, ctx.alpha), None

    return type(
        f"{name.title().replace('_', '')}Spike",
        (torch.autograd.Function,),
        {"forward": staticmethod(fwd), "backward": staticmethod(bwd)},
    )


_SPIKE_FUNCTIONS: Dict[str, type] = {}
_DERIVATIVES: Dict[str, SurrogateDerivative] = {}


def register_surrogate(
    name: str,
    derivative: SurrogateDerivative,
    forward: Optional[SpikeForward] = None,
    *,
    overwrite: bool = False,
) -> None:
    """Registers a surrogate method usable as ``method=name`` everywhere.

    Args:
        name: the method string.
        derivative: ``s(x, alpha)``, the surrogate of ``dΘ/dx`` evaluated elementwise.
        forward: the forward spike function ``f(x, alpha)``; Heaviside by default.
        overwrite: allow replacing an existing method.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"surrogate name must be a non-empty string, got {name!r}")
    if name in _SPIKE_FUNCTIONS and not overwrite:
        raise ValueError(
            f"surrogate method {name!r} is already registered; pass overwrite=True to replace it"
        )
    spike_forward = forward if forward is not None else (lambda x, alpha: heaviside(x))
    _SPIKE_FUNCTIONS[name] = _make_spike_function(name, derivative, spike_forward)
    _DERIVATIVES[name] = derivative


def surrogate_methods() -> list:
    """The registered method names, sorted."""
    return sorted(_SPIKE_FUNCTIONS)


def surrogate_derivative(method: str) -> SurrogateDerivative:
    """The surrogate derivative ``s(x, alpha)`` registered under ``method``."""
    _check_method(method)
    return _DERIVATIVES[method]


def _check_method(method: str) -> None:
    if method not in _SPIKE_FUNCTIONS:
        raise ValueError(
            f"unknown threshold method {method!r}; valid methods are: "
            + ", ".join(surrogate_methods())
        )


def threshold(x: torch.Tensor, method: str = "super", alpha: float = 100.0) -> torch.Tensor:
    """Spikes ``Θ(x)`` where ``x > 0``, with the surrogate gradient named by ``method``.

    Args:
        x: the distance to threshold, e.g. ``v - v_th``.
        method: a registered surrogate (see :func:`surrogate_methods`).
        alpha: the surrogate's sharpness.
    """
    fn = _SPIKE_FUNCTIONS.get(method)
    if fn is None:
        _check_method(method)
    return fn.apply(x, alpha)


def _super(x, alpha):
    return 1.0 / (alpha * x.abs() + 1.0).pow(2)


def _tanh(x, alpha):
    return 1.0 - torch.tanh(alpha * x).pow(2)


def _logistic_forward(x, alpha):
    return torch.bernoulli(0.5 + 0.5 * torch.tanh(alpha * x))


def _sigmoid(x, alpha):
    s = torch.sigmoid(alpha * x)
    return alpha * s * (1.0 - s)


register_surrogate("heaviside", lambda x, alpha: torch.zeros_like(x))
register_surrogate("super", _super)
register_surrogate("superspike", _super)
register_surrogate("triangle", lambda x, alpha: alpha * torch.relu(1.0 - x.abs()))
register_surrogate("tanh", _tanh)
register_surrogate(
    "circ", lambda x, alpha: alpha**3 / (alpha**2 + x.pow(2)).pow(1.5)
)
register_surrogate(
    "heavi_erfc", lambda x, alpha: 2.0 * torch.exp(-(alpha * x).pow(2)) / math.sqrt(math.pi)
)
register_surrogate("logistic", _tanh, forward=_logistic_forward)
register_surrogate(
    "atan", lambda x, alpha: (alpha / 2.0) / (1.0 + (math.pi / 2.0 * alpha * x).pow(2))
)
register_surrogate("sigmoid", _sigmoid)


# -- Norse's named surrogate functions ------------------------------------------------------
# ``threshold(x, method, alpha)`` dispatches by name; Norse also exposes one function (and
# one autograd class) per surrogate. They are the registered methods under Norse's names.


def _registered(method: str) -> type:
    return _SPIKE_FUNCTIONS[method]


def super_fn(x: torch.Tensor, alpha: float = 100.0) -> torch.Tensor:
    """Θ(x) with the SuperSpike surrogate ``1/(alpha*|x| + 1)^2`` (``method="super"``;
    *deliberate change*: Norse's ignores ``alpha``, i.e. uses 1)."""
    return threshold(x, "super", alpha)


def triangle_fn(x: torch.Tensor, alpha: float = 0.3) -> torch.Tensor:
    """Θ(x) with the triangle surrogate ``alpha*relu(1 - |x|)`` (``method="triangle"``)."""
    return threshold(x, "triangle", alpha)


def heavi_tanh_fn(x: torch.Tensor, k: float) -> torch.Tensor:
    """Θ(x) with the surrogate ``1 - tanh(k*x)^2`` (``method="tanh"``)."""
    return threshold(x, "tanh", k)


def heavi_erfc_fn(x: torch.Tensor, k: float) -> torch.Tensor:
    """Θ(x) with the surrogate ``2*exp(-(k*x)^2)/sqrt(pi)`` (``method="heavi_erfc"``)."""
    return threshold(x, "heavi_erfc", k)


def heavi_circ_fn(x: torch.Tensor, k: float) -> torch.Tensor:
    """Θ(x) with the surrogate ``k^3/(k^2 + x^2)^(3/2)`` (``method="circ"``)."""
    return threshold(x, "circ", k)


def logistic_fn(x: torch.Tensor, k: float) -> torch.Tensor:
    """Stochastic spikes ``Bernoulli(0.5 + 0.5*tanh(k*x))`` with the surrogate
    ``1 - tanh(k*x)^2`` (``method="logistic"``)."""
    return threshold(x, "logistic", k)


def _circ_dist_forward(x: torch.Tensor, alpha: float) -> torch.Tensor:
    return torch.bernoulli(0.5 + 0.5 * x / (x.pow(2) + alpha**2).sqrt())


#: Not a registered method (its forward pass is random): only ``circ_dist_fn`` uses it.
CircDist = _make_spike_function("circ_dist", _DERIVATIVES["circ"], _circ_dist_forward)


def circ_dist_fn(x: torch.Tensor, k: float) -> torch.Tensor:
    """Stochastic spikes ``Bernoulli(0.5 + 0.5*x/sqrt(x^2 + k^2))`` with the ``circ``
    surrogate ``k^3/(k^2 + x^2)^(3/2)``."""
    return CircDist.apply(x, k)


def sign(x: torch.Tensor, method: str = "super", alpha: float = 100.0) -> torch.Tensor:
    """``2*Θ(x) - 1``: +1 where ``x > 0``, -1 elsewhere, with the surrogate of ``method``."""
    return 2 * threshold(x, method, alpha) - 1


#: The autograd functions behind the named surrogates (``Class.apply(x, alpha)``), by
#: Norse's class names.
SuperSpike = _registered("super")
Triangle = _registered("triangle")
HeaviTanh = _registered("tanh")
HeaviErfc = _registered("heavi_erfc")
HeaviCirc = _registered("circ")
Logistic = _registered("logistic")
superspike_fn = super_fn
