"""Property tests (hypothesis) over the public cells and layers: random shapes, dtypes
(float32/float64/float16/bfloat16), the devices available and batch sizes that change
between calls. Every call gives either the correct result (the float64 reference computation
within the dtype's tolerance) or a clear ``ValueError``/``TypeError``; a state is never
silently broadcast to another shape."""

from __future__ import annotations

import copy
import re
from typing import Any, Dict, Tuple

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import norse_core as snn

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
DTYPES = [torch.float32, torch.float64, torch.float16, torch.bfloat16]
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
#: relative tolerance of one step against the float64 reference, per dtype (a few roundings)
RTOL = {torch.float64: 1e-12, torch.float32: 2e-6, torch.float16: 4e-3, torch.bfloat16: 3e-2}

# cell, layer, parameters, input scale, ranges of the state fields (starting states)
FEED_FORWARD: Dict[str, Tuple[type, type, Any, float, Dict[str, Tuple[float, float]]]] = {
    "LIF": (snn.LIFCell, snn.LIF, snn.LIFParameters(), 20.0, {"v": (-1.0, 1.5), "i": (-20.0, 20.0)}),
    "LIFBox": (snn.LIFBoxCell, snn.LIFBox, snn.LIFBoxParameters(), 30.0, {"v": (-1.0, 1.5)}),
    "LI": (snn.LICell, snn.LI, snn.LIParameters(), 20.0, {"v": (-2.0, 2.0), "i": (-20.0, 20.0)}),
    "LIBox": (snn.LIBoxCell, snn.LIBox, snn.LIBoxParameters(), 20.0, {"v": (-2.0, 2.0)}),
    "IAF": (snn.IAFCell, snn.IAF, snn.IAFParameters(), 1.0, {"v": (-1.0, 1.5)}),
    "LSNN": (snn.LSNNCell, snn.LSNN, snn.LSNNParameters(), 20.0,
             {"v": (-1.0, 1.5), "i": (-20.0, 20.0), "b": (0.5, 2.0)}),
}
RECURRENT: Dict[str, Tuple[type, type, Any]] = {
    "LIFRecurrent": (snn.LIFRecurrentCell, snn.LIFRecurrent, snn.LIFParameters(tau_mem_inv=500.0)),
    "IAFRecurrent": (snn.IAFRecurrentCell, snn.IAFRecurrent, snn.IAFParameters()),
    "LSNNRecurrent": (snn.LSNNRecurrentCell, snn.LSNNRecurrent, snn.LSNNParameters(tau_mem_inv=500.0)),
}
SPIKING = {"LIF", "LIFBox", "IAF", "LSNN", "LIFRecurrent", "IAFRecurrent", "LSNNRecurrent"}

@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny tensors: more threads only add contention on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


shapes = st.lists(st.integers(1, 4), min_size=1, max_size=4).map(tuple)
dtypes = st.sampled_from(DTYPES)
devices = st.sampled_from(DEVICES)
seeds = st.integers(0, 2**31 - 1)


def _uniform(shape, low, high, generator) -> torch.Tensor:
    return torch.rand(shape, generator=generator, dtype=torch.float64) * (high - low) + low


def _state(cell_cls, shape, ranges, generator, dtype, device):
    fields = {name: _uniform(shape, *ranges.get(name, (0.0, 1.0)), generator) for name in cell_cls.state_type._fields}
    if "z" in fields:
        fields["z"] = (fields["z"] > 0.5).double()
    return cell_cls.state_type(**{k: v.to(dtype=dtype, device=device) for k, v in fields.items()})


def _double(state):
    return type(state)(*(t.double().cpu() for t in state))


def _detached(state):
    return type(state)(*(t.detach() for t in state))


def _threshold(state, p):
    return state.b if "b" in state._fields else p.v_th


def assert_matches_reference(name, p, out, state, ref_out, ref_state, dtype):
    """``out, state`` (computed in ``dtype``) equal the float64 reference within the dtype's
    tolerance. A spiking neuron may fire in one and not the other only where the voltage of
    the one that did not fire lies within that tolerance of its threshold."""
    got, got_state = out.double().cpu(), _double(state)
    scale = 1.0 + max(float(t.abs().max()) for t in (ref_out, *ref_state))
    atol = RTOL[dtype] * 4 * scale
    keep = torch.ones_like(ref_out, dtype=torch.bool)
    if name in SPIKING:
        assert set(got.unique().tolist()) <= {0.0, 1.0}, "spikes must be 0 or 1"
        flipped = got != ref_out
        if flipped.any():
            # the side that did not spike kept its pre-reset voltage: it must sit at the threshold
            quiet_v = torch.where(got == 0, got_state.v, ref_state.v)
            quiet_th = torch.where(got == 0, torch.as_tensor(_threshold(got_state, p), dtype=torch.float64),
                                   torch.as_tensor(_threshold(ref_state, p), dtype=torch.float64))
            gap = (quiet_v - quiet_th).abs()[flipped]
            assert float(gap.max()) <= atol, f"{int(flipped.sum())} spikes differ far from the threshold"
        keep = ~flipped
    else:
        torch.testing.assert_close(got, ref_out, rtol=0, atol=atol)
    for field, a, b in zip(ref_state._fields, got_state, ref_state):
        diff = (a - b).abs()
        if field in ("v", "b", "z") and name in SPIKING:
            diff = diff[keep.expand_as(diff)] if diff.shape == keep.shape else diff
        assert diff.numel() == 0 or float(diff.max()) <= atol, f"state.{field} differs by {float(diff.max())}"


