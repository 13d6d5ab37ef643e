"""Trace-based spike-timing-dependent plasticity (STDP) for linear and conv2d weights.

Per step, traces first (they decay by ``dt*tau_inv`` and jump by ``a`` on a spike)::

    t_pre'  = t_pre  - dt*tau_pre_inv*t_pre   + a_pre*z_pre
    t_post' = t_post - dt*tau_post_inv*t_post + a_post*z_post

then the weights, using the *updated* traces ``t_pre'``, ``t_post'`` (so a pre and a post
spike in the same step both count; with equal ``a`` and ``eta`` they cancel)::

    w' = w + A+(w) * (z_post x t_pre') - A-(w) * (t_post' x z_pre)      summed over the batch
    w' = clip(w', w_min, w_max)                                         if hardbound

``x`` is the outer product ``(out, in)`` for linear weights; for conv2d weights it is the
correlation of the post-synaptic map with every kernel-shaped patch of the pre-synaptic map.

Bounds ``A+(w)``, ``A-(w)`` by ``stdp_algorithm``:

=======================  ===================================  ===================================
algorithm                A+(w)                                A-(w)
=======================  ===================================  ===================================
``additive``             ``eta_plus``                         ``eta_minus``
``additive_step``        ``eta_plus*Θ(w_max - w)``            ``eta_minus*Θ(w - w_min)``
``multiplicative_pow``   ``eta_plus*(w_max - w)^mu``          ``eta_minus*(w - w_min)^mu``
``multiplicative_relu``  ``eta_plus*relu(w_max - w)``         ``eta_minus*relu(w - w_min)``
=======================  ===================================  ===================================

``Θ(x) = 1[x > 0]``. ``multiplicative_relu`` and ``multiplicative_pow`` with ``mu >= 1`` are
soft bounds: the step towards a bound shrinks to 0 at the bound, so weights approach it
without crossing as long as ``eta`` times one step's correlation stays below 1. With
``mu < 1`` the step near a bound (``~ d^mu``) exceeds the distance ``d`` and can cross it, and
a fractional power of the then negative base is NaN: keep ``hardbound=True`` there.
``mu = 0`` is additive (``0^0 = 1``).
"""

from __future__ import annotations

from typing import Callable, Dict, NamedTuple, Optional, Tuple, Union

import torch
import torch.nn.functional as F

from norse_core.functional.threshold import heaviside

Scalar = Union[float, torch.Tensor]
IntOrPair = Union[int, Tuple[int, int]]

BoundFunction = Callable[[torch.Tensor, "STDPParameters"], Tuple[torch.Tensor, torch.Tensor]]


def _additive(w: torch.Tensor, p: "STDPParameters") -> Tuple[Scalar, Scalar]:
    return p.eta_plus, p.eta_minus


def _additive_step(w: torch.Tensor, p: "STDPParameters") -> Tuple[torch.Tensor, torch.Tensor]:
    return p.eta_plus * heaviside(p.w_max - w), p.eta_minus * heaviside(w - p.w_min)


def _multiplicative_pow(w: torch.Tensor, p: "STDPParameters") -> Tuple[torch.Tensor, torch.Tensor]:
    return p.eta_plus * torch.pow(p.w_max - w, p.mu), p.eta_minus * torch.pow(w - p.w_min, p.mu)


def _multiplicative_relu(w: torch.Tensor, p: "STDPParameters") -> Tuple[torch.Tensor, torch.Tensor]:
    return p.eta_plus * torch.relu(p.w_max - w), p.eta_minus * torch.relu(w - p.w_min)


_ALGORITHMS: Dict[str, BoundFunction] = {
    "additive": _additive,
    "additive_step": _additive_step,
    "multiplicative_pow": _multiplicative_pow,
    "multiplicative_relu": _multiplicative_relu,
}


def stdp_algorithms() -> list:
    """The valid ``stdp_algorithm`` names."""
    return list(_ALGORITHMS)


def _check_algorithm(name: object) -> BoundFunction:
    try:
        return _ALGORITHMS[name]  # type: ignore[index]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown stdp_algorithm {name!r}; valid: {', '.join(_ALGORITHMS)}"
        ) from None


class _STDPParametersBase(NamedTuple):
    a_pre: Scalar = 1.0
    a_post: Scalar = 1.0
    tau_pre_inv: Scalar = 20.0
    tau_post_inv: Scalar = 20.0
    w_min: Scalar = 0.0
    w_max: Scalar = 1.0
    eta_plus: Scalar = 1e-3
    eta_minus: Scalar = 1e-3
    stdp_algorithm: str = "additive"
    mu: Scalar = 0.0
    hardbound: bool = True
    convolutional: bool = False
    stride: IntOrPair = 1
    padding: IntOrPair = 0
    dilation: IntOrPair = 1


