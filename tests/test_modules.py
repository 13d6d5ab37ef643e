"""Module wrappers: cells vs layers, recurrence, state creation and checks, bad input."""

import pytest
import torch

import norse_core as snn

FEED_FORWARD = [
    (snn.LIFCell, snn.LIF, snn.LIFParameters(tau_mem_inv=300.0)),
    (snn.LICell, snn.LI, snn.LIParameters()),
    (snn.LIFBoxCell, snn.LIFBox, snn.LIFBoxParameters(tau_mem_inv=300.0)),
    (snn.LIBoxCell, snn.LIBox, snn.LIBoxParameters()),
    (snn.IAFCell, snn.IAF, snn.IAFParameters()),
]
RECURRENT = [
    (snn.LIFRecurrentCell, snn.LIFRecurrent, snn.LIFParameters(tau_mem_inv=300.0)),
    (snn.IAFRecurrentCell, snn.IAFRecurrent, snn.IAFParameters()),
]


def test_seed_examples():
    out, state = snn.SequentialState(torch.nn.Linear(5, 1), snn.LIF())(torch.randn(4, 5))
    assert out.shape == (4, 1) and len(out) == 4
    spikes, state = snn.LIFCell()(torch.ones(1))
    assert spikes.shape == (1,) and isinstance(state, snn.LIFFeedForwardState)


@pytest.mark.parametrize("cell_cls,layer_cls,p", FEED_FORWARD)
def test_cell_equals_layer_over_time(cell_cls, layer_cls, p):
    torch.manual_seed(1)
    x = torch.randn(30, 3, 7) * 8
    cell, layer = cell_cls(p), layer_cls(p)
    state, outs = None, []
    for t in range(30):
        out, state = cell(x[t], state)
        outs.append(out)
    layer_out, layer_state = layer(x)
    torch.testing.assert_close(layer_out, torch.stack(outs))
    for a, b in zip(layer_state, state):
        torch.testing.assert_close(a, b)
    assert layer_out.abs().sum() > 0


@pytest.mark.parametrize("cell_cls,layer_cls,p", RECURRENT)
def test_recurrent_cell_equals_layer(cell_cls, layer_cls, p):
    torch.manual_seed(2)
    layer = layer_cls(4, 6, p)
    cell = cell_cls(4, 6, p, input_weights=layer.input_weights, recurrent_weights=layer.recurrent_weights)
    x = torch.randn(20, 2, 4) * 5
    state, outs = None, []
    for t in range(20):
        out, state = cell(x[t], state)
        outs.append(out)
    layer_out, _ = layer(x)
    torch.testing.assert_close(layer_out, torch.stack(outs))
    assert layer_out.sum() > 0


@pytest.mark.parametrize("cell_cls", [snn.LIFRecurrentCell, snn.IAFRecurrentCell])
def test_autapses_masked_by_default(cell_cls):
    cell = cell_cls(2, 3)
    assert torch.all(torch.diagonal(cell.recurrent_weights) == 0)
    with torch.no_grad():
        cell.recurrent_weights.fill_(0.0)
        cell.recurrent_weights.fill_diagonal_(100.0)  # would dominate if used
    state = cell.initial_state(torch.zeros(1, 2))
    state = state._replace(z=torch.ones(1, 3))
    out, new = cell(torch.zeros(1, 2), state)
    assert torch.all(out == 0) and torch.all(new.v == 0)
    (new.v.sum() + out.sum()).backward()
    assert torch.all(torch.diagonal(cell.recurrent_weights.grad) == 0)
    assert cell.recurrent_weights.grad.abs().sum() > 0
    with_autapses = cell_cls(2, 3, autapses=True, recurrent_weights=torch.eye(3) * 100)
    out, _ = with_autapses(torch.zeros(1, 2), state)
    assert torch.all(out == 1)


def test_recurrent_weight_shapes_and_defaults():
    cell = snn.LIFRecurrentCell(5, 8)
    assert cell.input_weights.shape == (8, 5) and cell.recurrent_weights.shape == (8, 8)
    assert {n for n, _ in cell.named_parameters()} == {"input_weights", "recurrent_weights"}
    with pytest.raises(ValueError, match=r"recurrent_weights must have shape \(8, 8\), got \(8, 5\)"):
        snn.LIFRecurrentCell(5, 8, recurrent_weights=torch.zeros(8, 5))


def test_li_linear_cell():
    cell = snn.LILinearCell(3, 2, input_weights=torch.ones(2, 3))
    out, state = cell(torch.ones(4, 3))
    assert out.shape == (4, 2) and out[0, 0].item() == pytest.approx(0.3)


