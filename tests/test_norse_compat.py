"""norse_core against Norse 1.1.0 itself (skipped when Norse is not installed: the
``bench`` extra).

1. Every public name of ``norse.torch`` (the package's ``__all__``, its modules under
   ``functional``, ``module``, ``utils`` and ``models``, and the names those modules define)
   exists in norse_core under the same path, or is listed in the table of differences in
   docs/migrating.md (read from there, so the two cannot drift; a row naming nothing in
   Norse fails too).
2. The same inputs give the same outputs, states and gradients as Norse for every model
   both have, in float64, except where docs/migrating.md documents a deliberate change.
"""

from __future__ import annotations

import fnmatch
import importlib
import inspect
import pkgutil
import re
import warnings
from pathlib import Path
from typing import Dict, List, Set

import pytest
import torch
from torch.utils._pytree import tree_leaves

norse_torch = pytest.importorskip("norse.torch", reason="compares with Norse 1.1.0: pip install -e '.[bench]'")

REPO = Path(__file__).resolve().parents[1]
MIGRATING = REPO / "docs" / "migrating.md"
TABLE_HEADING = "## Differences from Norse's API"
SUBPACKAGES = ("functional", "module", "utils", "models")


# -- 1. names -----------------------------------------------------------------------------


def documented_differences() -> Dict[str, str]:
    """The first-column patterns of the table under TABLE_HEADING -> the row."""
    text = MIGRATING.read_text()
    assert TABLE_HEADING in text, f"docs/migrating.md has no section {TABLE_HEADING!r}"
    section = text.split(TABLE_HEADING, 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("|")][2:]  # no header, no rule
    patterns = {}
    for row in rows:
        cells = [cell.strip() for cell in row.strip().strip("|").split("|")]
        assert len(cells) == 3 and all(cells), f"a row of the table needs three filled cells: {row}"
        for pattern in re.findall(r"`([^`]+)`", cells[0]):
            patterns[pattern] = row
    return patterns


def _norse_owned(obj) -> bool:
    if inspect.isclass(obj) or inspect.isfunction(obj):
        return str(getattr(obj, "__module__", "")).startswith("norse.torch")
    return type(obj).__module__.startswith("norse.torch") and not inspect.ismodule(obj)


