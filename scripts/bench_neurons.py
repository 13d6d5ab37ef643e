"""Benchmark norse_core's neuron layers against Norse, snnTorch and SpikingJelly.

Everything runs in ONE process with ``torch.set_num_threads(threads)``: candidates of a
section are timed round robin (one iteration each, repeated, in orders where each candidate
follows every other one equally often), and medians are reported.

1. Neuron dynamics alone, forward + backward, ``T=100, B=32, N=512``: current-based LIF
   (norse_core ``LIF`` against Norse ``LIF`` and snnTorch ``Synaptic``) and box LIF
   (norse_core ``LIFBox`` against Norse ``LIFBoxCell`` looped, snnTorch ``Leaky`` and
   SpikingJelly multi-step ``LIFNode``).
2. The Open Neuromorphic protocol: ``Linear(n, n)`` + LIF layer, ``B=16, T=500``,
   ``n in {512, 1024, 2048}``: forward time, backward time and peak memory (bytes of tensors
   created during one forward + backward and alive at the same time, from the profiler's
   memory timeline; inputs and weights created before do not count).
3. MNIST task training throughput (``tasks.mnist.model.ConvSNN``, random images, Adam step)
   with the fused loops on and off.
4. Recurrent layers (LIF, LSNN, IAF) fused (C++, portable) against their step-by-step loop, at a
   wide shape and at the memory task's shape.
5. Trainable time constants, forward + backward, ``T=100, B=32, N=512``: PLIF (``LIF`` with one
   trainable ``tau_mem_inv`` per neuron) against the fixed-parameter fused ``LIF`` and the step
   loop, and ``LIFBox`` with a trainable ``tau_mem_inv`` against SpikingJelly's multi-step
   ``ParametricLIFNode`` (one trainable time constant per layer).

It prints the tables and writes ``docs/benchmarks.md`` (command, machine, date, versions).

Install the peers (they are optional; missing ones are skipped)::

    .venv/bin/pip install -e '.[bench]'                       # norse==1.1.0, nir, nirtorch, snntorch
    .venv/bin/pip install --no-deps spikingjelly loguru        # --no-deps: spikingjelly's
                                                              # torchaudio pin would replace torch

Run::

    .venv/bin/python scripts/bench_neurons.py                  # all sections, 2 threads
    .venv/bin/python scripts/bench_neurons.py --sections 1 --repeats 15 --no-write
    .venv/bin/python scripts/bench_neurons.py --sections 5 --no-write     # one section
"""

from __future__ import annotations

import argparse
import datetime
import gc
import importlib
import os
import platform
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import norse_core as snn  # noqa: E402
from norse_core import fused  # noqa: E402
from norse_core.fused import loops  # noqa: E402

Step = Callable[[], Tuple[float, float]]  # one forward + backward -> (forward s, backward s)


# -- timing -----------------------------------------------------------------------------------------

def _fwd_bwd(forward: Callable[[], torch.Tensor], params: Sequence[torch.Tensor]) -> Step:
    """A step timing ``forward()`` then ``forward().sum().backward()``; clears gradients."""

    def step() -> Tuple[float, float]:
        for p in params:
            p.grad = None
        t0 = time.perf_counter()
        out = forward()
        t1 = time.perf_counter()
        out.sum().backward()
        t2 = time.perf_counter()
        return t1 - t0, t2 - t1

    return step


def balanced_orders(n: int, rounds: int, seed: int = 0) -> List[List[int]]:
    """The orders of ``n`` cases for ``rounds`` rounds: a Williams design, in which over every
    cycle of rounds (``n`` rounds for even ``n``, ``2 n`` for odd) each case comes right after
    every other case equally often, so that every case's median sees the same mix of
    predecessors (each case's caches are left in another state by each one). Case numbers are
    assigned to the design's places anew for every cycle (seeded), so that the cases two places
    before a case vary too: with one assignment for all cycles, section 1's 48 rounds put the
    step-loop and portable LIF layers two places before the default LIF row 36 times, the
    memory floor and the multiplication by one (which leave the input in the cache) two places
    before the identical C++ row 36 times."""
    first, low, high = [0], 1, n - 1
    while len(first) < n:  # 0, 1, n - 1, 2, n - 2, ...: every difference mod n once
        first.append(low)
        low += 1
        if len(first) < n:
            first.append(high)
            high -= 1
    square = [[(place + shift) % n for place in first] for shift in range(n)]
    if n % 2:
        square += [row[::-1] for row in square]
    rng, orders = random.Random(seed), []
    for r in range(rounds):
        if r % len(square) == 0:
            label = list(range(n))
            rng.shuffle(label)
        orders.append([label[place] for place in square[r % len(square)]])
    return orders


