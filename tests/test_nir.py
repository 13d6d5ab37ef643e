"""NIR export and import (norse_core.to_nir / from_nir): round trips through a file, the
parameter mapping and time convention, and the errors for what NIR cannot express."""

from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch
from torch import nn

import norse_core as snn
from norse_core.nir import NIRConversionError, NIRConversionWarning, Scale, SumPool2d

nir = pytest.importorskip("nir", reason="NIR support needs the optional 'nir' extra: pip install -e '.[nir]'")

T = 10


def _roundtrip(graph, tmp_path, name="net.nir"):
    path = tmp_path / name
    nir.write(path, graph)
    return nir.read(path)


def _step(module, inputs, hidden=False):
    """Runs a per-step module over ``inputs (T, ...)``; returns stacked outputs."""
    state, outputs = None, []
    if hidden:
        module.return_hidden = True
    for x in inputs:
        out, state = module(x, state)
        outputs.append(out)
    if hidden:
        module.return_hidden = False
        return [torch.stack(layer) for layer in zip(*outputs)]
    return torch.stack(outputs)


# -- round trips --------------------------------------------------------------------------


def test_linear_lif_linear_li_round_trip_through_a_file(tmp_path):
    torch.manual_seed(0)
    net = snn.SequentialState(nn.Linear(5, 16), snn.LIF(), nn.Linear(16, 3), snn.LI())
    x = torch.rand(T, 4, 5) * 4
    net.return_hidden = True
    hidden, _ = net(x)
    net.return_hidden = False
    assert hidden[1].sum() > 0 and hidden[1].mean() < 1  # the LIF layer spikes, not everywhere

    graph = snn.to_nir(net, x[0])
    assert [type(graph.nodes[n]).__name__ for n in ("0", "1", "2", "3")] == ["Affine", "CubaLIF", "Affine", "CubaLI"]
    imported = snn.from_nir(_roundtrip(graph, tmp_path))
    assert isinstance(imported, snn.SequentialState)
    assert [type(m) for m in imported] == [nn.Linear, snn.LIFCell, nn.Linear, snn.LICell]
    stepped = _step(imported, x, hidden=True)
    for original, again in zip(hidden, stepped):
        torch.testing.assert_close(again, original, rtol=0, atol=1e-6)
    torch.testing.assert_close(stepped[1], hidden[1], rtol=0, atol=0)  # identical spikes

    over_time = snn.from_nir(_roundtrip(graph, tmp_path, "again.nir"), over_time=True)
    assert isinstance(over_time[1], snn.LIF) and isinstance(over_time[0], snn.Lift)
    torch.testing.assert_close(over_time(x)[0], hidden[-1], rtol=0, atol=1e-6)


def test_cells_export_like_layers():
    torch.manual_seed(1)
    layers = snn.SequentialState(nn.Linear(3, 4), snn.LIF(), nn.Linear(4, 2), snn.LI())
    cells = snn.SequentialState(layers[0], snn.LIFCell(), layers[2], snn.LICell())
    x = torch.rand(2, 3)
    a, b = snn.to_nir(layers, x), snn.to_nir(cells, x)
    for name in ("1", "3"):
        for field in ("tau_syn", "tau_mem", "w_in", "r", "v_leak"):
            np.testing.assert_array_equal(getattr(a.nodes[name], field), getattr(b.nodes[name], field))


def _avg_pool_instead_of_max(net: nn.Module) -> None:
    """NIR has no max pooling: the exportable variant of the task network pools by averaging."""
    for module in list(net.modules()):
        for name, child in list(module.named_children()):
            if isinstance(child, nn.MaxPool2d):
                setattr(module, name, nn.AvgPool2d(child.kernel_size, child.stride))