def norse_public_names() -> Set[str]:
    """Norse's public names, as paths relative to ``norse.torch``."""
    names = set(norse_torch.__all__) | {"HAS_MATPLOTLIB", "HAS_TENSORBOARD"}
    api = {id(getattr(norse_torch, name)) for name in norse_torch.__all__ if hasattr(norse_torch, name)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for sub in SUBPACKAGES:
            names.add(sub)
            package = importlib.import_module(f"norse.torch.{sub}")
            for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
                if ".test" in info.name or ".integration" in info.name:
                    continue
                try:
                    module = importlib.import_module(info.name)
                except Exception:  # a broken Norse module (functional.adjoint.coba_lif_adjoint)
                    continue
                relative = info.name[len("norse.torch."):]
                names.add(relative)
                for attr, obj in vars(module).items():
                    if attr.startswith("_") or not _norse_owned(obj):
                        continue
                    defined_here = getattr(obj, "__module__", None) == info.name or not (
                        inspect.isclass(obj) or inspect.isfunction(obj)
                    )
                    if defined_here or id(obj) in api:  # its own names, and the API it re-exports
                        names.add(f"{relative}.{attr}")
    return names


def ours_has(path: str) -> bool:
    """Whether ``norse_core.<path>`` resolves (as a module, or attributes of one)."""
    parts = path.split(".")
    for split in range(len(parts), -1, -1):
        try:
            obj = importlib.import_module(".".join(["norse_core", *parts[:split]]))
        except ImportError:
            continue
        for part in parts[split:]:
            if not hasattr(obj, part):
                return False
            obj = getattr(obj, part)
        return True
    return False


def matches(name: str, pattern: str) -> bool:
    """A pattern with a dot matches the whole path; one without, also the last component
    (``ada_lif_step`` names ``functional.lsnn.ada_lif_step``)."""
    if fnmatch.fnmatchcase(name, pattern):
        return True
    return "." not in pattern and fnmatch.fnmatchcase(name.rpartition(".")[2], pattern)


def test_every_norse_name_exists_or_is_a_documented_difference():
    patterns = documented_differences()
    missing = sorted(
        name for name in norse_public_names()
        if not ours_has(name) and not any(matches(name, p) for p in patterns)
    )
    assert not missing, (
        f"{len(missing)} public names of norse.torch are neither in norse_core nor in the table "
        f"'{TABLE_HEADING}' of docs/migrating.md: {', '.join(missing)}"
    )


def test_every_documented_difference_names_something_norse_has():
    names = norse_public_names()
    stale = [p for p in documented_differences() if not any(matches(n, p) for n in names)]
    assert not stale, f"rows of docs/migrating.md name nothing in norse.torch 1.1.0: {stale}"


# -- 2. same numbers ----------------------------------------------------------------------

T, B, N, I = 30, 3, 5, 4
METHODS = [("super", 1.0), ("tanh", 2.0), ("triangle", 0.5), ("circ", 2.0), ("heavi_erfc", 2.0)]


def _module(side: str, name: str):
    return importlib.import_module(("norse.torch.functional." if side == "norse" else "norse_core.functional.") + name)


def _run(side, case, method, alpha):
    """Runs case's step function T steps on its inputs; returns outputs, final state leaves,
    and the gradients of a weighted sum of both w.r.t. the input and the weights."""
    torch.manual_seed(0)
    module = _module(side, case["module"])
    step = getattr(module, case["step"])
    p = _double(case["params"](module, method, alpha))
    state = case["state"](module)
    x = case.get("input", lambda: torch.rand(T, B, N, dtype=torch.float64) * 3)().requires_grad_()
    weights = [w.clone().requires_grad_() for w in case.get("weights", lambda: ())()]
    outputs = []
    for x_t in x:
        out, state = step(x_t, state, *weights, p, 0.001)
        outputs.append(out)
    out = torch.stack(outputs)
    leaves = [leaf for leaf in tree_leaves(state) if isinstance(leaf, torch.Tensor)]
    loss = (out * torch.linspace(0.5, 1.5, out.numel(), dtype=out.dtype).reshape(out.shape)).sum()
    loss = loss + sum(0.3 * leaf.sum() for leaf in leaves)
    grads = torch.autograd.grad(loss, [x, *weights], allow_unused=True)
    return out.detach(), [leaf.detach() for leaf in leaves], grads


def _double(p):
    """Parameters with every tensor field in float64 (Norse's defaults are float32 tensors,
    which would round ``dt*tau_inv`` to float32)."""
    fields = []
    for value in p:
        if isinstance(value, tuple) and hasattr(value, "_fields"):
            value = _double(value)
        elif isinstance(value, torch.Tensor) and value.is_floating_point():
            value = value.detach().double()  # Norse marks some default tensors as requiring grad
        fields.append(value)
    return type(p)(*fields)


def _zeros(n=N):
    return torch.zeros(B, n, dtype=torch.float64)


def _lif(module, method, alpha, **extra):
    return module.LIFParameters(tau_mem_inv=150.0, v_th=0.6, method=method, alpha=alpha, **extra)


def _weights():
    g = torch.Generator().manual_seed(1)
    return (torch.randn(N, I, generator=g, dtype=torch.float64), 0.5 * torch.randn(N, N, generator=g, dtype=torch.float64))


def _recurrent_input():
    return torch.rand(T, B, I, dtype=torch.float64) * 2


CASES = {
    "lif_feed_forward_step": dict(module="lif", step="lif_feed_forward_step", params=_lif,
                                  state=lambda m: m.LIFFeedForwardState(_zeros(), _zeros())),
    "lif_step": dict(module="lif", step="lif_step", params=_lif, weights=_weights, input=_recurrent_input,
                     state=lambda m: m.LIFState(_zeros(), _zeros(), _zeros())),
    "li_feed_forward_step": dict(module="leaky_integrator", step="li_feed_forward_step",
                                 params=lambda m, *_: m.LIParameters(tau_mem_inv=150.0, v_leak=0.1),
                                 state=lambda m: m.LIState(_zeros(), _zeros())),
    "li_step": dict(module="leaky_integrator", step="li_step", params=lambda m, *_: m.LIParameters(tau_mem_inv=150.0),
                    weights=lambda: _weights()[:1], input=_recurrent_input, state=lambda m: m.LIState(_zeros(), _zeros())),
    "lif_box_feed_forward_step": dict(module="lif_box", step="lif_box_feed_forward_step",
                                      params=lambda m, method, alpha: m.LIFBoxParameters(tau_mem_inv=150.0, v_th=0.6, method=method, alpha=alpha),
                                      state=lambda m: m.LIFBoxFeedForwardState(_zeros())),
    "lif_box_subtract": dict(module="lif_box", step="lif_box_feed_forward_step",
                             params=lambda m, method, alpha: m.LIFBoxParameters(
                                 tau_mem_inv=150.0, v_th=0.6, method=method, alpha=alpha,
                                 reset_method=_module("norse" if m.__name__.startswith("norse.") else "ours", "reset").reset_subtract),
                             state=lambda m: m.LIFBoxFeedForwardState(_zeros())),
    "li_box_feed_forward_step": dict(module="leaky_integrator_box", step="li_box_feed_forward_step",
                                     params=lambda m, *_: m.LIBoxParameters(tau_mem_inv=150.0),
                                     state=lambda m: m.LIBoxState(_zeros())),
    "iaf_feed_forward_step": dict(module="iaf", step="iaf_feed_forward_step",
                                  params=lambda m, method, alpha: m.IAFParameters(v_th=1.5, method=method, alpha=alpha),
                                  input=lambda: torch.rand(T, B, N, dtype=torch.float64),
                                  state=lambda m: m.IAFFeedForwardState(_zeros())),
    "iaf_step": dict(module="iaf", step="iaf_step", params=lambda m, method, alpha: m.IAFParameters(v_th=1.5, method=method, alpha=alpha),
                     weights=_weights, input=lambda: torch.rand(T, B, I, dtype=torch.float64) * 0.6,
                     state=lambda m: m.IAFState(_zeros(), _zeros())),
    "lif_ex_feed_forward_step": dict(module="lif_ex", step="lif_ex_feed_forward_step",
                                     params=lambda m, method, alpha: m.LIFExParameters(tau_mem_inv=150.0, v_th=0.6, delta_T=0.3, method=method, alpha=alpha),
                                     state=lambda m: m.LIFExFeedForwardState(_zeros(), _zeros())),
    "lif_adex_feed_forward_step": dict(module="lif_adex", step="lif_adex_feed_forward_step",
                                       params=lambda m, method, alpha: m.LIFAdExParameters(
                                           tau_mem_inv=150.0, v_th=0.6, delta_T=0.3, tau_ada_inv=50.0, adaptation_current=0.5,
                                           adaptation_spike=0.2, method=method, alpha=alpha),
                                       state=lambda m: m.LIFAdExFeedForwardState(_zeros(), _zeros(), _zeros())),
    "coba_lif_feed_forward_step": dict(module="coba_lif", step="coba_lif_feed_forward_step",
                                       params=lambda m, method, alpha: m.CobaLIFParameters(method=method, alpha=alpha),
                                       input=lambda: torch.rand(T, B, N, dtype=torch.float64) * 40 - 20,
                                       state=lambda m: m.CobaLIFFeedForwardState(_zeros() - 20, _zeros(), _zeros())),
    "lif_mc_feed_forward_step": dict(module="lif_mc", step="lif_mc_feed_forward_step", params=_lif,
                                     weights=lambda: (0.3 * torch.randn(N, N, generator=torch.Generator().manual_seed(2), dtype=torch.float64),),
                                     state=lambda m: m.LIFFeedForwardState(_zeros(), _zeros())),
    "izhikevich_feed_forward_step": dict(
        module="izhikevich", step="izhikevich_feed_forward_step",
        params=lambda m, method, alpha: m.IzhikevichParameters(a=0.02, b=0.2, c=-65, d=6, method=method, alpha=alpha),
        input=lambda: torch.rand(T, B, N, dtype=torch.float64) * 30,
        state=lambda m: m.IzhikevichState(_zeros() - 70, _zeros() - 14)),
    "izhikevich_recurrent_step": dict(
        module="izhikevich", step="izhikevich_recurrent_step",
        params=lambda m, method, alpha: m.IzhikevichParameters(a=0.02, b=0.2, c=-65, d=6, method=method, alpha=alpha),
        weights=lambda: tuple(20 * w for w in _weights()), input=lambda: torch.rand(T, B, I, dtype=torch.float64),
        state=lambda m: m.IzhikevichRecurrentState(_zeros(), _zeros() - 70, _zeros() - 14)),
    "lif_adex_refrac_feed_forward_step": dict(
        module="lif_adex_refrac", step="lif_adex_refrac_feed_forward_step",
        params=lambda m, method, alpha: m.LIFAdExRefracParameters(
            _module("norse" if m.__name__.startswith("norse.") else "ours", "lif_adex").LIFAdExParameters(
                tau_mem_inv=150.0, v_th=0.6, delta_T=0.3, tau_ada_inv=50.0, adaptation_current=0.5,
                adaptation_spike=0.2, method=method, alpha=alpha), rho_reset=3.0),
        state=lambda m: m.LIFAdExRefracFeedForwardState(
            _module("norse" if m.__name__.startswith("norse.") else "ours", "lif_adex").LIFAdExFeedForwardState(_zeros(), _zeros(), _zeros()),
            _zeros())),
    "lif_ex_step": dict(module="lif_ex", step="lif_ex_step", weights=_weights, input=_recurrent_input,
                        params=lambda m, method, alpha: m.LIFExParameters(tau_mem_inv=150.0, v_th=0.6, delta_T=0.3, method=method, alpha=alpha),
                        state=lambda m: m.LIFExState(_zeros(), _zeros(), _zeros())),
    "lif_adex_step": dict(module="lif_adex", step="lif_adex_step", weights=_weights, input=_recurrent_input,
                          params=lambda m, method, alpha: m.LIFAdExParameters(
                              tau_mem_inv=150.0, v_th=0.6, delta_T=0.3, tau_ada_inv=50.0, adaptation_current=0.5,
                              adaptation_spike=0.2, method=method, alpha=alpha),
                          state=lambda m: m.LIFAdExState(_zeros(), _zeros(), _zeros(), _zeros())),
    "lif_refrac_feed_forward_step": dict(
        module="lif_refrac", step="lif_refrac_feed_forward_step",
        params=lambda m, method, alpha: m.LIFRefracParameters(_lif(_module("norse" if m.__name__.startswith("norse.") else "ours", "lif"), method, alpha), rho_reset=3.0),
        state=lambda m: m.LIFRefracFeedForwardState(_module("norse" if m.__name__.startswith("norse.") else "ours", "lif").LIFFeedForwardState(_zeros(), _zeros()), _zeros())),
}

#: Step functions both have whose results deliberately differ (docs/migrating.md,
#: "Deliberate changes"): what is compared there instead.
DELIBERATE = {
    # the refractory mask Θ(rho) is a plain step here, Norse passes a surrogate gradient through it
    "lif_refrac_feed_forward_step": "no gradients",
    "lif_adex_refrac_feed_forward_step": "no gradients",
    # the recurrent reset is detached, as in lif_step (Norse detaches it in lif_step only)
    "lif_ex_step": "no gradients",
    "lif_adex_step": "no gradients",
}
#: Not compared at all (docs/migrating.md): LSNN (input first), the recurrent CobaLIF step
#: (keeps the input term), lif_mc_step (couples before the LIF step, Norse after), STDP
#: (traces jump by a), SuperSpike's alpha (compared here with alpha = 1, Norse's value).
NOT_COMPARED = ("lsnn_step", "lsnn_feed_forward_step", "coba_lif_step", "lif_mc_step", "stdp_step_linear")


@pytest.fixture()
def float64_default():
    """Norse builds its constants with torch's default dtype (float32 would round them)."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)


@pytest.mark.parametrize("method, alpha", METHODS, ids=[m for m, _ in METHODS])
@pytest.mark.parametrize("name", sorted(CASES))
def test_same_outputs_states_and_gradients_as_norse(name, method, alpha, float64_default):
    case = CASES[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = _run("norse", case, method, alpha)
    ours = _run("ours", case, method, alpha)
    _compare(name, ours, theirs, gradients=DELIBERATE.get(name) != "no gradients")


def _compare(name, ours, theirs, gradients=True):
    _close(ours[0], theirs[0], f"{name}: outputs")
    assert ours[0].abs().sum() > 0
    assert len(ours[1]) == len(theirs[1])
    for k, (a, b) in enumerate(zip(ours[1], theirs[1])):
        _close(a, b, f"{name}: state leaf {k}")
    if not gradients:
        return
    for k, (a, b) in enumerate(zip(ours[2], theirs[2])):
        assert (a is None) == (b is None), f"{name}: gradient {k} present on one side only"
        if a is not None:
            _close(a, b, f"{name}: gradient {k}", tol=1e-8)


def _close(ours: torch.Tensor, theirs: torch.Tensor, what: str, tol: float = 1e-10) -> None:
    """Equal to ``tol`` relative to the largest entry (float64; the two sum in different orders)."""
    assert ours.shape == theirs.shape, f"{what}: shapes {tuple(ours.shape)} and {tuple(theirs.shape)}"
    scale = max(theirs.abs().max().item(), 1.0)
    worst = (ours - theirs).abs().max().item()
    assert worst <= tol * scale, f"{what}: differ by up to {worst:.3g} (largest entry {scale:.3g})"



def test_deliberate_cases_are_not_compared_as_equal():
    assert not set(NOT_COMPARED) & set(CASES)


# -- modules: layers (norse_core's fused kernels) and cells against Norse's modules --------


def _lif_p(side, method="super", alpha=1.0):
    return _module(side, "lif").LIFParameters(tau_mem_inv=150.0, v_th=0.6, method=method, alpha=alpha)


def _snn(side):
    return norse_torch if side == "norse" else importlib.import_module("norse_core")


MODULES = {
    # name: (constructor(side), input shape, runs over time)
    "LIF": (lambda side: _snn(side).LIF(_lif_p(side)), (T, B, N), True),
    "LIFCell": (lambda side: _snn(side).LIFCell(_lif_p(side, "tanh", 2.0)), (T, B, N), False),
    "LIFRecurrent": (lambda side: _snn(side).LIFRecurrent(I, N, _lif_p(side)), (T, B, I), True),
    "LIFRecurrentCell": (lambda side: _snn(side).LIFRecurrentCell(I, N, _lif_p(side, "triangle", 0.5)), (T, B, I), False),
    "LI": (lambda side: _snn(side).LI(_module(side, "leaky_integrator").LIParameters(tau_mem_inv=150.0)), (T, B, N), True),
    "LILinearCell": (lambda side: _snn(side).LILinearCell(I, N, _module(side, "leaky_integrator").LIParameters(tau_mem_inv=150.0)), (T, B, I), False),
    "LIFBoxCell": (lambda side: _snn(side).LIFBoxCell(_module(side, "lif_box").LIFBoxParameters(tau_mem_inv=150.0, v_th=0.6, alpha=1.0)), (T, B, N), False),
    "LIBoxCell": (lambda side: _snn(side).LIBoxCell(_module(side, "leaky_integrator_box").LIBoxParameters(tau_mem_inv=150.0)), (T, B, N), False),
    "IAF": (lambda side: _snn(side).IAF(_module(side, "iaf").IAFParameters(v_th=1.5, alpha=1.0)), (T, B, N), True),
    "LIFEx": (lambda side: _snn(side).LIFEx(_module(side, "lif_ex").LIFExParameters(tau_mem_inv=150.0, v_th=0.6, delta_T=0.3, alpha=1.0)), (T, B, N), True),
    "LIFAdEx": (lambda side: _snn(side).LIFAdEx(_module(side, "lif_adex").LIFAdExParameters(
        tau_mem_inv=150.0, v_th=0.6, delta_T=0.3, tau_ada_inv=50.0, adaptation_current=0.5, adaptation_spike=0.2, alpha=1.0)), (T, B, N), True),
    # alpha = 1: Norse's SuperSpike ignores alpha (uses 1), ours uses it (a deliberate change)
    "Izhikevich": (lambda side: _snn(side).Izhikevich(_snn(side).IzhikevichSpikingBehavior(
        _snn(side).tonic_spiking.p._replace(alpha=1.0), _snn(side).tonic_spiking.s)), (T, B, N), True),
    "IzhikevichRecurrent": (lambda side: _snn(side).IzhikevichRecurrent(I, N, _snn(side).IzhikevichSpikingBehavior(
        _snn(side).class_1_exc.p._replace(alpha=1.0), _snn(side).class_1_exc.s)), (T, B, I), True),
}


def _run_module(side, name):
    constructor, shape, over_time = MODULES[name]
    torch.manual_seed(0)
    module = constructor(side).double()
    if side == "norse" and isinstance(getattr(module, "p", None), tuple):
        module.p = _double(module.p)  # Norse's parameter defaults are float32 tensors
    weights = [w for w in ("input_weights", "recurrent_weights") if hasattr(module, w)]
    if weights:  # the same weights on both sides (autapses masked)
        g = torch.Generator().manual_seed(3)
        with torch.no_grad():
            for w in weights:
                value = torch.randn(getattr(module, w).shape, generator=g, dtype=torch.float64)
                if w == "recurrent_weights":
                    value.fill_diagonal_(0.0)
                getattr(module, w).copy_(value)
    scale = 30.0 if name.startswith("Izhikevich") else 3.0
    x = (torch.rand(shape, generator=torch.Generator().manual_seed(4), dtype=torch.float64) * scale).requires_grad_()
    if over_time:
        out, state = module(x)
    else:
        state, outputs = None, []
        for x_t in x:
            o, state = module(x_t, state)
            outputs.append(o)
        out = torch.stack(outputs)
    leaves = [leaf for leaf in tree_leaves(state) if isinstance(leaf, torch.Tensor)]
    loss = (out * torch.linspace(0.5, 1.5, out.numel(), dtype=out.dtype).reshape(out.shape)).sum()
    loss = loss + sum(0.3 * leaf.sum() for leaf in leaves)
    params = [getattr(module, w) for w in weights]
    grads = torch.autograd.grad(loss, [x, *params], allow_unused=True)
    return out.detach(), [leaf.detach().expand(out.shape[1:]) for leaf in leaves], grads


@pytest.mark.parametrize("name", sorted(MODULES))
def test_modules_match_norse(name, float64_default):
    """Layers run norse_core's fused kernels; cells step. Initial states: Norse's v is the
    0-d v_leak, ours is shaped; both broadcast alike."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = _run_module("norse", name)
    ours = _run_module("ours", name)
    _compare(name, ours, theirs)


def _functions(side):
    f = _module(side, "encode")
    lif, lif_ex = _module(side, "lif"), _module(side, "lif_ex")
    tm = _module(side, "tsodyks_makram")
    decode = _module(side, "decode")
    p = _double(lif.LIFParameters(tau_mem_inv=150.0, v_th=0.6, alpha=1.0))
    pex = _double(lif_ex.LIFExParameters(tau_mem_inv=150.0, v_th=0.6, delta_T=0.3, alpha=1.0))

    def stp(x):
        state, outs = tm.TsodyksMakramState(x=torch.ones_like(x[0]), u=torch.zeros_like(x[0])), []
        for z in (x > 1.5).double() * x:
            out, state = tm.stp_step(z, state, tm.TsodyksMakramParameters())
            outs.append(out)
        return torch.stack(outs)

    def current_encoder(encoder, params):
        def run(x):
            v, outs = torch.zeros_like(x[0]), []
            for x_t in x:
                z, v = encoder(x_t, v, params)
                outs.append(z + 0.1 * v)
            return torch.stack(outs)
        return run

    return {
        "constant_current_lif_encode": lambda x: f.constant_current_lif_encode(x[0], 20, p),
        "spike_latency_lif_encode": lambda x: f.spike_latency_lif_encode(x[0], 20, p),
        "spike_latency_encode": lambda x: f.spike_latency_encode((x > 2).double()),
        "population_encode": lambda x: f.population_encode(x[0, 0], 7),
        "lif_current_encoder": current_encoder(lif.lif_current_encoder, p),
        "lif_ex_current_encoder": current_encoder(lif_ex.lif_ex_current_encoder, pex),
        "stp_step": stp,
        "sum_decode": lambda x: decode.sum_decode(x),
        "lift(lif_feed_forward_step)": lambda x: _module(side, "lift").lift(lif.lif_feed_forward_step, p=p)(
            x, state=lif.LIFFeedForwardState(torch.zeros_like(x[0]), torch.zeros_like(x[0])))[0],
    }


@pytest.mark.parametrize("name", sorted(_functions("ours")))
def test_encoders_plasticity_and_helpers_match_norse(name, float64_default):
    def run(side):
        x = (torch.rand(T, B, N, generator=torch.Generator().manual_seed(5)) * 3).requires_grad_()
        out = _functions(side)[name](x)
        weights = torch.linspace(0.5, 1.5, out.numel()).reshape(out.shape)
        grad = torch.autograd.grad((out * weights).sum(), x, allow_unused=True)[0] if out.requires_grad else None
        return out.detach(), [], (grad,)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = run("norse")
    _compare(name, run("ours"), theirs)
