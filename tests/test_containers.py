import pytest
import torch
from torch.utils._pytree import tree_flatten, tree_unflatten

import norse_core as snn


def test_sequential_state_threads_states():
    torch.manual_seed(0)
    net = snn.SequentialState(torch.nn.Linear(3, 4), snn.LIFCell(), torch.nn.Linear(4, 2), snn.LICell())
    x = torch.randn(8, 3) * 5
    out, state = net(x)
    assert out.shape == (8, 2)
    assert state[0] is None and state[2] is None
    assert isinstance(state[1], snn.LIFFeedForwardState) and isinstance(state[3], snn.LIState)
    out2, state2 = net(x, state)
    # second step starts from the first step's state, so it must differ from a fresh start
    assert not torch.allclose(state2[3].v, state[3].v)
    manual_state = net[1](net[0](x), state[1])[1]
    torch.testing.assert_close(state2[1].v, manual_state.v)


def test_sequential_state_return_hidden():
    net = snn.SequentialState(torch.nn.Linear(3, 4), snn.LIFCell(), snn.LICell(), return_hidden=True)
    hidden, state = net(torch.randn(2, 3))
    assert [h.shape for h in hidden] == [(2, 4)] * 3
    torch.testing.assert_close(hidden[2], state[2].v)


def test_sequential_state_over_time_with_lift():
    net = snn.SequentialState(snn.Lift(torch.nn.Linear(3, 4)), snn.LIF(), snn.Lift(torch.nn.Linear(4, 2)), snn.LI())
    out, state = net(torch.randn(10, 5, 3))
    assert out.shape == (10, 5, 2) and state[0] is None and state[3].v.shape == (5, 2)


def test_sequential_state_rejects_bad_state():
    net = snn.SequentialState(torch.nn.Linear(3, 4), snn.LIFCell())
    with pytest.raises(ValueError, match=r"one entry per module \(2\), got a list of length 1"):
        net(torch.randn(2, 3), [None])


def test_sequential_state_sees_appended_children():
    net = snn.SequentialState(torch.nn.Linear(3, 4))
    net.append(snn.LIFCell())
    _, state = net(torch.randn(2, 3))
    assert isinstance(state[1], snn.LIFFeedForwardState)


def test_lift_stateless_and_cell():
    lin = torch.nn.Linear(3, 2)
    x = torch.randn(6, 4, 3)
    torch.testing.assert_close(snn.Lift(lin)(x), lin(x))
    out, state = snn.Lift(snn.LIFCell())(x * 10)
    ref, ref_state = snn.LIF()(x * 10)
    torch.testing.assert_close(out, ref)
    torch.testing.assert_close(state.v, ref_state.v)


def test_states_are_pytrees_and_detach():
    net = snn.SequentialState(torch.nn.Linear(3, 4), snn.LIFCell(), snn.LICell())
    _, state = net(torch.randn(2, 3, requires_grad=True))
    leaves, spec = tree_flatten(state)
    assert sum(isinstance(t, torch.Tensor) for t in leaves) == 4
    assert isinstance(tree_unflatten(leaves, spec)[1], snn.LIFFeedForwardState)
    assert any(isinstance(t, torch.Tensor) and t.requires_grad for t in leaves)
    detached = snn.detach_state(state)
    assert detached[0] is None and isinstance(detached[2], snn.LIState)
    assert not any(isinstance(t, torch.Tensor) and t.requires_grad for t in tree_flatten(detached)[0])


def test_stack_states():
    states = [snn.LIState(torch.full((2,), float(t)), torch.zeros(2)) for t in range(3)]
    stacked = snn.stack_states(states)
    assert stacked.v.shape == (3, 2) and stacked.v[:, 0].tolist() == [0.0, 1.0, 2.0]
    with pytest.raises(ValueError, match="at least one state"):
        snn.stack_states([])


def test_import_shortcuts_match_norse_names():
    for name in ["LIFParameters", "LIFState", "LIFFeedForwardState", "lif_feed_forward_step", "lif_step",
                 "lif_current_encoder", "li_step", "li_feed_forward_step", "LICell", "LI", "LILinearCell",
                 "LIFCell", "LIFRecurrentCell", "LIF", "LIFRecurrent", "LIFBoxCell", "LIFBox", "LIBoxCell",
                 "LIBox", "IAFCell", "IAF", "SequentialState", "Lift", "PoissonEncoder", "PoissonEncoderStep",
                 "SignedPoissonEncoder", "SignedPoissonEncoderStep", "ConstantCurrentLIFEncoder",
                 "PopulationEncoder", "SpikeLatencyEncoder", "SpikeLatencyLIFEncoder", "threshold", "heaviside"]:
        assert hasattr(snn, name), name
    from norse_core.functional.lif import lif_step  # noqa: F401
    from norse_core.module.lif import LIFRecurrent  # noqa: F401