def _mnist_net(tmp_path, model: str, gain: float):
    from tasks.common.runner import build_task
    from tests.helpers import compose_task

    cfg = compose_task(
        "mnist", [f"model={model}", "net.channels=[4,8]", "net.hidden=24", f"net.gain={gain}", "net.seq_length=8"],
        output_dir=tmp_path,
    )
    torch.manual_seed(3)
    net = build_task(cfg).net
    for module in net.modules():  # trained-looking batch-norm statistics, so the folding matters
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.running_mean.uniform_(-0.3, 0.3)
            module.running_var.uniform_(0.5, 2.0)
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.2, 0.2)
    return net


def _gain_map():
    from tasks.mnist.model import Scale as GainScale

    return {GainScale: lambda module, shape: nir.Scale(scale=np.full(shape, module.gain))}


@pytest.mark.parametrize("model,gain", [("lif", 10.0), ("lifbox", 30.0), ("iaf", 6.0)])
def test_mnist_task_network_round_trip(tmp_path, model, gain):
    net = _mnist_net(tmp_path, model, gain)
    _avg_pool_instead_of_max(net)
    net = net.double().eval()
    images = torch.rand(4, 1, 28, 28, dtype=torch.float64)
    with torch.no_grad():
        logits, out = net(images, record=True)
    for layer in net.spiking_layers():  # every layer takes part
        assert 0 < out[f"rate/{layer}"] < 1, (layer, out[f"rate/{layer}"])

    graph = snn.to_nir({"stem": net.stem, "body": net.body}, images, custom_map=_gain_map())
    kinds = [type(node).__name__ for node in graph.nodes.values()]
    neuron = {"lif": "CubaLIF", "lifbox": "LIF", "iaf": "IF"}[model]
    assert kinds.count(neuron) == 3 and kinds.count("CubaLI") == 1
    assert "BatchNorm" not in " ".join(kinds) and kinds.count("Conv2d") == 2  # batch norms folded
    imported = snn.from_nir(_roundtrip(graph, tmp_path), dtype=torch.float64)

    with torch.no_grad():  # the direct encoder feeds the image at every step
        voltages = _step(imported, images.unsqueeze(0).expand(net.seq_length, *images.shape))
    torch.testing.assert_close(voltages, out["voltage/readout"], rtol=0, atol=1e-10)
    torch.testing.assert_close(voltages.max(0).values, logits, rtol=0, atol=1e-10)


def test_mnist_task_network_with_max_pooling_names_the_layer(tmp_path):
    net = _mnist_net(tmp_path, "lif", 1.0).eval()
    with pytest.raises(NIRConversionError, match=r"stem\.2 \(FastMaxPool2d\).*no max pooling"):
        snn.to_nir({"stem": net.stem, "body": net.body}, torch.rand(1, 1, 28, 28))
    with pytest.raises(NIRConversionError, match="not a chain container"):
        snn.to_nir(net, torch.rand(1, 1, 28, 28))


# -- neuron mapping and the time convention -----------------------------------------------