class STDPParameters(_STDPParametersBase):
    """STDP parameters (time constants as inverses, in 1/s).

    ``a_pre``/``a_post``: trace jump per spike; ``tau_pre_inv``/``tau_post_inv``: trace decay;
    ``w_min``/``w_max``: weight bounds; ``eta_plus``/``eta_minus``: learning rates of
    potentiation/depression; ``stdp_algorithm``: one of :func:`stdp_algorithms` (see the
    module docstring for ``A+(w)``/``A-(w)``); ``mu``: exponent of ``multiplicative_pow``;
    ``hardbound``: clip weights to ``[w_min, w_max]`` after each step; ``convolutional``:
    marks parameters meant for :func:`stdp_step_conv2d` (the step functions do not read it);
    ``stride``/``padding``/``dilation``: the convolution's, used by :func:`stdp_step_conv2d`.

    An unknown ``stdp_algorithm`` or ``w_min > w_max`` raises ``ValueError`` here.
    """

    __slots__ = ()

    def __new__(cls, *args, **kwargs) -> "STDPParameters":
        self = super().__new__(cls, *args, **kwargs)
        _check_algorithm(self.stdp_algorithm)
        lo, hi = self.w_min, self.w_max
        if bool(torch.any(torch.as_tensor(lo) > torch.as_tensor(hi))):
            raise ValueError(f"STDPParameters: w_min ({lo}) must not exceed w_max ({hi})")
        return self

    def bounds(self, w: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """``(A+(w), A-(w))`` of this parameter set's ``stdp_algorithm``."""
        return _check_algorithm(self.stdp_algorithm)(w, self)


class STDPState(NamedTuple):
    """STDP traces: ``t_pre`` shaped like ``z_pre``, ``t_post`` shaped like ``z_post``."""

    t_pre: torch.Tensor
    t_post: torch.Tensor


def _shape(x: torch.Tensor) -> tuple:
    return tuple(x.shape)


def _check_tensor(name: str, x: object, dims: int, layout: str) -> None:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor {layout}, got {type(x).__name__}")
    if x.dim() != dims:
        raise ValueError(f"{name} must be {dims}-D {layout}, got shape {_shape(x)}")


def _traces(
    z_pre: torch.Tensor,
    z_post: torch.Tensor,
    state: Optional[STDPState],
    p: STDPParameters,
    dt: float,
    fn: str,
) -> STDPState:
    """Checks the state against the spikes and returns the updated traces."""
    if state is None:
        state = STDPState(torch.zeros_like(z_pre), torch.zeros_like(z_post))
    elif not isinstance(state, STDPState):
        raise TypeError(f"{fn}: state_stdp must be an STDPState(t_pre, t_post) or None, got {type(state).__name__}")
    for field, trace, z, zname in (("t_pre", state.t_pre, z_pre, "z_pre"), ("t_post", state.t_post, z_post, "z_post")):
        if not isinstance(trace, torch.Tensor) or trace.shape != z.shape:
            got = _shape(trace) if isinstance(trace, torch.Tensor) else type(trace).__name__
            raise ValueError(
                f"{fn}: state_stdp.{field} has shape {got} but must match {zname} of shape "
                f"{_shape(z)}; pass state_stdp=None to start from zero traces"
            )
    t_pre = state.t_pre - dt * p.tau_pre_inv * state.t_pre + p.a_pre * z_pre
    t_post = state.t_post - dt * p.tau_post_inv * state.t_post + p.a_post * z_post
    return STDPState(t_pre, t_post)


def _apply(w: torch.Tensor, corr_plus: torch.Tensor, corr_minus: torch.Tensor, p: STDPParameters) -> torch.Tensor:
    a_plus, a_minus = p.bounds(w)
    w = w + a_plus * corr_plus - a_minus * corr_minus
    if p.hardbound:
        w = torch.clamp(w, torch.as_tensor(p.w_min).to(w), torch.as_tensor(p.w_max).to(w))
    return w


def stdp_step_linear(
    z_pre: torch.Tensor,
    z_post: torch.Tensor,
    w: torch.Tensor,
    state_stdp: Optional[STDPState],
    p_stdp: STDPParameters = STDPParameters(),
    dt: float = 0.001,
) -> Tuple[torch.Tensor, STDPState]:
    """One STDP step for linear weights; returns ``(w', STDPState(t_pre', t_post'))``.

    Shapes: ``z_pre (B, in)``, ``z_post (B, out)``, ``w (out, in)`` (as ``nn.Linear``),
    traces shaped like the spikes. ``state_stdp=None`` starts from zero traces. ::

        dw+ = A+(w) * einsum('bi,bj->ij', z_post, t_pre')
        dw- = A-(w) * einsum('bi,bj->ij', t_post', z_pre)
        w'  = w + dw+ - dw-   (then clipped to [w_min, w_max] if hardbound)
    """
    fn = "stdp_step_linear"
    _check_tensor("z_pre", z_pre, 2, "(batch, in_features)")
    _check_tensor("z_post", z_post, 2, "(batch, out_features)")
    _check_tensor("w", w, 2, "(out_features, in_features)")
    if z_pre.shape[0] != z_post.shape[0]:
        raise ValueError(
            f"{fn}: z_pre of shape {_shape(z_pre)} and z_post of shape {_shape(z_post)} "
            "must have the same batch size (dim 0)"
        )
    needed = (z_post.shape[1], z_pre.shape[1])
    if tuple(w.shape) != needed:
        raise ValueError(
            f"{fn}: w has shape {_shape(w)} but z_pre of shape {_shape(z_pre)} and z_post of shape "
            f"{_shape(z_post)} need w of shape (out_features, in_features) = {needed}"
        )
    state = _traces(z_pre, z_post, state_stdp, p_stdp, dt, fn)
    corr_plus = torch.einsum("bi,bj->ij", z_post, state.t_pre)
    corr_minus = torch.einsum("bi,bj->ij", state.t_post, z_pre)
    return _apply(w, corr_plus, corr_minus, p_stdp), state


def _conv_out_size(size: int, k: int, stride: int, padding: int, dilation: int) -> int:
    return (size + 2 * padding - dilation * (k - 1) - 1) // stride + 1


def _pair(x: IntOrPair, name: str) -> Tuple[int, int]:
    if isinstance(x, int) and not isinstance(x, bool):
        return (x, x)
    if isinstance(x, (tuple, list)) and len(x) == 2 and all(isinstance(v, int) for v in x):
        return (int(x[0]), int(x[1]))
    raise ValueError(f"stdp_step_conv2d: p_stdp.{name} must be an int or a pair of ints, got {x!r}")


def stdp_step_conv2d(
    z_pre: torch.Tensor,
    z_post: torch.Tensor,
    w: torch.Tensor,
    state_stdp: Optional[STDPState],
    p_stdp: STDPParameters = STDPParameters(),
    dt: float = 0.001,
) -> Tuple[torch.Tensor, STDPState]:
    """One STDP step for conv2d weights; returns ``(w', STDPState(t_pre', t_post'))``.

    Shapes: ``z_pre (B, C_in, H, W)``, ``z_post (B, C_out, H', W')`` where ``(H', W')`` is the
    output size of ``conv2d`` with ``w (C_out, C_in, kh, kw)`` and ``p_stdp``'s ``stride``,
    ``padding`` and ``dilation`` (no groups). With ``unfold`` giving the kernel-shaped patches
    ``(B, C_in*kh*kw, H'*W')``::

        dw+ = A+(w) * einsum('bol,bjl->oj', z_post, unfold(t_pre'))   reshaped to w's shape
        dw- = A-(w) * einsum('bol,bjl->oj', t_post', unfold(z_pre))

    i.e. a linear STDP step for every output position with the patch as the pre-synaptic
    layer, summed over the positions (the kernel is shared).
    """
    fn = "stdp_step_conv2d"
    _check_tensor("z_pre", z_pre, 4, "(batch, in_channels, height, width)")
    _check_tensor("z_post", z_post, 4, "(batch, out_channels, height_out, width_out)")
    _check_tensor("w", w, 4, "(out_channels, in_channels, kernel_h, kernel_w)")
    stride = _pair(p_stdp.stride, "stride")
    padding = _pair(p_stdp.padding, "padding")
    dilation = _pair(p_stdp.dilation, "dilation")
    batch, c_in, height, width = z_pre.shape
    c_out, w_in, kh, kw = w.shape
    if w_in != c_in:
        raise ValueError(
            f"{fn}: w has shape {_shape(w)} but z_pre of shape {_shape(z_pre)} has {c_in} input "
            f"channels; w must be (out_channels, {c_in}, kernel_h, kernel_w) (groups are not supported)"
        )
    out_h = _conv_out_size(height, kh, stride[0], padding[0], dilation[0])
    out_w = _conv_out_size(width, kw, stride[1], padding[1], dilation[1])
    if out_h < 1 or out_w < 1:
        raise ValueError(
            f"{fn}: kernel ({kh}, {kw}) with dilation {dilation} does not fit z_pre of shape "
            f"{_shape(z_pre)} with padding {padding}"
        )
    needed = (batch, c_out, out_h, out_w)
    if tuple(z_post.shape) != needed:
        raise ValueError(
            f"{fn}: z_post has shape {_shape(z_post)} but conv2d of z_pre {_shape(z_pre)} with w "
            f"{_shape(w)}, stride {stride}, padding {padding}, dilation {dilation} gives {needed}"
        )
    state = _traces(z_pre, z_post, state_stdp, p_stdp, dt, fn)

    def patches(x: torch.Tensor) -> torch.Tensor:
        return F.unfold(x, (kh, kw), dilation=dilation, padding=padding, stride=stride)

    corr_plus = torch.einsum("bol,bjl->oj", z_post.reshape(batch, c_out, -1), patches(state.t_pre))
    corr_minus = torch.einsum("bol,bjl->oj", state.t_post.reshape(batch, c_out, -1), patches(z_pre))
    return _apply(w, corr_plus.reshape(w.shape), corr_minus.reshape(w.shape), p_stdp), state