def round_robin(cases: Dict[str, Step], repeats: int, warmup: int) -> Dict[str, Tuple[List[float], List[float]]]:
    """Times every case once per round, after ``warmup`` rounds, for ``repeats`` rounds (rounded
    up to whole cycles of :func:`balanced_orders` when there is at least one). A case pays for
    the allocations and cache traffic of the case before it (measured: about 0.9 ms more for
    the same LIF kernel in the first place of every round than in the second; the PLIF layer's
    forward 1.62 ms after its step loop against 1.07 ms after the fixed LIF), so every case
    follows every other one equally often (with a new random order per round, the 41 rounds of
    section 5 put the PLIF layer after its step loop 15 times and the fixed LIF 7 times)."""
    names = list(cases)
    cycle = len(names) * (1 if len(names) % 2 == 0 else 2)
    repeats = -(-repeats // cycle) * cycle if repeats >= cycle else repeats
    # the timed rounds start a cycle (whole cycles, each balanced in its own assignment)
    orders = balanced_orders(len(names), warmup, seed=1) + balanced_orders(len(names), repeats)
    times: Dict[str, Tuple[List[float], List[float]]] = {name: ([], []) for name in names}
    for r, order in enumerate(orders):
        for index in order:
            name = names[index]
            fwd, bwd = cases[name]()
            if r >= warmup:
                times[name][0].append(fwd)
                times[name][1].append(bwd)
    return times


def peak_memory(step: Step) -> float:
    """Peak bytes of tensors created (and not yet destroyed) while ``step`` runs, from the
    profiler's memory timeline (``torch.profiler._memory_profiler``); tensors alive before the
    step do not count. NaN if the timeline is unavailable."""
    gc.collect()
    from torch.profiler import ProfilerActivity, profile

    try:
        from torch.profiler._memory_profiler import Action

        with profile(activities=[ProfilerActivity.CPU], profile_memory=True, record_shapes=True, with_stack=True) as prof:
            step()
        current = peak = 0
        for _, action, _, size in prof._memory_profile().timeline:
            if action == Action.CREATE:
                current += size
            elif action == Action.DESTROY:
                current -= size
            peak = max(peak, current)
        return float(peak)
    except Exception as error:  # noqa: BLE001 - private API
        print(f"[peak memory unavailable: {type(error).__name__}: {error}]", file=sys.stderr)
        return float("nan")


def median_ms(values: Sequence[float]) -> float:
    return 1000.0 * statistics.median(values)


# -- candidates: (1) neuron dynamics ---------------------------------------------------------------

def _spiky_input(T: int, B: int, N: int, scale: float, offset: float) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return (torch.randn(T, B, N, generator=g) * scale + offset).requires_grad_()


def _optional(module: str):
    try:
        return importlib.import_module(module)
    except Exception as error:  # noqa: BLE001
        print(f"[skip] {module}: {type(error).__name__}: {error}".splitlines()[0], file=sys.stderr)
        return None


def _with_backend(backend: Optional[str], forward: Callable[[], torch.Tensor]) -> Callable[[], torch.Tensor]:
    if backend is None:
        return forward

    def run() -> torch.Tensor:
        with fused.use_backend(backend):
            return forward()

    return run


#: Section 1's memory-traffic floor: what a forward + backward must at least move.
FLOOR = "memory-traffic floor (2.5 clones of the input)"
#: The same streams as a fused layer's forward + backward (read x, write the output, the loss
#: reads it, the backward writes dL/dx) through autograd, with no dynamics: the cheapest layer.
IDENTITY = "x * 1 through autograd (no dynamics)"


def memory_floor(x: torch.Tensor) -> Step:
    """The time of 2.5 clones of ``x`` (5 copies, halved): a fused forward + backward must read
    x, write z, read dL/dz, read x again and write dL/dx, i.e. move 5 tensors of x's size, the
    traffic of 2.5 clones (each reads and writes one). Reported as (forward, backward) halves."""

    source, target = x.detach(), torch.empty_like(x)

    def step() -> Tuple[float, float]:
        t0 = time.perf_counter()
        for _ in range(5):
            target.copy_(source)  # into memory already mapped: bandwidth, not page faults
        half = (time.perf_counter() - t0) / 4
        return half, half

    return step


def lif_cases(T: int, B: int, N: int) -> Dict[str, Step]:
    """Current-based LIF (synaptic current + membrane), forward + backward."""
    x = _spiky_input(T, B, N, 1.0, 0.6)
    cases: Dict[str, Step] = {}
    for label, backend in (("fused, default", None), ("fused, C++", "cpp"), ("fused, portable PyTorch", "torch")):
        layer = snn.LIF()
        cases[f"norse_core LIF ({label})"] = _fwd_bwd(_with_backend(backend, lambda layer=layer: layer(x)[0]), [x])
    ref = snn.LIF(fused=False)
    cases["norse_core LIF (step loop, fused=False)"] = _fwd_bwd(lambda: ref(x)[0], [x])
    cases[FLOOR] = memory_floor(x)
    cases[IDENTITY] = _fwd_bwd(lambda: x * 1.0, [x])
    norse = _optional("norse.torch")
    if norse is not None:
        nlif = norse.LIF()
        cases["Norse 1.1.0 LIF"] = _fwd_bwd(lambda: nlif(x)[0], [x])
    snt = _optional("snntorch")
    if snt is not None:
        syn = snt.Synaptic(alpha=0.8, beta=0.9)

        def snn_torch_synaptic() -> torch.Tensor:
            s = m = torch.zeros(B, N)
            out = []
            for xt in x.unbind(0):
                z, s, m = syn(xt, s, m)
                out.append(z)
            return torch.stack(out)

        cases["snnTorch Synaptic (looped)"] = _fwd_bwd(snn_torch_synaptic, [x])
    return cases


def box_cases(T: int, B: int, N: int) -> Dict[str, Step]:
    """Box LIF (membrane only), forward + backward."""
    x = _spiky_input(T, B, N, 3.0, 1.5)
    cases: Dict[str, Step] = {}
    for label, backend in (("fused, default", None), ("fused, portable PyTorch", "torch")):
        layer = snn.LIFBox()
        cases[f"norse_core LIFBox ({label})"] = _fwd_bwd(_with_backend(backend, lambda layer=layer: layer(x)[0]), [x])
    ref = snn.LIFBox(fused=False)
    cases["norse_core LIFBox (step loop, fused=False)"] = _fwd_bwd(lambda: ref(x)[0], [x])
    norse = _optional("norse.torch")
    if norse is not None:
        cell = norse.LIFBoxCell()

        def norse_box() -> torch.Tensor:
            state, out = None, []
            for xt in x.unbind(0):
                z, state = cell(xt, state)
                out.append(z)
            return torch.stack(out)

        cases["Norse 1.1.0 LIFBoxCell (looped)"] = _fwd_bwd(norse_box, [x])
    snt = _optional("snntorch")
    if snt is not None:
        leaky = snt.Leaky(beta=0.9)

        def snn_torch_leaky() -> torch.Tensor:
            m = torch.zeros(B, N)
            out = []
            for xt in x.unbind(0):
                z, m = leaky(xt, m)
                out.append(z)
            return torch.stack(out)

        cases["snnTorch Leaky (looped)"] = _fwd_bwd(snn_torch_leaky, [x])
    sj = _optional("spikingjelly.activation_based.neuron")
    if sj is not None:
        node = sj.LIFNode(tau=10.0, step_mode="m")

        def spikingjelly_lif() -> torch.Tensor:
            node.reset()
            return node(x)

        cases["SpikingJelly LIFNode (multi-step)"] = _fwd_bwd(spikingjelly_lif, [x])
    return cases


# -- candidates: (5) trainable time constants -------------------------------------------------------

def plif_cases(T: int, B: int, N: int) -> Dict[str, Step]:
    """Fixed-parameter LIF, PLIF (one trainable ``tau_mem_inv`` per neuron; fused, step loop),
    LIFBox with a trainable ``tau_mem_inv`` and SpikingJelly's ``ParametricLIFNode``; forward
    + backward, the parameter gradients included."""
    x = _spiky_input(T, B, N, 1.0, 0.6)
    x_box = _spiky_input(T, B, N, 3.0, 1.5)
    cases: Dict[str, Step] = {}
    fixed = snn.LIF()
    cases["norse_core LIF (fixed parameters, fused)"] = _fwd_bwd(lambda: fixed(x)[0], [x])
    for label, use_fused in (("fused", True), ("step loop, fused=False", False)):
        plif = snn.LIF(trainable=("tau_mem_inv",), trainable_shape=(N,), fused=use_fused)
        cases[f"norse_core PLIF: LIF, trainable tau_mem_inv per neuron ({label})"] = _fwd_bwd(
            lambda plif=plif: plif(x)[0], [x, *plif.parameters()]
        )
    box = snn.LIFBox(trainable=("tau_mem_inv",))
    cases["norse_core LIFBox, trainable tau_mem_inv (fused)"] = _fwd_bwd(lambda: box(x_box)[0], [x_box, *box.parameters()])
    sj = _optional("spikingjelly.activation_based.neuron")
    if sj is not None:
        node = sj.ParametricLIFNode(step_mode="m")

        def spikingjelly_plif() -> torch.Tensor:
            node.reset()
            return node(x_box)

        cases["SpikingJelly ParametricLIFNode (multi-step)"] = _fwd_bwd(spikingjelly_plif, [x_box, *node.parameters()])
    return cases


# -- candidates: (2) Open Neuromorphic protocol ------------------------------------------------------

def on_cases(n: int, T: int, B: int) -> Dict[str, Tuple[Step, torch.nn.Module]]:
    """``Linear(n, n)`` over the whole sequence, then each library's LIF layer."""
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(T, B, n, generator=g) < 0.3).float()
    cases: Dict[str, Tuple[Step, torch.nn.Module]] = {}

    def add(name: str, neuron: Callable[[torch.Tensor], torch.Tensor], module: torch.nn.Module) -> None:
        torch.manual_seed(0)
        linear = torch.nn.Linear(n, n)
        with torch.no_grad():
            linear.weight.mul_(4.0)
        params = [*linear.parameters(), *module.parameters()]
        cases[name] = (_fwd_bwd(lambda: neuron(linear(x)), params), module)

    layer = snn.LIF()
    add("norse_core LIF", lambda h: layer(h)[0], layer)
    box = snn.LIFBox()
    add("norse_core LIFBox", lambda h: box(h)[0], box)
    norse = _optional("norse.torch")
    if norse is not None:
        nlif = norse.LIF()
        add("Norse 1.1.0 LIF", lambda h: nlif(h)[0], nlif)
    snt = _optional("snntorch")
    if snt is not None:
        syn = snt.Synaptic(alpha=0.8, beta=0.9)

        def synaptic(h: torch.Tensor) -> torch.Tensor:
            s = m = torch.zeros(B, n)
            out = []
            for ht in h.unbind(0):
                z, s, m = syn(ht, s, m)
                out.append(z)
            return torch.stack(out)

        add("snnTorch Synaptic", synaptic, syn)
    sj = _optional("spikingjelly.activation_based.neuron")
    if sj is not None:
        node = sj.LIFNode(tau=10.0, step_mode="m")

        def sj_lif(h: torch.Tensor) -> torch.Tensor:
            node.reset()
            return node(h)

        add("SpikingJelly LIFNode (box)", sj_lif, node)
    return cases


# -- (3) MNIST throughput --------------------------------------------------------------------------------

def _mnist_batch(batch: int) -> Tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return torch.rand(batch, 1, 28, 28, generator=g), torch.randint(0, 10, (batch,), generator=g)


def training_step(neuron: Any, p: Any, batch: int, seq_length: int, use_fused: bool = True,
                  bf16: bool = False) -> Step:
    """One training step (forward + cross-entropy, then backward + Adam) of the MNIST task's conv
    SNN (32/64 channels, 256 hidden, direct input, LI readout) with ``neuron`` layers; ``bf16``:
    the forward under bfloat16 autocast, as ``trainer.precision=bf16-mixed`` runs it."""
    from tasks.mnist.model import ConvSNN

    images, labels = _mnist_batch(batch)
    torch.manual_seed(0)
    model = ConvSNN(neuron, p, seq_length=seq_length, gain=4.0)
    for m in model.modules():
        if isinstance(m, snn.SNN):
            m.fused = use_fused
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step() -> Tuple[float, float]:
        opt.zero_grad(set_to_none=True)
        t0 = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            logits, _ = model(images)
            loss = torch.nn.functional.cross_entropy(logits, labels)
        t1 = time.perf_counter()
        loss.backward()
        opt.step()
        return t1 - t0, time.perf_counter() - t1

    return step