def test_parameter_mapping_table():
    dt = 0.002
    p = snn.LIFParameters(tau_syn_inv=250.0, tau_mem_inv=50.0, v_leak=0.1, v_th=0.8, v_reset=-0.2, method="tanh", alpha=7.0)
    graph = snn.to_nir(
        snn.SequentialState(snn.LIFCell(p, dt=dt), snn.LIFBoxCell(snn.LIFBoxParameters(40.0, 0.2, 1.5, 0.1), dt=dt),
                            snn.LIBoxCell(snn.LIBoxParameters(30.0, -0.1), dt=dt), snn.LICell(snn.LIParameters(100.0, 20.0, 0.3), dt=dt),
                            snn.IAFCell(snn.IAFParameters(2.0, -1.0), dt=dt)),
        torch.zeros(1, 3),
    )
    assert graph.metadata["dt"] == dt
    cuba, lif, li, cubali, iaf = (graph.nodes[str(i)] for i in range(5))
    full = lambda v: np.full(3, v)  # noqa: E731
    assert isinstance(cuba, nir.CubaLIF)
    np.testing.assert_allclose(cuba.tau_syn, full(1 / 250)); np.testing.assert_allclose(cuba.tau_mem, full(1 / 50))
    np.testing.assert_allclose(cuba.w_in, full(1 / 250 / dt)); np.testing.assert_array_equal(cuba.r, full(1.0))
    np.testing.assert_array_equal(cuba.v_leak, full(0.1)); np.testing.assert_array_equal(cuba.v_threshold, full(0.8))
    np.testing.assert_array_equal(cuba.v_reset, full(-0.2))
    assert cuba.metadata["norse_core.method"] == "tanh" and cuba.metadata["norse_core.alpha"] == 7.0
    assert isinstance(lif, nir.LIF)
    np.testing.assert_allclose(lif.tau, full(1 / 40)); np.testing.assert_array_equal(lif.r, full(1.0))
    np.testing.assert_array_equal(lif.v_threshold, full(1.5)); np.testing.assert_array_equal(lif.v_reset, full(0.1))
    assert isinstance(li, nir.LI)
    np.testing.assert_allclose(li.tau, full(1 / 30)); np.testing.assert_array_equal(li.v_leak, full(-0.1))
    assert isinstance(cubali, nir.CubaLI)
    np.testing.assert_allclose(cubali.tau_syn, full(1 / 100)); np.testing.assert_allclose(cubali.w_in, full(1 / 100 / dt))
    assert isinstance(iaf, nir.IF)
    np.testing.assert_allclose(iaf.r, full(1 / dt)); np.testing.assert_array_equal(iaf.v_threshold, full(2.0))
    np.testing.assert_array_equal(iaf.v_reset, full(-1.0))


def _euler_reference(node, inputs, dt):
    """The documented convention, written independently: forward Euler at dt, the input held
    over the step, the synaptic current updated before the membrane."""
    shape = inputs.shape[1:]
    v = np.broadcast_to(getattr(node, "v_leak", np.zeros(shape)), shape).astype(np.float64)
    i = np.zeros(shape)
    outputs = []
    for s in inputs:
        if isinstance(node, (nir.CubaLIF, nir.CubaLI)):
            i = i + dt / node.tau_syn * (-i + node.w_in * s)
            v = v + dt / node.tau_mem * ((node.v_leak - v) + node.r * i)
        elif isinstance(node, (nir.LIF, nir.LI)):
            v = v + dt / node.tau * ((node.v_leak - v) + node.r * s)
        elif isinstance(node, nir.IF):
            v = v + dt * node.r * s
        if isinstance(node, (nir.CubaLI, nir.LI)):
            outputs.append(v.copy())
            continue
        z = (v > node.v_threshold).astype(np.float64)
        v = np.where(z > 0, node.v_reset, v)
        outputs.append(z)
    return np.stack(outputs)


def _nir_neurons(n=6, seed=0):
    rng = np.random.default_rng(seed)
    u = lambda lo, hi: rng.uniform(lo, hi, n)  # noqa: E731 - per-neuron values
    return {
        "CubaLIF": nir.CubaLIF(tau_syn=u(2e-3, 8e-3), tau_mem=u(5e-3, 2e-2), r=u(0.5, 2.0), v_leak=u(-0.1, 0.1),
                               v_threshold=u(0.5, 1.0), v_reset=u(-0.3, 0.0), w_in=u(0.5, 3.0)),
        "LIF": nir.LIF(tau=u(5e-3, 2e-2), r=u(0.5, 2.0), v_leak=u(-0.1, 0.1), v_threshold=u(0.3, 0.6), v_reset=u(-0.3, 0.0)),
        "CubaLI": nir.CubaLI(tau_syn=u(2e-3, 8e-3), tau_mem=u(5e-3, 2e-2), r=u(0.5, 2.0), v_leak=u(-0.1, 0.1), w_in=u(0.5, 3.0)),
        "LI": nir.LI(tau=u(5e-3, 2e-2), r=u(0.5, 2.0), v_leak=u(-0.1, 0.1)),
        "IF": nir.IF(r=u(100.0, 400.0), v_threshold=u(0.5, 1.5), v_reset=u(-0.3, 0.0)),
    }