def test_lift_fold_time_equals_loop():
    torch.manual_seed(0)
    conv = torch.nn.Sequential(torch.nn.Conv2d(2, 3, 3), torch.nn.MaxPool2d(2), torch.nn.Flatten())
    x = torch.randn(5, 4, 2, 8, 8)
    folded, looped = snn.Lift(conv)(x), snn.Lift(conv, fold_time=False)(x)
    assert folded.shape == (5, 4, 27)
    torch.testing.assert_close(folded, looped)
    with pytest.raises(ValueError, match="time dimension"):
        snn.Lift(conv)(torch.tensor(1.0))


def test_sequential_state_passes_rnn_its_state():
    """As in Norse: a PyTorch RNN is stateful; it gets its hidden state and passes its output on."""
    torch.manual_seed(0)
    rnn = torch.nn.GRU(4, 3, 2)
    net = snn.SequentialState(torch.nn.Linear(5, 4), rnn, snn.LIF())
    x = torch.rand(6, 2, 5)
    z, (s0, h, s2) = net(x)
    assert s0 is None and h.shape == (2, 2, 3) and z.shape == (6, 2, 3)
    z2, (_, h2, _) = net(x, [None, h, s2])
    expected, _ = rnn(net[0](x), h)
    torch.testing.assert_close(net[2](expected, s2)[0], z2)
    assert snn.has_state(torch.nn.LSTM(2, 2))


def test_forward_state_hooks():
    net = snn.SequentialState(torch.nn.Linear(1, 4), snn.LIFRecurrent(4, 4), snn.LIF())
    seen = []
    net.register_forward_state_hooks(lambda module, args, output: seen.append((type(module).__name__, args[1])))
    _, state = net(torch.ones(3, 2, 1))
    assert [name for name, _ in seen] == ["LIFRecurrent", "LIF"] and seen[0][1] is None
    with pytest.raises(ValueError, match="already registered"):
        net.register_forward_state_hooks(lambda *a: None)
    net.remove_forward_state_hooks()
    net(torch.ones(3, 2, 1), state)
    assert len(seen) == 2 and net.forward_state_hooks == []


def test_recurrent_sequential_feeds_its_output_back():
    linear = torch.nn.Linear(2, 2, bias=False)
    net = snn.RecurrentSequential(linear, torch.nn.Tanh())
    x = torch.rand(3, 2)
    y1, state = net(x)
    y2, _ = net(x, state)
    torch.testing.assert_close(y1, torch.tanh(linear(x)))
    torch.testing.assert_close(y2, torch.tanh(linear(x + y1)))
    first, _ = snn.RecurrentSequential(linear, torch.nn.Tanh(), output_modules=0)(x)
    torch.testing.assert_close(first, linear(x))
    both, state = snn.RecurrentSequential(linear, torch.nn.Tanh(), output_modules=[0, 1])(x)
    assert isinstance(both, list) and len(both) == 2 and isinstance(state, snn.RecurrentSequentialState)


def test_lift_of_steps_without_batch():
    """A step of one dimension ``(T, features)`` is looped (folding T into it would be wrong)."""
    linear = torch.nn.Linear(4, 2)
    x = torch.rand(3, 4)
    torch.testing.assert_close(snn.Lift(linear)(x), torch.stack([linear(step) for step in x]))
    assert snn.Lift(linear)(torch.rand(0, 4)).shape == (0, 2)


def test_broadcasts_to_agrees_with_torch():
    """``broadcasts_to`` (the fused loops' cheap check) says what ``torch.broadcast_shapes``
    does: broadcasts without enlarging the target."""
    from norse_core.utils.state import broadcasts_to

    target = (4, 3, 5)
    for shape in [(), (5,), (1,), (3, 5), (3, 1), (4, 3, 5), (1, 1, 1), (2,), (3, 2), (1, 4, 3, 5), (4, 1, 5), (6, 3, 5)]:
        try:
            expected = torch.broadcast_shapes(shape, target) == target
        except RuntimeError:
            expected = False
        assert broadcasts_to(shape, target) == expected, shape