def mnist_cases(batch: int, seq_length: int) -> Dict[str, Tuple[Step, int]]:
    """The task's network with norse_core LIF and LIFBox, fused loops on and off."""
    cases: Dict[str, Tuple[Step, int]] = {}
    for neuron, p, label in ((snn.LIF, snn.LIFParameters(), "LIF"), (snn.LIFBox, snn.LIFBoxParameters(), "LIFBox")):
        for use_fused in (True, False):
            cases[f"ConvSNN {label}, fused={'on' if use_fused else 'off'}"] = (
                training_step(neuron, p, batch, seq_length, use_fused), batch)
    return cases


# -- (6) one MNIST training step against peers and the ReLU floor ----------------------------------------

class _Peer(torch.nn.Module):
    """A peer library's neuron layer (or ReLU) over time with norse_core's layer interface,
    ``forward(x (T, ...), state=None) -> (out (T, ...), None)``, built as ``Peer(p, dt=...)``."""

    def __init__(self, p: Any = None, dt: float = 0.001):
        super().__init__()
        self.layer = self.make()

    def make(self) -> Any:
        return None

    def forward(self, x: torch.Tensor, state: Any = None) -> Tuple[torch.Tensor, None]:
        return self.run(x), None


class ReLUFloor(_Peer):
    """ReLU instead of neurons: the same dense work, no neuron dynamics."""

    def run(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x)


class NorsePeer(_Peer):
    """Norse 1.1.0 ``LIF`` (current-based, defaults equal to norse_core's)."""

    def make(self) -> Any:
        return _optional("norse.torch").LIF()

    def run(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer(x)[0]


class SnnTorchPeer(_Peer):
    """snnTorch ``Synaptic(alpha=0.8, beta=0.9)`` looped over time (the LIF decays at dt = 1 ms)."""

    def make(self) -> Any:
        return _optional("snntorch").Synaptic(alpha=0.8, beta=0.9)

    def run(self, x: torch.Tensor) -> torch.Tensor:
        s = m = torch.zeros_like(x[0])
        out = []
        for xt in x.unbind(0):
            z, s, m = self.layer(xt, s, m)
            out.append(z)
        return torch.stack(out)


class SpikingJellyPeer(_Peer):
    """SpikingJelly ``LIFNode(tau=10, step_mode="m")`` (membrane only), reset every batch."""

    def make(self) -> Any:
        neuron = _optional("spikingjelly.activation_based.neuron")
        return neuron.LIFNode(tau=10.0, step_mode="m")

    def run(self, x: torch.Tensor) -> torch.Tensor:
        self.layer.reset()
        return self.layer(x)


def mnist_step_cases(batch: int, seq_length: int) -> Dict[str, Tuple[Step, int]]:
    """:func:`training_step` with norse_core's, each peer's (when installed) and ReLU layers."""
    layers: List[Tuple[str, Any, Any]] = [
        ("norse_core LIF", snn.LIF, snn.LIFParameters()),
        ("norse_core LIFBox", snn.LIFBox, snn.LIFBoxParameters()),
        ("ReLU instead of neurons (floor)", ReLUFloor, None),
    ]
    for label, peer, module in (("Norse 1.1.0 LIF", NorsePeer, "norse.torch"), ("snnTorch Synaptic", SnnTorchPeer, "snntorch"),
                                ("SpikingJelly LIFNode", SpikingJellyPeer, "spikingjelly.activation_based.neuron")):
        if _optional(module) is not None:
            layers.append((label, peer, None))
    cases = {label: (training_step(neuron, p, batch, seq_length), batch) for label, neuron, p in layers}
    cases["norse_core LIF, bf16 autocast"] = (training_step(snn.LIF, snn.LIFParameters(), batch, seq_length, bf16=True), batch)
    return cases


# -- report ----------------------------------------------------------------------------------------------

def _recurrent_limits() -> str:
    """The widths up to which the recurrent layers run their C++ loops by default, in words."""
    lif, lsnn = loops.RECURRENT_CPP_MAX_NEURONS, loops.RECURRENT_CPP_MAX_NEURONS_ADAPTIVE
    return f"{lif} hidden neurons" if lif == lsnn else f"{lif} hidden neurons (LIFRecurrent) and {lsnn} (LSNNRecurrent)"


def _versions() -> Dict[str, str]:
    out = {"python": platform.python_version(), "torch": torch.__version__, "norse_core": snn.__version__}
    for dist in ("norse", "snntorch", "spikingjelly"):
        try:
            from importlib.metadata import version

            out[dist] = version(dist)
        except Exception:  # noqa: BLE001
            out[dist] = "not installed"
    return out


def _machine() -> str:
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} logical CPUs, {platform.system()} {platform.release()}"