@pytest.mark.parametrize("kind", ["CubaLIF", "LIF", "CubaLI", "LI", "IF"])
def test_import_follows_the_documented_euler_convention(kind):
    node, dt = _nir_neurons()[kind], 0.001
    inputs = np.random.default_rng(1).uniform(0, 2, (40, 3, 6))
    module = snn.from_nir(node, dt=dt, dtype=torch.float64)
    assert isinstance(module, snn.SequentialState) and isinstance(module[0], Scale)  # r, w_in != 1: an input scale
    got = _step(module, torch.from_numpy(inputs)).detach().numpy()
    expected = _euler_reference(node, inputs, dt)
    if kind in ("CubaLIF", "LIF", "IF"):
        assert 0 < expected.mean() < 1
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-10)


@pytest.mark.parametrize("cell", ["LIFCell", "LIFBoxCell", "LICell", "LIBoxCell", "IAFCell"])
def test_each_neuron_round_trips_with_per_neuron_parameters(cell, tmp_path):
    torch.manual_seed(2)
    p = {
        "LIFCell": snn.LIFParameters(150.0, 80.0, 0.05, 0.7, -0.1, "triangle", 0.5),
        "LIFBoxCell": snn.LIFBoxParameters(60.0, 0.05, 0.9, -0.2, "atan", 2.0),
        "LICell": snn.LIParameters(150.0, 80.0, 0.05),
        "LIBoxCell": snn.LIBoxParameters(60.0, 0.05),
        "IAFCell": snn.IAFParameters(1.5, -0.5, "circ", 3.0),
    }[cell]
    trainable = ("tau_mem_inv",) if cell != "IAFCell" else ("v_th",)
    module = getattr(snn, cell)(p, trainable=trainable, trainable_shape=(7,))
    with torch.no_grad():
        getattr(module, "p_" + trainable[0]).mul_(torch.linspace(0.7, 1.3, 7))
    x = torch.rand(T, 3, 7) * (3 if cell != "IAFCell" else 0.6)
    expected = _step(module, x)
    graph = _roundtrip(snn.to_nir(module, x[0]), tmp_path)
    imported = snn.from_nir(graph)
    assert type(imported[-1]).__name__ == cell and not isinstance(imported[0], Scale)
    if hasattr(p, "method"):
        assert imported[-1].p.method == p.method and imported[-1].p.alpha == p.alpha
    torch.testing.assert_close(_step(imported, x), expected, rtol=0, atol=1e-5)


def test_cell_dt_different_from_graph_dt_is_rescaled_exactly(tmp_path):
    torch.manual_seed(4)
    net = snn.SequentialState(nn.Linear(3, 5), snn.LIFCell(dt=0.001), snn.IAFCell(dt=0.001))
    x = torch.rand(T, 2, 3) * 4
    with pytest.warns(NIRConversionWarning, match="rescaled"):
        graph = snn.to_nir(net, x[0], dt=0.0005)
    np.testing.assert_allclose(graph.nodes["1"].tau_mem, np.full(5, 0.0005 / (0.001 * 100)))
    imported = snn.from_nir(_roundtrip(graph, tmp_path))  # runs at the graph's dt
    assert imported[1].dt == 0.0005
    torch.testing.assert_close(_step(imported, x), _step(net, x), rtol=0, atol=1e-6)


def test_import_dt_defaults_to_the_graph_and_a_different_one_warns():
    graph = snn.to_nir(snn.LIFCell(dt=0.002), torch.zeros(1, 2))
    assert snn.from_nir(graph)[0].dt == 0.002
    with pytest.warns(NIRConversionWarning, match="exported at dt=0.002"):
        assert snn.from_nir(graph, dt=0.001)[-1].dt == 0.001
    graph.metadata = {}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert snn.from_nir(graph)[-1].dt == 0.001


# -- what NIR cannot express ----------------------------------------------------------------


