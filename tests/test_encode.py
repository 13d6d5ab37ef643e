import pytest
import torch

import norse_core as snn


def test_poisson_rate_within_tolerance():
    x = torch.tensor([0.0, 0.25, 0.5, 1.0])
    spikes = snn.poisson_encode(x, 20000, f_max=100, generator=torch.Generator().manual_seed(0))
    assert spikes.shape == (20000, 4)
    rates = spikes.mean(0) / 0.001  # Hz
    assert rates[0] == 0
    torch.testing.assert_close(rates[1:], torch.tensor([25.0, 50.0, 100.0]), atol=4.0, rtol=0)


def test_poisson_generator_reproducible_and_module():
    x = torch.rand(3, 5)
    a = snn.PoissonEncoder(50, f_max=500, generator=torch.Generator().manual_seed(3))(x)
    b = snn.PoissonEncoder(50, f_max=500, generator=torch.Generator().manual_seed(3))(x)
    assert torch.equal(a, b) and a.shape == (50, 3, 5) and a.sum() > 0
    step = snn.PoissonEncoderStep(generator=torch.Generator().manual_seed(0))(torch.full((10000,), 0.3))
    assert step.mean().item() == pytest.approx(0.3, abs=0.02)


def test_signed_poisson():
    x = torch.tensor([-1.0, 1.0, 0.0])
    s = snn.SignedPoissonEncoder(2000, f_max=200, generator=torch.Generator().manual_seed(0))(x)
    assert torch.all(s[:, 0] <= 0) and torch.all(s[:, 1] >= 0) and torch.all(s[:, 2] == 0)
    assert (s[:, 0] == -1).float().mean().item() == pytest.approx(0.2, abs=0.03)
    step = snn.SignedPoissonEncoderStep(f_max=1000)(torch.tensor([-1.0, 1.0]))
    assert step.tolist() == [-1.0, 1.0]


def test_constant_current_lif_encoder_matches_current_encoder():
    x = torch.tensor([1.0, 2.0, 50.0])
    spikes = snn.ConstantCurrentLIFEncoder(40)(x)
    assert spikes.shape == (40, 3)
    v, expected = torch.zeros(3), []
    for _ in range(40):
        z, v = snn.lif_current_encoder(x, v)
        expected.append(z)
    assert torch.equal(spikes, torch.stack(expected))
    assert spikes[:, 0].sum() == 0 and spikes[:, 1].sum() > 0 and spikes[:, 2].sum() > spikes[:, 1].sum()


def test_population_example_from_spec():
    out = snn.population_encode(torch.tensor([0.0, 0.5, 1.0]), 3)
    expected = torch.tensor([[1, 0.8825, 0.6065], [0.8825, 1, 0.8825], [0.6065, 0.8825, 1]])
    torch.testing.assert_close(out, expected, atol=1e-4, rtol=0)
    module_out = snn.PopulationEncoder(5)(torch.rand(2, 4))
    assert module_out.shape == (2, 4, 5)


def test_spike_latency_keeps_first_spike():
    spikes = torch.tensor([[0, 1.0], [1, 1], [1, 0], [0, 1]])
    assert snn.SpikeLatencyEncoder()(spikes).tolist() == [[0, 1], [1, 0], [0, 0], [0, 0]]
    lat = snn.SpikeLatencyLIFEncoder(30)(torch.tensor([2.0, 20.0, 0.5]))
    assert lat.sum(0).tolist() == [1.0, 1.0, 0.0]
    first = snn.spikes_to_times_decode(lat)
    assert first[1] < first[0] and first[2] == float("inf")


def test_decoders():
    x = torch.tensor([[1.0, 0.0], [3.0, 0.0], [2.0, 0.0]])
    assert snn.SumDecoder()(x).tolist() == [6.0, 0.0]
    assert snn.MaxDecoder()(x).tolist() == [3.0, 0.0]
    assert snn.SpikesToTimesDecoder(dt=0.5)(torch.tensor([[0.0, 0], [0, 0], [1, 0]])).tolist() == [1.0, float("inf")]


@pytest.mark.parametrize("bad", [0, -3, 2.5])
def test_bad_seq_length(bad):
    with pytest.raises(ValueError, match=f"seq_length must be a positive int, got {bad}"):
        snn.PoissonEncoder(bad)
    with pytest.raises(ValueError, match="seq_length"):
        snn.constant_current_lif_encode(torch.ones(1), bad)