def _run_or_clear_error(fn):
    """The call's result, or None if it raised a clear ValueError/TypeError (with a message)."""
    try:
        return fn()
    except (ValueError, TypeError) as error:
        assert len(str(error)) > 20, f"unclear error: {error!r}"
        return None


# -- one step against the float64 reference ----------------------------------------------------
@pytest.mark.parametrize("name", sorted(FEED_FORWARD))
@SETTINGS
@given(shape=shapes, dtype=dtypes, device=devices, seed=seeds)
def test_cell_step_matches_float64_reference(name, shape, dtype, device, seed):
    cell_cls, _, p, scale, ranges = FEED_FORWARD[name]
    g = torch.Generator().manual_seed(seed)
    x = (torch.randn(shape, generator=g, dtype=torch.float64) * scale).to(dtype=dtype, device=device)
    state = _state(cell_cls, shape, ranges, g, dtype, device)
    cell = cell_cls(p).to(device)
    result = _run_or_clear_error(lambda: cell(x, state))
    if result is None:  # a dtype the device cannot compute is refused clearly
        assert dtype in (torch.float16, torch.bfloat16)
        return
    out, new_state = result
    assert out.shape == shape and out.dtype == dtype and out.device.type == device
    for t in new_state:
        assert t.shape == shape and t.dtype == dtype and t.device.type == device
    ref_out, ref_state = cell_cls(p)(x.double().cpu(), _double(state))
    assert_matches_reference(name, p, out, new_state, ref_out, ref_state, dtype)

    fresh_out, fresh = cell(x)  # state=None starts from the initial state, in x's dtype and device
    assert fresh_out.dtype == dtype and all(t.shape == shape and t.dtype == dtype for t in fresh)


@pytest.mark.parametrize("name", sorted(RECURRENT))
@SETTINGS
@given(batch=st.lists(st.integers(1, 3), max_size=2).map(tuple), sizes=st.tuples(st.integers(1, 4), st.integers(1, 4)),
       dtype=dtypes, device=devices, seed=seeds)
def test_recurrent_cell_step_matches_float64_reference(name, batch, sizes, dtype, device, seed):
    cell_cls, _, p = RECURRENT[name]
    n_in, n_hidden = sizes
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    reference = cell_cls(n_in, n_hidden, p).double()
    cell = copy.deepcopy(reference).to(device=device, dtype=dtype)
    reference.load_state_dict({k: v.to(dtype).double() for k, v in reference.state_dict().items()})
    x = (torch.randn((*batch, n_in), generator=g, dtype=torch.float64) * 20).to(dtype=dtype, device=device)
    state = _state(cell_cls, (*batch, n_hidden), {"v": (-1.0, 1.5), "i": (-20.0, 20.0), "b": (0.5, 2.0)}, g,
                   dtype, device)
    result = _run_or_clear_error(lambda: cell(x, state))
    if result is None:
        assert dtype in (torch.float16, torch.bfloat16)
        return
    out, new_state = result
    assert out.shape == (*batch, n_hidden) and out.dtype == dtype
    with torch.no_grad():
        ref_out, ref_state = reference(x.double().cpu(), _double(state))
    assert_matches_reference(name, p, out.detach(), _detached(new_state), ref_out, ref_state, dtype)


def test_recurrent_cell_refuses_an_input_of_another_dtype_than_its_weights():
    cell = snn.LIFRecurrentCell(3, 2)
    with pytest.raises(TypeError, match="input has dtype torch.float16 but the weights have dtype torch.float32"):
        cell(torch.ones(2, 3, dtype=torch.float16))


# -- layers over time -----------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(FEED_FORWARD))
@SETTINGS
@given(steps=st.integers(1, 6), shape=shapes, dtype=dtypes, device=devices, seed=seeds)
def test_layer_equals_its_cell_stepped_over_time(name, steps, shape, dtype, device, seed):
    cell_cls, layer_cls, p, scale, ranges = FEED_FORWARD[name]
    g = torch.Generator().manual_seed(seed)
    x = (torch.randn((steps, *shape), generator=g, dtype=torch.float64) * scale).to(dtype=dtype, device=device)
    state = _state(cell_cls, shape, ranges, g, dtype, device)
    result = _run_or_clear_error(lambda: layer_cls(p)(x, state))
    if result is None:
        assert dtype in (torch.float16, torch.bfloat16)
        return
    out, last = result
    cell, s, outs = cell_cls(p), state, []
    for t in range(steps):
        o, s = cell(x[t], s)
        outs.append(o)
    assert out.shape == (steps, *shape) and out.dtype == dtype
    assert torch.equal(out, torch.stack(outs))
    for a, b in zip(last, s):
        assert torch.equal(a, b)