@pytest.mark.parametrize("cell,node", [
    (snn.LIFBoxCell(snn.LIFBoxParameters(reset_method="subtract")), nir.LIF),
    (snn.LIFCell(snn.LIFParameters(reset_method="subtract")), nir.CubaLIF),
    (snn.IAF(snn.IAFParameters(reset_method="subtract")), nir.IF),
])
def test_subtractive_reset_is_an_error_or_a_warning(cell, node):
    with pytest.raises(NIRConversionError, match="subtraction.*strict=False"):
        snn.to_nir(cell, torch.zeros(1, 2))
    with pytest.warns(NIRConversionWarning, match="subtraction"):
        graph = snn.to_nir(cell, torch.zeros(1, 2), strict=False)
    assert [type(n) for n in graph.nodes.values() if type(n) not in (nir.Input, nir.Output)] == [node]


@pytest.mark.parametrize("module,match", [
    (snn.LSNNCell(), r"LSNNCell\) has no NIR equivalent"),
    (snn.LIFRecurrentCell(2, 2), r"LIFRecurrentCell\) has no NIR equivalent"),
    (nn.ReLU(), r"ReLU\) has no NIR mapping"),
    (nn.MaxPool1d(2), "no max pooling"),
])
def test_unsupported_modules_are_named(module, match):
    with pytest.raises(NIRConversionError, match=match):
        snn.to_nir(snn.SequentialState(nn.Linear(2, 2), module), torch.zeros(1, 2))


def test_batch_norms_fold_or_become_nodes_and_training_mode_is_an_error():
    torch.manual_seed(5)

    def trained(norm):
        norm.running_mean.uniform_(-1, 1)
        norm.running_var.uniform_(0.5, 2)
        norm.weight.data.uniform_(0.5, 1.5)
        norm.bias.data.uniform_(-0.5, 0.5)
        return norm

    linear, norm1 = nn.Linear(2, 3, bias=False), trained(nn.BatchNorm1d(3))
    with pytest.raises(NIRConversionError, match=r"1 \(BatchNorm1d\) is in training mode.*\.eval\(\)"):
        snn.to_nir(snn.SequentialState(linear, norm1), torch.zeros(1, 2))
    cases = [
        (snn.SequentialState(linear, norm1).eval(), torch.randn(4, 2), ["Affine"]),  # folded: Linear -> Affine
        (snn.SequentialState(trained(nn.BatchNorm1d(2))).eval(), torch.randn(4, 2), ["Affine"]),  # standalone
        (snn.SequentialState(nn.Conv2d(2, 3, 3), trained(nn.BatchNorm2d(3))).eval(), torch.randn(4, 2, 6, 6), ["Conv2d"]),
        (snn.SequentialState(nn.AvgPool2d(2), trained(nn.BatchNorm2d(2))).eval(), torch.randn(4, 2, 6, 6),
         ["AvgPool2d", "Conv2d"]),  # standalone: a 1x1 convolution
    ]
    for net, x, kinds in cases:
        graph = snn.to_nir(net, x)
        assert [type(n).__name__ for k, n in graph.nodes.items() if k not in ("input", "output")] == kinds
        with torch.no_grad():
            torch.testing.assert_close(snn.from_nir(graph)(x)[0], net(x)[0], rtol=1e-5, atol=1e-6)


