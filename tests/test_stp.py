import pytest
import torch

import norse_core as snn


def test_defaults():
    p = snn.TsodyksMakramParameters()
    assert p == (20.0, 50.0, 1 / 0.75, 0.45)


def test_hand_computed_trace():
    z = torch.tensor([1.0, 0.0, 1.0], dtype=torch.float64)
    state = None
    outputs, us, xs = [], [], []
    for t in range(3):
        out, state = snn.stp_step(z[t : t + 1], state)
        outputs.append(out.item())
        us.append(state.u.item())
        xs.append(state.x.item())
    # step 1 (spike, from rest u=0, x=1): u' = U = 0.45; out = 0.45*1; x' = 1 - 0.45
    # step 2 (no spike): u' = 0.45*(1 - 0.02) = 0.441; x' = 0.55 + 0.001/0.75*0.45 = 0.5506
    # step 3 (spike): u' = 0.441*0.98 + 0.45*(1 - 0.441) = 0.68373; out = 0.68373*0.5506
    #                 x' = 0.5506 + 0.001/0.75*(1 - 0.5506) - out
    out3 = 0.68373 * 0.5506
    assert outputs == pytest.approx([0.45, 0.0, out3], abs=1e-12)
    assert us == pytest.approx([0.45, 0.441, 0.68373], abs=1e-12)
    assert xs == pytest.approx([0.55, 0.5506, 0.5506 + 0.001 / 0.75 * 0.4494 - out3], abs=1e-12)


def test_none_state_is_rest_and_first_spike_outputs_U():
    z = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    out, state = snn.stp_step(z, None, snn.TsodyksMakramParameters(U=0.3))
    torch.testing.assert_close(out, 0.3 * z)
    out_rest, state_rest = snn.stp_step(z, snn.TsodyksMakramState(torch.zeros(2, 2), torch.ones(2, 2)),
                                        snn.TsodyksMakramParameters(U=0.3))
    torch.testing.assert_close(out, out_rest)
    torch.testing.assert_close(state.x, state_rest.x)
    torch.testing.assert_close(state.x, 1 - 0.3 * z)


def _spike_outputs(p, period=5, n_spikes=8):
    state, outputs = None, []
    for t in range(period * n_spikes):
        z = torch.tensor([1.0 if t % period == 0 else 0.0], dtype=torch.float64)
        out, state = snn.stp_step(z, state, p)
        if t % period == 0:
            outputs.append(out.item())
    return outputs


def test_facilitation_regular_train():
    # small U, resources recover fully within one step (dt*tau_d_inv = 1): u builds up spike by spike
    p = snn.TsodyksMakramParameters(tau_f_inv=20.0, tau_d_inv=1000.0, U=0.1)
    outputs = _spike_outputs(p)
    assert all(b > a for a, b in zip(outputs, outputs[1:]))
    u, expected = 0.0, []
    for _ in outputs:  # x = 1 before every spike; the spike step decays u and jumps by U*(1 - u)
        u = 0.98 * u + 0.1 * (1 - u)
        expected.append(u)
        u = u * 0.98 ** 4
    assert outputs == pytest.approx(expected, rel=1e-10)


def test_depression_regular_train():
    # large U, u forgets within one step (dt*tau_f_inv = 1), resources recover slowly: x runs down
    p = snn.TsodyksMakramParameters(tau_f_inv=1000.0, tau_d_inv=1 / 0.75, U=0.8)
    outputs = _spike_outputs(p)
    assert outputs[0] == pytest.approx(0.8)
    assert all(b < a for a, b in zip(outputs, outputs[1:]))
    # u' = U at every spike; the spike step releases u'*x and recovers: x' = x + k*(1 - x) - u'*x
    x, expected, k = 1.0, [], 0.001 / 0.75
    for _ in outputs:
        expected.append(0.8 * x)
        x = x + k * (1 - x) - 0.8 * x
        for _ in range(4):
            x = x + k * (1 - x)
    assert outputs == pytest.approx(expected, rel=1e-10)


def test_state_shape_error():
    with pytest.raises(ValueError, match=r"state.u has shape \(3,\) but must match z of shape \(2,\)"):
        snn.stp_step(torch.zeros(2), snn.TsodyksMakramState(torch.zeros(3), torch.ones(3)))
    with pytest.raises(TypeError, match="TsodyksMakramState"):
        snn.stp_step(torch.zeros(2), (torch.zeros(2), torch.ones(2)))