def test_record_states_stacks_every_step():
    layer = snn.LIF(record_states=True)
    out, states = layer(torch.ones(9, 1))
    assert states.v.shape == (9, 1)
    assert states.v[:, 0].tolist() == pytest.approx([0.1, 0.27, 0.487, 0.7335, 0.9963, 0.0, 0.3951, 0.7717, 0.0], abs=1e-4)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float16, torch.bfloat16])
def test_state_follows_input_dtype(dtype):
    out, state = snn.LIFCell(snn.LIFParameters(v_leak=0.5))(torch.zeros(2, 3, dtype=dtype))
    assert out.dtype == dtype and state.v.dtype == dtype and state.i.dtype == dtype
    assert snn.LIFCell(snn.LIFParameters(v_leak=0.5)).initial_state(torch.zeros(2, dtype=dtype)).v.tolist() == [0.5, 0.5]


def test_initial_state_recurrent_is_hidden_sized():
    state = snn.LIFRecurrentCell(3, 7).initial_state(torch.zeros(2, 3, dtype=torch.float64))
    assert all(t.shape == (2, 7) and t.dtype == torch.float64 for t in state)


def test_per_neuron_tensor_parameters():
    p = snn.LIFParameters(v_th=torch.tensor([0.05, 100.0]))
    out, _ = snn.LIF(p)(torch.ones(5, 2))
    assert out[:, 0].sum() > 0 and out[:, 1].sum() == 0


# -- bad input -----------------------------------------------------------------------------

def test_state_shape_mismatch_is_clear():
    with pytest.raises(ValueError, match=r"LIFCell: state.v has shape \(2,\) but the input of shape \(3,\)"):
        snn.LIFCell()(torch.ones(3), snn.LIFFeedForwardState(torch.zeros(2), torch.zeros(2)))
    _, state = snn.LIF()(torch.ones(4, 8, 3))
    with pytest.raises(ValueError, match=r"state tensors of shape \(5, 3\)"):
        snn.LIF()(torch.ones(4, 5, 3), state)  # batch size changed: no silent broadcasting


def test_state_of_wrong_type():
    with pytest.raises(TypeError, match="LIFCell: state must be a LIFFeedForwardState"):
        snn.LIFCell()(torch.ones(3), snn.LIState(torch.zeros(3), torch.zeros(3)))


def test_wrong_rank_to_layer():
    with pytest.raises(ValueError, match=r"LIF: input must have at least 2 dimension\(s\) \(time, \.\.\.\), got shape \(3,\)"):
        snn.LIF()(torch.ones(3))
    with pytest.raises(ValueError, match="LIFRecurrent: input must have at least 2"):
        snn.LIFRecurrent(3, 2)(torch.ones(3))


def test_wrong_feature_size_to_recurrent():
    with pytest.raises(ValueError, match="input has 4 features .* input_size is 3"):
        snn.LIFRecurrentCell(3, 2)(torch.ones(2, 4))


def test_non_float_and_non_tensor_input():
    with pytest.raises(TypeError, match="floating point tensor, got dtype torch.complex64"):
        snn.LIFCell()(torch.ones(3, dtype=torch.complex64))
    with pytest.raises(TypeError, match="must be a torch.Tensor, got list"):
        snn.LIFCell()([1.0])


@pytest.mark.parametrize("dtype", [torch.bool, torch.long, torch.uint8])
def test_bool_and_integer_inputs_are_cast(dtype):
    """As in Norse: spikes given as bool (or integer) tensors run like float ones."""
    x = torch.tensor([[1, 0, 1], [0, 1, 1]]).to(dtype)
    for module in (snn.LIFCell(), snn.LIF(), snn.LIFBoxCell(), snn.LIFRecurrentCell(3, 2)):
        z, s = module(x)
        z_float, s_float = module(x.float())
        assert z.dtype == torch.float32 and torch.equal(z, z_float)
        assert s.v.dtype == torch.float32
    double = snn.LIFRecurrentCell(3, 2).double()
    assert double(x)[0].dtype == torch.float64  # the module's dtype


def test_sparse_input_gives_sparse_spikes():
    x = (torch.rand(4, 3, 5) > 0.5).float()
    for module in (snn.LIFCell(snn.LIFParameters(v_th=0.05)), snn.LIF(snn.LIFParameters(v_th=0.05))):
        z, s = module(x.to_sparse())
        z_dense, s_dense = module(x)
        assert z.is_sparse and torch.equal(z.to_dense(), z_dense)
        assert torch.equal(s.v, s_dense.v)