def test_stateless_layers_round_trip(tmp_path):
    torch.manual_seed(6)
    net = snn.SequentialState(
        nn.Conv2d(2, 4, 3, stride=2, padding=1, bias=False), nn.AvgPool2d(2), SumPool2d(2, padding=1), Scale(0.5),
        nn.LPPool2d(1, 2), nn.Dropout(0.3), nn.Flatten(), nn.Linear(4, 6), nn.Identity(),
    ).eval()
    x = torch.randn(3, 2, 16, 16)
    graph = _roundtrip(snn.to_nir(net, x), tmp_path)
    imported = snn.from_nir(graph)
    assert [type(m).__name__ for m in imported] == ["Conv2d", "AvgPool2d", "SumPool2d", "Scale", "SumPool2d", "Flatten", "Linear"]
    assert graph.nodes["6"].start_dim == 0 and imported[5].start_dim == 1
    with torch.no_grad():
        torch.testing.assert_close(imported(x)[0], net(x)[0], rtol=1e-5, atol=1e-5)
    conv1d = snn.SequentialState(nn.Conv1d(2, 3, 3, padding=1, dilation=1), nn.Flatten(1, 2))
    x1 = torch.randn(2, 2, 5)
    with torch.no_grad():
        torch.testing.assert_close(snn.from_nir(_roundtrip(snn.to_nir(conv1d, x1), tmp_path, "c.nir"))(x1)[0], conv1d(x1)[0])
    for bad, match in [(nn.AvgPool2d(2, ceil_mode=True), "ceil_mode"), (nn.Flatten(0), "batch dimension"),
                       (nn.Conv2d(2, 2, 3, padding=1, padding_mode="reflect"), "reflect"),
                       (nn.Conv2d(2, 2, 3, groups=2), "groups=2")]:
        with pytest.raises(NIRConversionError, match=match):
            snn.to_nir(bad, x)


def test_sample_input_must_be_one_step():
    net = snn.SequentialState(nn.Conv2d(1, 2, 3), snn.LIF())
    with pytest.raises(NIRConversionError, match=r"one time step \(batch, \.\.\.\)"):
        snn.to_nir(net, torch.zeros(5, 2, 1, 8, 8))  # (time, batch, ...) by mistake
    with pytest.raises(ValueError, match="batch dimension"):
        snn.to_nir(net, torch.zeros(8))


def test_unsupported_nir_nodes_are_named_on_import():
    graph = nir.NIRGraph.from_list(nir.Affine(np.ones((2, 2)), np.zeros(2)), nir.I(r=np.ones(2)))
    with pytest.raises(NIRConversionError, match=r"node 'i' is a NIR I"):
        snn.from_nir(graph)
    with pytest.raises(NIRConversionError, match="must be positive"):
        snn.from_nir(nir.LIF(tau=np.zeros(2), r=np.ones(2), v_leak=np.zeros(2), v_threshold=np.ones(2)))


def test_graphs_that_are_not_chains_run_through_nirtorch():
    pytest.importorskip("nirtorch")
    rng = np.random.default_rng(0)
    w_in, w_skip = rng.normal(size=(6, 4)).astype(np.float32), rng.normal(size=(6, 4)).astype(np.float32)
    w_rec = (rng.normal(size=(6, 6)) * 0.5).astype(np.float32)
    cell = snn.to_nir(snn.LIFCell(), torch.zeros(1, 6)).nodes["cubalif"]
    x = torch.rand(T, 3, 4) * 2

    def graph(extra_nodes, extra_edges):
        nodes = {"input": nir.Input(input_type=np.array([4])), "a": nir.Linear(w_in), "lif": cell,
                 "output": nir.Output(output_type=np.array([6])), **extra_nodes}
        edges = [("input", "a"), ("a", "lif"), ("lif", "output"), *extra_edges]
        return nir.NIRGraph(nodes=nodes, edges=edges, metadata={"dt": 0.001})

    skip = snn.from_nir(graph({"b": nir.Linear(w_skip)}, [("input", "b"), ("b", "lif")]))
    reference = snn.LIFCell()
    expected = _step(reference, x @ torch.from_numpy(w_in).T + x @ torch.from_numpy(w_skip).T)
    assert 0 < expected.mean() < 1
    torch.testing.assert_close(_step(skip, x), expected, rtol=0, atol=1e-6)

    recurrent = snn.from_nir(graph({"rec": nir.Linear(w_rec)}, [("lif", "rec"), ("rec", "lif")]))
    reference = snn.LIFRecurrentCell(4, 6, input_weights=torch.from_numpy(w_in), recurrent_weights=torch.from_numpy(w_rec), autapses=True)
    torch.testing.assert_close(_step(recurrent, x), _step(reference, x), rtol=0, atol=1e-6)
    with pytest.raises(NIRConversionError, match="over_time=True needs a chain"):
        snn.from_nir(graph({"rec": nir.Linear(w_rec)}, [("lif", "rec"), ("rec", "lif")]), over_time=True)