# -- states never broadcast ---------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(FEED_FORWARD))
@SETTINGS
@given(batches=st.tuples(st.integers(1, 5), st.integers(1, 5)), features=st.lists(st.integers(1, 4), max_size=2),
       dtype=st.sampled_from([torch.float32, torch.float64]))
def test_batch_size_change_with_the_old_state_is_a_clear_error(name, batches, features, dtype):
    cell_cls, layer_cls, p, scale, _ = FEED_FORWARD[name]
    first, second = batches
    for module, lead in ((cell_cls(p), ()), (layer_cls(p), (3,))):
        _, state = module(torch.randn(*lead, first, *features, dtype=dtype) * scale)
        x = torch.randn(*lead, second, *features, dtype=dtype) * scale
        if first == second:
            out, new_state = module(x, state)  # same shape: the state carries on
            assert out.shape == x.shape and new_state[0].shape == state[0].shape
        else:
            with pytest.raises(ValueError, match=r"state\.\w+ has shape .* pass state=None") as info:
                module(x, state)
            assert str((first, *features)) in str(info.value) and str((second, *features)) in str(info.value)


@pytest.mark.parametrize("name", sorted(RECURRENT))
@SETTINGS
@given(batches=st.tuples(st.integers(1, 4), st.integers(1, 4)), sizes=st.tuples(st.integers(1, 4), st.integers(1, 4)))
def test_recurrent_batch_size_change_is_a_clear_error(name, batches, sizes):
    cell_cls, layer_cls, p = RECURRENT[name]
    (first, second), (n_in, n_hidden) = batches, sizes
    for module, lead in ((cell_cls(n_in, n_hidden, p), ()), (layer_cls(n_in, n_hidden, p), (2,))):
        _, state = module(torch.randn(*lead, first, n_in))
        x = torch.randn(*lead, second, n_in)
        if first == second:
            assert module(x, state)[0].shape == (*lead, second, n_hidden)
        else:
            with pytest.raises(ValueError, match=f"needs state tensors of shape \\({second}, {n_hidden}\\)"):
                module(x, state)


@pytest.mark.parametrize("name", ["LIF", "LSNN", "IAF"])
@SETTINGS
@given(state_shape=shapes, input_shape=shapes)
def test_a_state_of_a_broadcastable_shape_is_refused(name, state_shape, input_shape):
    """A (1, n) state with a (b, n) input, or any other shape than the input's, is an error,
    never silently broadcast."""
    cell_cls, _, p, _, ranges = FEED_FORWARD[name]
    state = _state(cell_cls, state_shape, ranges, torch.Generator().manual_seed(0), torch.float32, "cpu")
    x = torch.randn(input_shape)
    if state_shape == input_shape:
        assert cell_cls(p)(x, state)[0].shape == input_shape
    else:
        with pytest.raises(ValueError, match="pass state=None"):
            cell_cls(p)(x, state)


@pytest.mark.parametrize("name", ["LIF", "LIFBox", "LSNN"])
@SETTINGS
@given(param_shape=st.lists(st.integers(1, 4), max_size=3).map(tuple), input_shape=shapes, seed=seeds)
def test_tensor_parameters_broadcast_to_the_state_or_fail(name, param_shape, input_shape, seed):
    """A per-neuron parameter works when it broadcasts to the state's shape (and then equals the
    computation with the parameter expanded); one that would enlarge the state is a ValueError."""
    cell_cls, layer_cls, p, scale, _ = FEED_FORWARD[name]
    g = torch.Generator().manual_seed(seed)
    v_th = 0.5 + torch.rand(param_shape, generator=g)
    x = torch.randn((3, *input_shape), generator=g) * scale
    try:
        fits = torch.broadcast_shapes(param_shape, input_shape) == input_shape
    except RuntimeError:
        fits = False
    for module, inp in ((cell_cls(p._replace(v_th=v_th)), x[0]), (layer_cls(p._replace(v_th=v_th)), x)):
        if fits:
            out, state = module(inp)
            expanded = type(module)(p._replace(v_th=v_th.expand(input_shape).clone()))
            ref_out, ref_state = expanded(inp)
            assert out.shape == inp.shape and torch.equal(out, ref_out)
            assert all(a.shape == input_shape for a in state)
        else:
            with pytest.raises(ValueError, match=re.escape(f"parameter v_th has shape {tuple(param_shape)}")):
                module(inp)


def test_state_on_another_device_is_a_clear_error():
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device")
    cell = snn.LIFCell()
    _, state = cell(torch.randn(2, 3))
    with pytest.raises(ValueError, match="state.v is on cpu but the input is on cuda"):
        cell(torch.randn(2, 3, device="cuda"), state)