def test_scalar_state_fields_broadcast():
    """As in Norse: a state field given as a number or 0-d tensor broadcasts; other shapes raise."""
    x = torch.rand(2, 3)
    z, s = snn.LIFCell()(x, snn.LIFFeedForwardState(v=0.0, i=torch.tensor(0)))
    z_ref, s_ref = snn.LIFCell()(x)
    assert torch.equal(z, z_ref) and torch.equal(s.v, s_ref.v) and s.i.dtype == torch.float32
    refrac = snn.LIFRefracCell()(x, snn.LIFRefracFeedForwardState(snn.LIFFeedForwardState(0.0, 0.0), 0.0))
    assert refrac[1].rho.shape == (2, 3)
    v0 = torch.tensor(0.3, requires_grad=True)
    z, s = snn.LIFCell()(x, snn.LIFFeedForwardState(v=v0, i=0.0))
    s.v.sum().backward()
    assert v0.grad is not None  # gradients reach a broadcast 0-d state
    with pytest.raises(ValueError, match="state.v has shape \\(3,\\)"):
        snn.LIFCell()(x, snn.LIFFeedForwardState(v=torch.zeros(3), i=0.0))


def test_gradients_without_grad_requiring_inputs():
    """As in Norse: out.sum().backward() works on a cell without parameters and a plain
    input (the initial voltage requires grad then); not when an input requires grad, nor
    under no_grad."""
    x = torch.ones(2, 3)
    for module in (snn.LIFCell(), snn.LIF(), snn.LIBoxCell(), snn.LIFRefracCell(), snn.IzhikevichCell(snn.tonic_spiking)):
        out, state = module(x)
        out.sum().backward()
    _, state = snn.LIFCell()(x)
    assert state.v.grad_fn is not None
    x_grad = torch.ones(2, 3, requires_grad=True)
    assert snn.LIFCell().initial_state(x_grad).v.requires_grad is False
    with torch.no_grad():
        _, state = snn.LIFCell()(x)
    assert not state.v.requires_grad


def test_bad_parameters():
    with pytest.raises(ValueError, match="unknown threshold method 'supr'; valid methods are: .*super"):
        snn.LIF(snn.LIFParameters(method="supr"))
    with pytest.raises(TypeError, match="LIFCell: p must be a LIFParameters, got LIParameters"):
        snn.LIFCell(snn.LIParameters())
    with pytest.raises(ValueError, match="dt must be a positive float, got -1"):
        snn.LIFCell(dt=-1)
    with pytest.raises(ValueError, match="unknown reset_method 'zero'; valid: value, subtract"):
        snn.LIFBoxCell(snn.LIFBoxParameters(reset_method="zero"))
    with pytest.raises(ValueError, match="hidden_size must be a positive int, got 0"):
        snn.LIFRecurrentCell(3, 0)


def test_gradients_flow_through_layers():
    lin = torch.nn.Linear(4, 6)
    out, _ = snn.LIF()(lin(torch.rand(20, 2, 4) * 10))
    out.sum().backward()
    assert lin.weight.grad.abs().sum() > 0


def test_trainable_parameters_learn_and_are_saved():
    layer = snn.LIF(trainable=("tau_mem_inv", "v_th"), trainable_shape=(3,))
    assert set(dict(layer.named_parameters())) == {"p_tau_mem_inv", "p_v_th"}
    assert layer.p_tau_mem_inv.shape == (3,) and torch.all(layer.p_tau_mem_inv == 100.0)
    out, state = layer(torch.rand(20, 2, 3) * 20)
    (out.sum() + state.v.sum()).backward()
    assert layer.p_tau_mem_inv.grad.abs().sum() > 0 and layer.p_v_th.grad.abs().sum() > 0
    assert set(layer.state_dict()) == {"p_tau_mem_inv", "p_v_th"}
    with torch.no_grad():
        layer.p_v_th.fill_(1000.0)  # the parameter value is what the dynamics use
    assert layer(torch.rand(20, 2, 3) * 20)[0].sum() == 0
    restored = snn.LIF(trainable=("tau_mem_inv", "v_th"), trainable_shape=(3,))
    restored.load_state_dict(layer.state_dict())
    assert torch.all(restored.p.v_th == 1000.0)


def test_trainable_shared_scalar_and_errors():
    cell = snn.LIFCell(trainable="tau_syn_inv")
    assert cell.p_tau_syn_inv.shape == () and isinstance(cell.p.tau_syn_inv, torch.nn.Parameter)
    rec = snn.LIFRecurrentCell(2, 4, trainable=("v_th",), trainable_shape=(4,))
    rec(torch.ones(3, 2))[0].sum().backward()
    assert rec.p_v_th.grad is not None
    with pytest.raises(ValueError, match="'tau' is not a field of LIFParameters"):
        snn.LIFCell(trainable=("tau",))
    with pytest.raises(ValueError, match="'method' must be numeric"):
        snn.LIFCell(trainable=("method",))