def test_import_norse_core_does_not_need_nir():
    code = "import sys, norse_core as snn; assert 'nir' not in sys.modules and callable(snn.to_nir); print('ok')"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "ok" in result.stdout, result.stderr


# -- graphs written by Norse 1.1.0 --------------------------------------------------------


def _norse_network(kind):
    norse = pytest.importorskip("norse.torch", reason="needs Norse 1.1.0 (the 'bench' extra)")
    torch.manual_seed(0)
    if kind == "box":
        return norse, norse.SequentialState(nn.Linear(3, 4), norse.LIFBoxCell(), nn.Linear(4, 2), norse.LIBoxCell())
    return norse, norse.SequentialState(nn.Linear(3, 4), norse.LIFCell(), nn.Linear(4, 2), norse.IAFCell())


@pytest.mark.parametrize("kind", ["box", "current"])
def test_graphs_written_by_norse_import_with_its_convention(kind):
    """Norse's to_nir writes tau = dt/tau_inv (1e-5 for a 10 ms membrane at dt = 1 ms): read
    with the NIR convention that is tau_mem_inv = 1e5 (refused); detected, it is the
    network Norse exported, step for step."""
    norse, net = _norse_network(kind)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        graph = norse.to_nir(net, torch.randn(1, 3))
    with pytest.warns(NIRConversionWarning, match="Norse 1.1.0's to_nir"):
        imported = snn.from_nir(graph)
    neuron = imported[1]
    assert isinstance(neuron, snn.LIFBoxCell if kind == "box" else snn.LIFCell)
    assert neuron.p.tau_mem_inv == pytest.approx(100.0, rel=1e-6)
    if kind == "current":
        assert neuron.p.tau_syn_inv == pytest.approx(200.0, rel=1e-6)
    x = torch.rand(40, 2, 3) * 3
    ours = _step(imported, x)
    theirs = _step(net, x)
    assert torch.isfinite(ours).all() and ours.abs().sum() > 0
    torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # explicit: no warning
        torch.testing.assert_close(_step(snn.from_nir(graph, convention="norse"), x), ours)
    with pytest.raises(NIRConversionError, match="node '1'.*convention='norse'"):
        snn.from_nir(graph, convention="nir")


def test_time_constants_that_cannot_be_integrated_are_refused_naming_the_node():
    """A graph with some time constants shorter than dt is not Norse's convention: refused."""
    graph = nir.NIRGraph(
        nodes={
            "input": nir.Input(input_type=np.array([2])),
            "slow": nir.LI(tau=np.full(2, 0.02), r=np.ones(2), v_leak=np.zeros(2)),
            "fast": nir.LIF(tau=np.full(2, 1e-5), r=np.ones(2), v_leak=np.zeros(2), v_threshold=np.ones(2), v_reset=np.zeros(2)),
            "output": nir.Output(output_type=np.array([2])),
        },
        edges=[("input", "slow"), ("slow", "fast"), ("fast", "output")],
    )
    with pytest.raises(NIRConversionError, match="node 'fast' \\(LIF\\).*dt \\* tau_mem_inv"):
        snn.from_nir(graph)
    with pytest.raises(ValueError, match="convention must be"):
        snn.from_nir(graph, convention="snntorch")


def test_our_graphs_are_never_read_as_norses():
    net = snn.SequentialState(nn.Linear(3, 2), snn.LIFBoxCell(snn.LIFBoxParameters(tau_mem_inv=1000.0)))
    graph = snn.to_nir(net, torch.rand(1, 3), dt=0.001)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        imported = snn.from_nir(graph)
    assert imported[1].p.tau_mem_inv == pytest.approx(1000.0)