def _table(header: Sequence[str], rows: List[Sequence[str]]) -> List[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return lines


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--sections", default="123456", help="which sections to run, e.g. 12 (5 alone: 5)")
    parser.add_argument("--repeats", type=int, default=41)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--on-sizes", default="512,1024,2048")
    parser.add_argument("--on-repeats", type=int, default=3)
    parser.add_argument("--mnist-batch", type=int, default=128)
    parser.add_argument("--mnist-repeats", type=int, default=14, help="rounds of sections 3 and 6 (6: 14, one cycle of 7 cases)")
    parser.add_argument("--rec-repeats", type=int, default=5)
    parser.add_argument("--rec-widths", default="64,128,256,512,1024", help="section 4's width sweep ('' skips it)")
    parser.add_argument("--output", default=str(REPO / "docs" / "benchmarks.md"))
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    built = fused.build_extension()
    lines: List[str] = []
    command = recorded_command(argv if argv is not None else sys.argv[1:])
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    versions = _versions()
    lines += [
        "# Benchmarks: norse_core against Norse, snnTorch and SpikingJelly",
        "",
        "Generated by `scripts/bench_neurons.py`. Peers (optional, skipped when missing):",
        "",
        "```",
        ".venv/bin/pip install -e '.[bench]'                  # norse==1.1.0, nir, nirtorch, snntorch",
        ".venv/bin/pip install --no-deps spikingjelly loguru   # --no-deps: its torchaudio pin would replace torch",
        "```",
        "",
        f"- command: `{command}`",
        f"- machine: {_machine()}; torch threads: {args.threads}; load average at start: "
        + ", ".join(f"{value:.2f}" for value in os.getloadavg()),
        f"- date: {now}",
        "- versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()),
        f"- norse_core C++ fused loops: {'built' if built else 'unavailable'}",
        "- method: one process, candidates of a section timed round robin (one iteration each per round, in orders where each candidate follows every other one equally often), "
        "medians over the rounds; every candidate runs forward and `out.sum().backward()` (input or weights require grad).",
        "",
    ]
    print("\n".join(lines))
    results: Dict[str, float] = {}

    if "1" in args.sections:
        T, B, N = 100, 32, 512
        section = [f"## 1. Neuron dynamics alone (T={T}, B={B}, N={N}, forward + backward)", ""]
        for title, cases in (("current-based LIF", lif_cases(T, B, N)), ("box LIF", box_cases(T, B, N))):
            times = round_robin(cases, args.repeats, args.warmup)
            base = None
            rows = []
            for name, (fwd, bwd) in times.items():
                total = [f + b for f, b in zip(fwd, bwd)]
                ms = median_ms(total)
                results[name] = ms
                base = base if base is not None else ms
                rows.append((name, f"{median_ms(fwd):.2f}", f"{median_ms(bwd):.2f}", f"{ms:.2f}", f"{ms / base:.1f}x"))
            section += [f"### {title}", ""]
            section += _table(["candidate", "forward (ms)", "backward (ms)", "total (ms)", "vs first row"], rows)
            section.append("")
        print("\n".join(section))
        lines += section

    if "2" in args.sections:
        T, B = 500, 16
        section = [f"## 2. Open Neuromorphic protocol: Linear(n, n) + LIF layer (B={B}, T={T})", ""]
        rows = []
        for n in [int(s) for s in args.on_sizes.split(",")]:
            cases = on_cases(n, T, B)
            steps = {name: step for name, (step, _) in cases.items()}
            times = round_robin(steps, args.on_repeats, 1)
            for name, (fwd, bwd) in times.items():
                peak = peak_memory(steps[name]) / 2**20
                results[f"on{n}:{name}"] = median_ms(fwd) + median_ms(bwd)
                results[f"on{n}:{name}:mem"] = peak
                rows.append((n, name, f"{median_ms(fwd):.1f}", f"{median_ms(bwd):.1f}",
                             f"{median_ms(fwd) + median_ms(bwd):.1f}", f"{peak:.0f}"))
            print("\n".join(_table(["n", "library", "forward (ms)", "backward (ms)", "total (ms)", "peak memory (MiB)"], rows[-len(times):])))
            del cases, steps
            gc.collect()
        section += _table(["n", "library", "forward (ms)", "backward (ms)", "total (ms)", "peak memory (MiB)"], rows)
        section += ["", "Peak memory: the largest total size of tensors created during one forward + backward and "
                    "alive at the same time, from the `torch.profiler` memory timeline (inputs and weights "
                    "created before do not count).", ""]
        lines += section

    if "3" in args.sections:
        cases = mnist_cases(args.mnist_batch, 8)
        steps = {name: step for name, (step, _) in cases.items()}
        times = round_robin(steps, args.mnist_repeats, 1)
        rows = []
        for name, (fwd, bwd) in times.items():
            total = [f + b for f, b in zip(fwd, bwd)]
            rate = cases[name][1] / statistics.median(total)
            results[f"mnist:{name}"] = rate
            rows.append((name, f"{median_ms(total):.0f}", f"{rate:.0f}"))
        section = [f"## 3. MNIST task training throughput (ConvSNN 32/64/256, T=8, batch {args.mnist_batch}, random images, Adam)", ""]
        section += _table(["model", "step (ms)", "samples/s"], rows)
        section.append("")
        print("\n".join(section))
        lines += section

    if "4" in args.sections:
        cases4: Dict[str, Step] = {}
        variants = (("fused, default", True, None), ("fused, C++", True, "cpp"),
                    ("fused, portable PyTorch", True, "torch"), ("step loop, fused=False", False, None))
        # a wide layer, and the memory task's network (20 -> 20 over 12 periods of 200 steps)
        for T, B, I, H, models in (
            (100, 32, 64, 256, ((snn.LIFRecurrent, snn.LIFParameters(tau_mem_inv=300.0)),
                                (snn.LSNNRecurrent, snn.LSNNParameters(tau_mem_inv=300.0)),
                                (snn.IAFRecurrent, snn.IAFParameters()))),
            (2400, 64, 20, 20, ((snn.LSNNRecurrent, snn.LSNNParameters(tau_mem_inv=50.0, v_th=0.5)),)),
        ):
            x = _spiky_input(T, B, I, 1.0, 0.3)
            for cls, p in models:
                for label, use_fused, backend in variants:
                    if backend is not None and cls is snn.IAFRecurrent:
                        continue  # no compiled loop: the default is the portable one
                    if backend == "cpp" and not fused.build_extension():
                        continue
                    torch.manual_seed(0)
                    layer = cls(I, H, p, fused=use_fused)
                    forward = _with_backend(backend, lambda layer=layer, x=x: layer(x)[0])
                    cases4[f"{T} x {B}, {I} -> {H} | {cls.__name__} ({label})"] = _fwd_bwd(forward, [x, *layer.parameters()])
        times = round_robin(cases4, args.rec_repeats, 1)
        rows = []
        for name, (fwd, bwd) in times.items():
            total = [f + b for f, b in zip(fwd, bwd)]
            shape, layer_name = name.split(" | ")
            rows.append((shape, layer_name, f"{median_ms(fwd):.1f}", f"{median_ms(bwd):.1f}", f"{median_ms(total):.1f}"))
        section = ["## 4. Recurrent layers (forward + backward)", ""]
        section += _table(["T x B, in -> hidden", "layer", "forward (ms)", "backward (ms)", "total (ms)"], rows)
        section += ["", "Fused: the whole sequence is one autograd node. The C++ loops (LIFRecurrent, LSNNRecurrent) "
                    "run the recurrent input as a sum of the columns of the neurons that spiked and the backward's "
                    "transposed matmul as a plain loop blocked over batch rows; the portable kernels keep one BLAS matmul per "
                    "step. The default "
                    f"picks the C++ loop up to {_recurrent_limits()} (`norse_core.fused.loops.RECURRENT_CPP_MAX_NEURONS*`, "
                    "from the width sweep below) "
                    "and the portable kernel above. The weight gradient is two matmuls after the loop.", ""]
        print("\n".join(section))
        lines += section
        sweep: Dict[str, Step] = {}
        widths = [int(w) for w in args.rec_widths.split(",") if w]
        x = _spiky_input(100, 32, 64, 1.0, 0.3)
        for H in widths:
            for cls, p in ((snn.LIFRecurrent, snn.LIFParameters(tau_mem_inv=300.0)),
                           (snn.LSNNRecurrent, snn.LSNNParameters(tau_mem_inv=300.0))):
                for label, backend in (("C++", "cpp"), ("portable", "torch")):
                    if backend == "cpp" and not fused.build_extension():
                        continue
                    torch.manual_seed(0)
                    layer = cls(64, H, p)
                    forward = _with_backend(backend, lambda layer=layer: layer(x)[0])
                    sweep[f"{H}|{cls.__name__}|{label}"] = _fwd_bwd(forward, [x, *layer.parameters()])
        if sweep:
            times = round_robin(sweep, args.rec_repeats, 1)
            totals = {name: median_ms([f + b for f, b in zip(*fb)]) for name, fb in times.items()}
            rows = []
            for H in widths:
                for cls_name in ("LIFRecurrent", "LSNNRecurrent"):
                    c, t = totals.get(f"{H}|{cls_name}|C++"), totals.get(f"{H}|{cls_name}|portable")
                    if c is None or t is None:
                        continue
                    results[f"width:{cls_name}:{H}"] = t / c
                    rows.append((H, cls_name, f"{c:.1f}", f"{t:.1f}", f"{t / c:.2f}x", "C++" if c < t else "portable"))
            sweep_section = ["", "### Width sweep: C++ against portable (T=100, B=32, 64 inputs, forward + backward)", ""]
            sweep_section += _table(["hidden", "layer", "C++ (ms)", "portable (ms)", "portable / C++", "faster"], rows)
            sweep_section += ["", f"The automatic choice takes the C++ loop up to {_recurrent_limits()}, the widths where it won in the "
                              "sweep when the limits were set; above them BLAS wins (`RECURRENT_CPP_MAX_NEURONS*` in "
                              "norse_core.fused.loops).", ""]
            print("\n".join(sweep_section))
            lines += sweep_section

    if "5" in args.sections:
        T, B, N = 100, 32, 512
        times = round_robin(plif_cases(T, B, N), args.repeats, args.warmup)
        rows = []
        base = None
        for name, (fwd, bwd) in times.items():
            ms = median_ms([f + b for f, b in zip(fwd, bwd)])
            results[f"plif:{name}"] = ms
            base = base if base is not None else ms
            rows.append((name, f"{median_ms(fwd):.2f}", f"{median_ms(bwd):.2f}", f"{ms:.2f}", f"{ms / base:.2f}x"))
        section = [f"## 5. Trainable time constants (T={T}, B={B}, N={N}, forward + backward)", ""]
        section += _table(["candidate", "forward (ms)", "backward (ms)", "total (ms)", "vs first row"], rows)
        section += ["", "PLIF: `LIF(trainable=(\"tau_mem_inv\",), trainable_shape=(N,))`; the fused loop computes the "
                    "parameter gradient in its backward (summed over batch and time). LIFBox: one trainable "
                    "`tau_mem_inv` for the layer, like SpikingJelly's `ParametricLIFNode` (`init_tau=2`, "
                    "sigmoid surrogate, its multi-step path). Gradients w.r.t. input and parameters.", ""]
        print("\n".join(section))
        lines += section

    if "6" in args.sections:
        cases6 = mnist_step_cases(args.mnist_batch, 8)
        times = round_robin({name: step for name, (step, _) in cases6.items()}, args.mnist_repeats, 1)
        medians = {name: median_ms([f + b for f, b in zip(fwd, bwd)]) for name, (fwd, bwd) in times.items()}
        floor, ours = medians["ReLU instead of neurons (floor)"], medians["norse_core LIF"]
        rows = []
        for name, (fwd, bwd) in times.items():
            results[f"step:{name}"] = medians[name]
            rows.append((name, f"{median_ms(fwd):.0f}", f"{median_ms(bwd):.0f}", f"{medians[name]:.0f}",
                         f"{medians[name] / floor:.2f}x", f"{medians[name] / ours:.2f}x"))
        section = [f"## 6. One MNIST training step (the task's conv SNN, T=8, batch {args.mnist_batch}, Adam)", ""]
        section += _table(["neuron layers", "forward (ms)", "backward + Adam (ms)", "step (ms)", "vs ReLU floor",
                           "vs norse_core LIF"], rows)
        section += ["", "The same network (conv 5x5 32 -> batch norm -> max pool, conv 5x5 64, linear 256, "
                    "norse_core LI readout, max over time) with each library's neuron layers; `ReLU` replaces the "
                    "neurons with the same dense work and no dynamics: the floor no SNN library can beat without "
                    "exploiting sparsity. Peers: Norse `LIF`, snnTorch `Synaptic` (looped over time), SpikingJelly "
                    "`LIFNode` multi-step (no synaptic current). \"bf16 autocast\": the forward under "
                    "`torch.autocast(\"cpu\", torch.bfloat16)` as `trainer.precision=bf16-mixed` runs it "
                    "(convolutions and linear layers in bfloat16, neuron layers in float32); it helps on CPUs "
                    "with bfloat16 matrix units (AMX-BF16, AVX512-BF16); elsewhere PyTorch emulates bfloat16 arithmetic, so measure this row "
                    "before using it.", ""]
        print("\n".join(section))
        lines += section

    summary = _targets(results)
    if summary:
        print("\n".join(summary))
        lines += summary
    lines += NOTES.splitlines()
    if not args.no_write:
        Path(args.output).write_text("\n".join(lines) + "\n")
        print(f"wrote {args.output}")
    return 0


NOTES = """## Notes

- norse_core layers run their time loop as one autograd node (`norse_core.fused`): the
  forward loops without building a graph, the backward is the hand-derived BPTT of the same
  equations. On CPU the loop is compiled C++ (built once into torch's extension cache;
  `NORSE_CORE_NO_EXTENSION=1` disables it), which saves only the input and the initial state
  and re-runs the forward block by block (in cache) during backward; on CUDA a Triton kernel;
  elsewhere (other surrogates, other dtypes) a portable PyTorch loop that saves the pre-reset
  voltages and spikes. The C++ loops of every feed-forward model (one generic block code) take
  tensor parameters and compute the gradients of trainable ones in their backward.
  LIFRecurrent and LSNNRecurrent have compiled C++ loops as well (per-neuron parameters
  allowed); the other recurrent layers use the portable loop.
  `fused=False` is the step-by-step reference loop.
- Peers: Norse 1.1.0 `LIF` (its own time loop) and `LIFBoxCell` looped in Python; snnTorch
  `Synaptic(alpha=0.8, beta=0.9)` and `Leaky(beta=0.9)` looped in Python (their API is per
  step; the loops written here use `x.unbind(0)`, whose backward is one stack, rather than
  `x[t]`, whose backward adds a full-size zero tensor per step); SpikingJelly 2.0
  `LIFNode(tau=10, step_mode="m")`, its multi-step path (`functional.lif_multi_step`).
  Parameters are equivalent where the models are (decays 0.8/0.9); the models are not
  identical (SpikingJelly and snnTorch Leaky have no synaptic current).
- Inputs are random currents that make the neurons spike; the loss is `out.sum()`.
- The backward column includes the loss `out.sum()`, timed together with `.backward()`.
- On a 2-core machine shared with other jobs (see the load average in the header) 2-thread
  timings of every library are inflated, OpenMP-parallel PyTorch ops (the loss `sum`, matmuls)
  most, and vary between runs; compare rows of one run only. Norse's LIF backward varies most
  (0.03 s to 2.3 s at T=100 across our runs): its time loop indexes the input per step
  (`input_tensor[ts]`), and each step's backward materialises a full-size gradient, so its
  cost grows with T squared and with the cost of fresh memory pages.
- The default row and the "C++" row run the same compiled kernel; their difference is noise.
  Every case runs after other cases of its section, so it starts with caches (and the
  interpreter's own state) cold: the memory floor pays that once for its five copies, a layer
  on every call. Measured inside this script on 2026-12-02 (the LIF row, 2 threads): the C++
  forward kernel about 1.0 ms here against 0.37 to 0.41 ms called in a loop, and the layer's
  Python around it about 0.45 ms here against 0.06 ms in a loop. Since then a layer's repeated
  calls from the initial state skip the checks and the kernel choice (docs/fused.md, "What runs
  in Python"), and the C++ backward runs no Python.
- The PLIF ratio (section 5) varied with the sections that ran before it in the process: on
  2026-12-02, before the changes of the previous note, three full runs gave 1.26x, 1.36x and
  1.38x (section 5 alone 1.22x to 1.25x), the difference lying in the layer's Python and in
  the forward kernel after section 2.
- The floor ratio and the PLIF ratio after the changes above (same code as this run, idle
  machine, 2026-12-02): full runs at 16:11 and 16:15 UTC gave 3.1x and 3.2x the floor, PLIF
  1.29x and 1.27x; runs of sections 1 and 5 alone between 15:55 and 16:30 UTC gave 2.6x to
  3.0x and 1.13x to 1.24x. The LIF row moved from about 3.3 to about 2.9 ms against a floor of
  about 1.0 ms: the floor target (3x) is at the edge of the run-to-run spread, not met with a
  margin.
- Another machine, 2026-12-03 (AMD EPYC with AVX-512 and AVX512-BF16, 2 cores, 32 MB L3, the
  same code as the tables above, no other job running): three runs of sections 1 and 5 (two with section
  6) gave LIF 13.2x to 13.7x faster than SpikingJelly's LIFNode and 25.9x to 29.6x faster than
  Norse, PLIF 1.21x to 1.28x the fixed LIF, LIFBox with a trainable time constant 13.6x to 15.2x
  faster than ParametricLIFNode, the MNIST step 0.97x to 1.11x the ReLU floor (bfloat16 autocast
  0.70x to 0.71x of float32), and the LIF 4.3x to 4.8x the memory-traffic floor: the floor's
  clones of the 6.5 MB input run from that L3 (0.17 ms a clone) while the LIF backward, 1.1 to
  1.2 ms called in a loop against 0.26 to 0.36 ms for its forward, is bound by its own work, not
  by memory traffic.
- The same AMD machine, 2026-12-04 (no other job running), where the LIF's time goes against
  the floor: the kernels called in a loop (`ff_train`, `out.sum()`, backward; T=100, B=32,
  N=512, 2 threads, medians of 380) took 0.34 ms forward, 0.10 ms for the sum and 0.70 ms
  backward, 2.6x the floor's 0.44 ms measured in the same loop (a clone 0.175 ms); the backward
  kernel alone, called back to back on the same graph, 0.49 ms. Profiled on one thread, its
  re-run of the forward is 42% of the backward kernel and the reverse loop (vectorised, 16
  neurons an instruction) 58%. Section 1 alone gave 2.31 ms for the layer against a floor of
  0.41 ms (5.6x; three more runs 4.8x to 10.4x): a layer that follows other cases reads its 6.5 MB input and writes its two
  6.5 MB outputs to memory that left the cache, while the floor's five copies share one
  source and target; the layer called 40 times in a row took about 1.5 ms against 0.22 ms for
  the floor's copies, all in cache (7x). On this CPU the floor is a cache bandwidth the layer's
  arithmetic (surrogate division, the re-run) cannot reach within 3x.
- The same AMD machine, 2026-12-05 (no other job running): the LIF layer's time changes by
  process and by minute, which is why single runs of section 1 spread so far. Called in a loop
  in one process (T=100, B=32, N=512, 2 threads, `layer(x)[0]` then `out.sum().backward()`,
  medians of 30 to 40 calls), fast processes took 0.24 to 0.37 ms forward and 0.53 to 0.77 ms
  backward, slow ones 0.45 to 0.96 ms and 2.0 to 2.9 ms, while the floor's five copies took
  0.22 to 0.23 ms in both. The slow mode is not the memory layout: six identical processes
  (address randomisation off with `setarch -R`, the same environment, the same input offsets)
  started one after the other gave 0.70 ms backward for the first and 2.2 to 2.7 ms for the
  other five, while the 22 processes started in the minute before had all been fast. A
  profile (`perf`) of a slow process puts the time on the stores of the output sequences (z in
  the forward, dL/dx in the backward), the streams that leave the cache. Neither pinning the OpenMP threads
  (`OMP_PROC_BIND=true`), nor transparent huge pages for torch's allocations
  (`THP_MEM_ALLOC_ENABLE=1`), nor writing every buffer of the kernels at the input's offset
  within a page (tried on a branch, not kept) removed it. Compare ratios from one run only, and
  repeat a run whose LIF row is far above the floor ratios above before reading anything into it.
- The Intel Xeon again, 2026-12-05 (AVX-512 and AMX-BF16, 2 cores, 2 MB of L2 per core, no
  other job running), the same code as the tables above: sections 1 and 5 gave the LIF 2.65 ms against a
  floor of 0.88 ms (3.0x, just over the target), 13.5x faster than SpikingJelly's LIFNode and
  30.6x faster than Norse, PLIF 1.17x the fixed LIF, LIFBox with a trainable time constant 12.1x
  faster than ParametricLIFNode; four runs of section 1 alone gave 2.9x to 3.0x the floor. The
  forward kernel alone (`ff_fwd`, 2 threads, medians) takes 0.33 to 0.35 ms called in a loop,
  against 0.21 ms for a copy of the input, but 1.0 to 1.1 ms right after the step loop has run
  (its input and output out of the cache), against 0.6 ms for a copy in the same place. Tried
  on this CPU and not kept, each measured against the current kernels in alternating
  processes: software prefetch of the next step's input row in the forward (the cold forward
  10-15% faster, called in a loop 30% slower: 0.44 against 0.34 ms); prefetch of the next
  step's output row for writing (the cold kernel 0.84 to 0.90 ms against 1.03 to 1.12 ms, in a
  loop unchanged, but section 1's LIF row unchanged too: 2.89 and 2.90 ms against 2.90 and
  2.99 ms); the same for the backward's output row (10-15% slower in a loop); backward blocks
  of 2,048 neurons instead of 1,024 (slower). On this CPU the floor target stays at the edge of
  the run-to-run spread.
- The Intel Xeon, 2026-12-06 (nothing else running): the row "x * 1 through autograd (no
  dynamics)" is new, the cheapest layer a user can write: the same streams as a fused layer
  (read x, write the output, the loss reads it, the backward writes dL/dx) through the same
  autograd machinery, with no arithmetic. Three full runs of this script, the last one the
  tables above (06:07, 06:13 and 06:18 UTC): the LIF 2.94x, 2.81x and 2.88x the
  memory-traffic floor and 1.7x, 1.6x and 1.7x the multiplication by one; 10.8x, 12.5x and
  12.2x faster than SpikingJelly's LIFNode; PLIF 1.34x, 1.18x and 1.23x the fixed LIF (the
  first run misses the 1.3x target: its PLIF forward took 1.32 ms against 0.97 ms for the
  fixed LIF, the other runs 1.15 and 1.22 ms against 0.85 and 0.93 ms); LIFBox with a
  trainable time constant 14.4x, 14.1x and 13.5x faster than ParametricLIFNode; the MNIST
  step 1.00x, 1.00x and 1.03x the ReLU floor.
  Where the LIF row's time goes, outside this script (T=100, B=32, N=512, 2 threads, medians
  of 40 calls; "cold": right after a forward + backward of the step-loop LIF layer, as in the
  round robin): the layer takes 1.23 ms forward, 0.34 ms for the loss and 1.21 ms backward
  cold, against 0.48, 0.17 and 0.64 ms called in a loop; one `copy_` of the input 0.56 ms cold
  against 0.22 ms. At T=1 the layer still takes 0.34 ms forward and 0.21 ms backward cold
  (0.05 and 0.05 ms in a loop), of which the C++ op alone is 0.18 ms (the same on one thread,
  so not the waking of the OpenMP team) and a cold `torch.empty(1)` 0.04 ms: about 0.55 ms of
  the row is the per-call cost of the Python and C++ layers above the kernels with cold caches,
  which the floor's five back-to-back copies pay once. Tried and not kept: one forward block
  per thread (rows of 32 KB instead of 8 KB; section 1 alone, three runs each, alternating:
  2.81 to 2.95 ms against 2.91 to 2.93 ms, floors 0.97 to 1.02 ms, no change); the SuperSpike
  derivative without its division (wrong on purpose, the most a reciprocal approximation could
  give): the layer's backward in a loop 0.95 to 1.02 ms against 0.94 to 0.99 ms, so the
  division is not where the backward's time goes. The floor as real clones (`torch.clone`,
  each freed at once) took 1.03 ms against 0.97 ms for the copies into one kept tensor: the
  freed block is reused, so clones and copies measure the same floor (five clones kept alive,
  each on fresh pages: 2.21 ms).
- The Intel Xeon, 2026-12-06, later (another host: the same CPU model, every row about 20%
  slower than in the runs of the previous note). Three full runs with the rounds in a new
  random order each (08:21, 08:26, 08:30 UTC) gave the LIF 3.2x, 3.1x and 3.0x the floor and
  PLIF 1.33x, 1.29x and 1.36x the fixed LIF. Recording which case ran before which showed why
  PLIF varied so: after its own step loop (the case that leaves the most memory traffic
  behind) the PLIF forward took 1.62 ms, after the fixed LIF 1.07 ms, and the seeded orders
  had put PLIF after its step loop in 15 of 41 rounds and the fixed LIF in 7. The rounds now
  follow a balanced (Williams) design in which every case follows every other one equally
  often (`balanced_orders`; repeats rounded up to whole cycles): section 5 alone then gave PLIF
  1.08x, 1.05x and 1.12x, section 1 alone the LIF 3.0x and 3.1x the floor (the floor and the
  LIF row see the same mix of predecessors either way). Three full runs with the balanced
  rounds (08:49, 08:55 and 09:00 UTC): the LIF 3.2x the floor in each (not met on this
  host), 1.6x to 1.7x the multiplication by one, 11.3x, 11.0x and 11.5x faster than
  SpikingJelly's LIFNode; PLIF 0.98x, 1.13x and 1.08x the fixed LIF; LIFBox with a trainable
  time constant 12.7x, 12.5x and 12.5x faster than ParametricLIFNode; the MNIST step 0.93x,
  1.01x and 1.01x the ReLU floor. Section 6 ran 5 rounds of its 7 cases there, less than a
  cycle; sections 3 and 6 now run 14 rounds (`--mnist-repeats 14`, one whole cycle of section
  6's cases). A fourth full run with them, 09:23 UTC, is the tables above: the MNIST step
  1.03x the ReLU floor, the LIF 3.1x the floor and 11.5x faster than SpikingJelly's LIFNode,
  PLIF 1.05x, LIFBox with a trainable time constant 12.1x faster than ParametricLIFNode.
  Also changed: the C++ backward sums a trainable parameter's gradient over the batch in a
  loop instead of an `aten::sum` over a strided view (section 5 alone, the builds
  alternating: PLIF 3.38 and 3.38 ms against 3.48 and 3.47 ms).
  Where the cold LIF row's time goes on this host (T=100, B=32, N=512, 2 threads, medians of
  27 calls, right after 4 M random reads of a 64 MB tensor, or after the step-loop LIF; "in a
  loop" in brackets): forward 1.35 to 1.47 ms (0.53 to 0.56), the loss 0.38 to 0.47 ms (0.20
  to 0.23), backward 1.58 to 1.85 ms (0.74); one copy of the input 0.67 ms (0.27). After a
  sequential read of the 64 MB the forward takes only 0.70 ms: the cache keeps the input
  through a streaming read but not through random reads, and the backward reads its input
  again from memory although the forward has just read it. Tried and not kept: non-temporal
  stores of the forward's spikes (no read of the output's lines before writing them): the
  cold forward 1.21 ms against 1.32 to 1.48 ms, but forward + backward 3.2 to 3.3 ms against
  3.0 to 3.1 ms cold and 1.9 ms against 1.4 ms in a loop, as the loss then reads the spikes
  from memory; the input and the kernels' outputs on 2 MB pages (`madvise(MADV_HUGEPAGE)`):
  no change; software prefetch of the next step's input row, again: no gain cold, slower in a
  loop.
- The Intel Xeon, 2026-12-06, later again (the host of the previous note): a fused layer's
  per-call work made smaller, and the benchmark's orders changed once more. A planned call (a
  layer's repeated call from the initial state) now holds its kernel's call with the op's other
  arguments made once and compares a cheaper key; the C++ node takes the gradient of an unused
  output or final state as zeros without making zero tensors and computes the initial state's
  gradient only where autograd asks for one (docs/fused.md, "What runs in Python"). At T=1
  with cold caches (right after the step-loop LIF) the layer's forward takes 0.38 to 0.40 ms
  against 0.46 ms, the op's backward 0.30 ms against 0.33 ms. Section 1 alone, the old and the
  new code alternating (seven pairs): the LIF row 2.87 to 3.08 ms against 2.94 to 3.09 ms,
  medians 2.97 against 3.06 ms. Tried and not kept: the backward's neuron blocks in reverse
  order (the blocks the forward read last first; no change) and smaller blocks for the last
  ones of a call (a thread woken late idles less at the end; no change).
  The two LIF rows that run the same kernel ("default" and "C++") differed almost every time:
  the default row 0.07 to 0.30 ms slower in 18 of 19 runs today with the old orders (once 0.06
  ms faster), and still 0.15 to 0.21 ms slower with both rows on the default backend (three
  runs). The Williams design balanced the
  case right before each case, but with one assignment of cases to places for every cycle it
  put the same few cases two places before each case: in section 1's 48 rounds the step-loop
  and portable LIF layers (the most memory traffic) came two places before the default row 36
  times, the memory floor and the multiplication by one (which leave the input in the cache)
  two places before the C++ row 36 times. `balanced_orders` now assigns the cases to the
  places anew for every cycle (seeded), and the timed rounds start a cycle. Two full runs with
  the old orders and the new code (11:04, 11:08 UTC): the LIF 2.9x and 2.9x the floor (default
  row 2.88 and 2.97 ms, the C++ row 2.79 and 2.87 ms), 12.0x and 12.9x faster than
  SpikingJelly's LIFNode; PLIF 1.12x and 1.14x; LIFBox with a trainable time constant 13.0x and
  12.4x faster than ParametricLIFNode; the MNIST step 1.03x and 1.02x the ReLU floor. Two with
  the new orders (11:14 and 11:19 UTC, the second the tables above): the LIF 3.0x and 2.9x the
  floor (default row 2.95 and 2.97 ms, C++ row 2.87 and 2.97 ms), 11.6x and 12.0x faster than
  SpikingJelly's LIFNode; PLIF 1.08x and 1.15x; LIFBox 14.0x and 13.2x; the MNIST step 1.02x and
  1.02x the ReLU floor. Two more with the final code of this note (the same kernels behind one
  C++ `prepare`; 11:49 and 11:54 UTC): the LIF 3.0x and 3.0x the floor (2.97 and 2.99), 12.0x
  and 11.9x faster than SpikingJelly's LIFNode; PLIF 1.19x and 1.18x; LIFBox 14.2x and 14.1x;
  the MNIST step 1.01x and 1.01x. The floor target stays at the edge of the run-to-run spread
  on this host: met in five of these six runs.
- The Intel Xeon, 2026-12-06, later still (the host of the two previous notes): the forward's
  block code (also the backward's re-run of it) prefers 256-bit vectors (docs/fused.md, "The
  C++ loops on CPU"); the backward's reverse-time loop stays at 512. Section 1 alone, processes alternating between the builds (four each): the
  LIF forward 0.98 to 1.16 ms against 1.22 to 1.30 ms with 512-bit vectors, the row 2.73 to
  2.92 ms against 2.90 to 3.12 ms; 256-bit vectors for the whole build gave the row 2.78 to
  3.02 ms and a LIF backward 7% to 17% slower in a loop. Three full runs with it (16:34, 16:40
  and 16:45 UTC, the last the tables above): the LIF 3.0x, 2.7x and 3.0x the floor (2.99, 2.74
  and 2.98), 1.6x, 1.5x and 1.5x the multiplication by one, 12.0x, 12.9x and 12.1x faster than
  SpikingJelly's LIFNode; PLIF 1.12x, 1.16x and 1.12x; LIFBox with a trainable time constant
  14.4x, 13.4x and 13.8x faster than ParametricLIFNode; the MNIST step 1.01x, 1.02x and 1.02x
  the ReLU floor. The LIF row's backward with the loss (1.7 to 1.8 ms against 0.97 to 1.13 ms
  for its forward) is now most of the gap to the floor. A stand-alone kernel with the same
  blocks and the LIF arithmetic (a separate extension in the same process, after the step-loop
  LIF, medians of 36) shows why: its re-run alone, which reads the input and writes only the
  scratch in cache, took 0.62 to 0.71 ms, as long as a whole copy of the input (0.70 to 0.75
  ms); its reverse loop alone, writing dL/dx, 0.79 to 0.80 ms; both 1.27 to 1.36 ms, the sum of
  the two: the reads of the re-run and the writes of the reverse loop do not overlap. Tried
  there and not kept: prefetching the re-run's input rows ahead (1 to 8 steps; cold up to 10%
  faster, in a loop 2% to 28% slower) and the next block's rows during the reverse loop (cold
  2% to 7% faster, in a loop 4% to 9% slower).
- The same host, later the same day: the C++ blocks of a call go to the OpenMP threads as one
  contiguous range each (a static schedule) instead of one at a time from a shared counter
  (docs/fused.md, "The C++ loops on CPU"), so the block a thread runs next lies right after the
  one it ran before. Section 1 alone, processes alternating (four each): the LIF row 2.60 to
  2.75 ms against 2.65 to 2.99 ms, its backward 1.56 to 1.72 ms against 1.65 to 1.85 ms. Three
  full runs with both changes of this day (17:05, 17:10 and 17:15 UTC, the last the tables
  above): the LIF 2.9x the floor in each (2.88, 2.92 and 2.89), 1.5x the multiplication by one,
  13.4x, 12.8x and 12.3x faster than SpikingJelly's LIFNode, 35.6x, 35.4x and 33.7x faster
  than Norse; PLIF 1.13x, 1.12x and 1.19x; LIFBox with a trainable time constant 12.2x, 13.7x
  and 13.6x faster than ParametricLIFNode; the MNIST step 1.00x, 1.01x and 0.99x the ReLU
  floor. The floor target is met in these runs with a margin of 3% to 4%: less than the
  spread between hosts (4.3x to 4.8x on the AMD EPYC of 2026-12-03/04, not measured again).
- The same host, 2026-12-06 evening (section 1 alone unless said; T=100, B=32, N=512, 2
  threads). Where the LIF row's time goes inside the round robin, the loss
  (`out.sum()`) timed apart: forward 0.98 to 1.08 ms, loss 0.32 ms, the backward op 1.24 to
  1.35 ms, against 0.62 to 0.65, 0.31 and 0.78 to 0.81 ms for the multiplication by one; no
  page faults in either. With T=1 in the same round robin the layer takes 0.08 ms forward and
  0.07 ms backward (the multiplication by one 0.01 and 0.05 ms): the per-call cost is about
  0.1 ms of the row, the rest is memory traffic with cold caches. Tried and not kept,
  processes alternating: `OMP_WAIT_POLICY=ACTIVE` (threads that never sleep; the LIF 3.1x,
  2.8x and 3.0x the floor against 2.9x in each of three runs: the row does not pay for waking
  the OpenMP team); backward blocks of 512 neurons (the row 2.65 to 2.94 ms against 2.73 to
  2.81 ms, four runs each); an autograd node written like torch's generated ones instead of
  `torch::autograd::Function` (the op at T=1 right after small tensor operations 197 to 235 us
  against 188 to 214 us: the node is not the per-call cost); the outputs from torch's
  allocator instead of the block cache (nine runs each: the LIF row 2.43 to 2.83 ms, median
  2.52, against 2.68 to 2.85 ms, median 2.78, and 2.5x to 2.8x the floor against 2.6x to 3.0x;
  but the layer called in a loop took 1.31 to 1.58 ms against 1.26 to 1.33 ms on two threads
  and 2.57 to 2.85 ms against 2.16 to 2.25 ms on one, where the cache returns the block just
  freed, section 2's LIF 3% to 7% slower in one run and the MNIST step unchanged: a gain in
  this section's mix of cases, not in the layer's work, so the cache stays). The 17 runs of
  section 1 with the code of the tables gave the LIF 2.6x to 3.0x the floor, met in each.
  Since then the C++ blocks go to the threads through `at::parallel_for` (the same contiguous
  ranges, now also without OpenMP): sections 1 and 5, three runs each, the builds
  alternating: the LIF row 2.65 to 2.86 ms against 2.61 to 2.92 ms, 2.8x to 2.9x the floor
  against 2.7x to 2.9x; called in a loop LIF, LIFBox, LSNN and LIFRecurrent within 4% either
  way. Three full runs with that code (19:02, 19:06 and 19:11 UTC, until 22:06 UTC the tables
  above): the LIF 2.80x, 2.94x and 2.98x the floor, 1.5x, 1.6x and 1.6x the multiplication by one,
  12.8x, 12.5x and 12.1x faster than SpikingJelly's LIFNode, 35.0x, 32.9x and 33.8x faster
  than Norse; PLIF 1.15x, 1.17x and 1.19x; LIFBox with a trainable time constant 13.0x, 13.0x
  and 11.8x faster than ParametricLIFNode; the MNIST step 1.01x the ReLU floor in each.
- The same host, 2026-12-06, late evening (T=100, B=32, N=512, 2 threads; the layer called in
  a loop, medians of 35 calls, and "cold", right after the step-loop LIF, 15 calls; two
  processes each, alternating). Tried and not kept: the forward saving its pre-reset voltages
  (one more sequence written, which the backward reads instead of re-running the forward; the
  gradients bitwise the same; against the same build not saving): in a loop the forward 0.80
  to 0.85 ms against 0.57 to 0.58 ms and the backward with the loss 1.03 to 1.10 ms against
  1.12 to 1.20 ms, cold both slower; non-temporal stores of dL/dx in the backward (no read of
  its lines before writing them): in a loop the backward 1.49 to 1.57 ms against 1.17 to 1.20
  ms and the next forward 0.82 ms against 0.55 to 0.60 ms (its output lands in the freed
  dL/dx's memory, no longer in the cache), cold the backward 2.50 to 2.55 ms against 2.79 to
  3.94 ms. Five runs right after, 21:05 to 21:10 UTC (three of sections 1 and 5, two of
  section 1), found every row of section 1 about twice as slow as in the tables of 19:11 UTC
  (in the two runs of section 1 alone: the floor 1.88 and 2.12 ms against 0.95 ms, `x * 1` 3.20 and
  3.76 ms against 1.77 ms; the step loop 83 ms against 41 ms in the first: the machine, not
  the code, as nothing else ran): the LIF 3.5x, 3.2x, 3.4x, 2.7x and 3.0x the floor, 9.0x,
  11.3x, 7.8x, (not printed) and 11.1x faster than SpikingJelly's LIFNode; PLIF 1.19x, 1.17x
  and 1.26x; LIFBox with a trainable time constant 12.8x, 9.3x and 10.2x faster than
  ParametricLIFNode.
- The same host, 2026-12-06, 22:00 to 22:25 UTC (nothing else running): the tables above come
  from a new full run (22:06 UTC), made with the command they name: the tables of 19:11 UTC
  had been written to a file outside the repository and their command line named that file
  by its path, which the script now records by its name only (`recorded_command`). The
  targets table now prints every judged ratio with two decimals (3.03x printed as "3.0x" read
  as met). Three full runs (22:06, 22:13 and 22:19 UTC, the first the tables above): the LIF
  2.80x, 2.92x and 2.68x the floor, 1.5x, 1.6x and 1.5x the multiplication by one, 13.29x,
  14.03x and 13.60x faster than SpikingJelly's LIFNode, 41.09x, 39.12x and 37.98x faster
  than Norse; PLIF 1.21x, 1.11x and 1.12x; LIFBox with a trainable time constant 16.74x,
  16.05x and 14.12x faster than ParametricLIFNode; the MNIST step 1.01x, 1.04x and 1.02x the
  ReLU floor. Six runs of section 1 alone just before (21:59 to 22:05 UTC, the code before
  the two-decimal change): the LIF 3.1x, 3.0x (above 3, not met), 2.7x, 2.7x, 2.9x and 2.9x
  the floor, 12.8x, 14.4x, 13.3x, 13.4x, 15.9x and 13.9x faster than SpikingJelly's LIFNode.
  Tried after and not kept: the backward's second thread starting with half a block, so that
  one thread re-runs its forward (reads) while the other runs its reverse loop (writes);
  section 1 alone, four runs each, alternating: the LIF backward 1.82 to 1.89 ms against 1.83
  to 1.92 ms, the row 3.12 to 3.32 ms against 2.97 to 3.22 ms (no gain).
- The same host, 2026-12-06, 23:30 to 23:50 UTC (nothing else running): tried and not kept, a
  backward that overlaps one block's re-run with the previous block's reverse loop (each thread
  alternating a few steps of the one with a few steps of the other, two scratch halves, so that
  the reads of the input and the writes of dL/dx run side by side in one core; the gradients
  bitwise the same as the current kernel's for LIF, LIFBox, LSNN and LIFRefrac in float32 and
  float64). Section 1 alone, processes alternating: with 4 steps a turn the LIF backward 2.08
  to 2.24 ms against 1.79 to 1.88 ms (three runs each), with 20 steps a turn 1.95 to 2.24 ms
  against 1.76 to 2.00 ms (two runs each): slower, so the two phases do not overlap in one core
  either. And a prefetch of only the first lines of each 4 KB page of a row a few steps ahead
  (the input and the spikes in the forward, dL/dx in the reverse loop; far cheaper than the
  whole rows tried before), to start the hardware prefetchers at every page a step enters: 1
  step ahead and 2 lines, the LIF row 3.01 to 3.15 ms against 2.76 to 3.14 ms (three runs
  each); 2 steps ahead and 4 lines, 2.95 to 3.30 ms against 2.73 to 3.21 ms (four runs each):
  within the spread between runs.
"""


def recorded_command(argv: Sequence[str]) -> str:
    """The command line as docs/benchmarks.md records it: an ``--output`` file inside the
    repository relative to it, one outside by its name alone (no path of the machine that ran it)."""
    def shown(value: str) -> str:
        path = Path(value).resolve()
        return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else path.name

    words: List[str] = []
    for word in argv:
        if words and words[-1] == "--output":
            word = shown(word)
        elif word.startswith("--output="):
            word = "--output=" + shown(word[len("--output="):])
        words.append(word)
    return "python " + " ".join([os.path.relpath(__file__, REPO), *words])


def _targets(r: Dict[str, float]) -> List[str]:
    """Ratios against the targets of issues #5 and #14 (from this run)."""
    out = ["## Targets (ratios from this run)", ""]
    rows = []

    def ratio(a: str, b: str) -> Optional[float]:
        return r[b] / r[a] if a in r and b in r else None

    ours = "norse_core LIF (fused, default)"
    for peer, target in (("Norse 1.1.0 LIF", 8.0),):
        q = ratio(ours, peer)
        if q is not None:
            rows.append((f"(1) {ours} vs {peer}", f">= {target:.1f}x faster", f"{q:.2f}x", "yes" if q >= target else "no"))
    q = ratio(ours, "SpikingJelly LIFNode (multi-step)")
    if q is not None:
        rows.append((f"(1) {ours} vs SpikingJelly LIFNode", ">= 2.5x faster", f"{q:.2f}x", "yes" if q >= 2.5 else "no"))
    q = ratio("norse_core LIF (fused, C++)", ours)
    if q is not None:
        rows.append((f"(1) {ours} vs own C++ loop", "within 1.5x", f"{q:.2f}x", "yes" if q <= 1.5 else "no"))
    fixed, plif = "plif:norse_core LIF (fixed parameters, fused)", "plif:norse_core PLIF: LIF, trainable tau_mem_inv per neuron (fused)"
    q = ratio(fixed, plif)
    if q is not None:
        rows.append(("(5) PLIF (fused) vs fixed-parameter fused LIF", "within 1.3x", f"{q:.2f}x", "yes" if q <= 1.3 else "no"))
    q = ratio("plif:norse_core LIFBox, trainable tau_mem_inv (fused)", "plif:SpikingJelly ParametricLIFNode (multi-step)")
    if q is not None:
        rows.append(("(5) LIFBox, trainable tau_mem_inv vs SpikingJelly ParametricLIFNode", ">= 5x faster", f"{q:.2f}x",
                     "yes" if q >= 5.0 else "no"))
    q = ratio(FLOOR, ours)
    if q is not None:
        rows.append((f"(1) {ours} vs the memory-traffic floor", "within 3x", f"{q:.2f}x", "yes" if q <= 3.0 else "no"))
    q = ratio(IDENTITY, ours)
    if q is not None:
        rows.append((f"(1) {ours} vs {IDENTITY}", "(reported)", f"{q:.1f}x", "-"))
    q = ratio(ours, "SpikingJelly LIFNode (multi-step)")
    if q is not None:
        rows.append((f"(1) {ours} vs SpikingJelly LIFNode (issue 14)", ">= 10x faster", f"{q:.2f}x", "yes" if q >= 10 else "no"))
    q = ratio("step:ReLU instead of neurons (floor)", "step:norse_core LIF")
    if q is not None:
        rows.append(("(6) MNIST step, norse_core LIF vs the ReLU floor", "(reported)", f"{q:.2f}x", "-"))
    for peer in ("Norse 1.1.0 LIF", "snnTorch Synaptic", "SpikingJelly LIFNode"):
        q = ratio("step:norse_core LIF", f"step:{peer}")
        if q is not None:
            rows.append((f"(6) MNIST step, {peer} vs norse_core LIF", "(reported)", f"{q:.2f}x slower", "-"))
    sizes = sorted({int(k.split(":")[0][2:]) for k in r if k.startswith("on")})
    for n in sizes:
        entries = {k.split(":", 1)[1]: v for k, v in r.items() if k.startswith(f"on{n}:") and not k.endswith(":mem")}
        mems = {k.split(":", 1)[1][: -len(":mem")]: v for k, v in r.items() if k.startswith(f"on{n}:") and k.endswith(":mem")}
        fastest = min(entries, key=entries.get)
        rows.append((f"(2) n={n}: fastest library", "norse_core", fastest, "yes" if fastest.startswith("norse_core") else "no"))
        if "Norse 1.1.0 LIF" in mems:
            ok = mems["norse_core LIF"] <= mems["Norse 1.1.0 LIF"]
            rows.append((f"(2) n={n}: peak memory norse_core LIF vs Norse LIF", "<= Norse",
                         f"{mems['norse_core LIF']:.0f} vs {mems['Norse 1.1.0 LIF']:.0f} MiB", "yes" if ok else "no"))
    if not rows:
        return []
    return out + _table(["target", "wanted", "measured", "met"], rows) + [""]


if __name__ == "__main__":
    raise SystemExit(main())
