"""The documentation site: ``mkdocs build --strict`` passes, the examples in the pages run,
and every figure exists and is drawn by a script in ``scripts/``."""

from __future__ import annotations

import importlib
import importlib.util
import re
import runpy
import subprocess
import sys

import pytest

from tests.helpers import REPO

DOCS = REPO / "docs"
EXAMPLE_PAGES = ["index", "getting-started", "concepts", "surrogates", "encoders", "custom-neuron", "migrating", "nir",
                 "eprop"]
FIGURE_SCRIPTS = {
    "surrogates.png": "plot_surrogates.py",
    "neuron_lif.png": "plot_neurons.py",
    "neuron_models.png": "plot_neurons.py",
    "encoders.png": "plot_encoders.py",
    "izhikevich_gallery.png": "izhikevich_gallery.py",
    "tensorboard_scalars.png": "tensorboard_screenshots.py",
    "tensorboard_images.png": "tensorboard_screenshots.py",
    "tensorboard_histograms.png": "tensorboard_screenshots.py",
    "tensorboard_hparams.png": "tensorboard_screenshots.py",
}


def _missing_docs_tools():
    missing = []
    for name in ("mkdocs", "mkdocstrings", "mkdocstrings_handlers.python"):
        try:
            found = importlib.util.find_spec(name) is not None
        except ModuleNotFoundError:  # the parent package is missing
            found = False
        if not found:
            missing.append(name)
    return missing


def test_mkdocs_build_strict(tmp_path):
    missing = _missing_docs_tools()
    if missing:
        pytest.skip(f"the docs extra is not installed ({', '.join(missing)} missing): pip install -e '.[docs]'")
    site = tmp_path / "site"
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(REPO / "mkdocs.yml"), "-d", str(site)],
        cwd=REPO, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, f"mkdocs build --strict failed:\n{result.stdout}\n{result.stderr}"
    api = (site / "api" / "nir" / "index.html").read_text()
    assert 'id="norse_core.nir.to_nir"' in api and 'id="norse_core.nir.from_nir"' in api
    assert 'id="norse_core.module.snn.SNNCell"' in (site / "api" / "module" / "index.html").read_text()
    functional = (site / "api" / "functional" / "index.html").read_text()
    assert ":class:" not in functional and "<table>" in functional  # reST idioms rendered as Markdown
    for page in ("getting-started", "concepts", "neuron-models", "surrogates", "encoders", "tasks", "nir",
                 "migrating", "custom-neuron"):
        assert (site / page / "index.html").exists(), page


def _python_blocks(page: str):
    return re.findall(r"```python\n(.*?)```", (DOCS / f"{page}.md").read_text(), flags=re.S)


@pytest.mark.parametrize("page", EXAMPLE_PAGES)
def test_examples_in_the_pages_run(page, monkeypatch):
    if page == "nir":
        pytest.importorskip("nir", reason="the NIR page needs the nir extra: pip install -e '.[nir]'")
    threshold_module = importlib.import_module("norse_core.functional.threshold")
    registered = set(threshold_module._SPIKE_FUNCTIONS)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    blocks = _python_blocks(page)
    assert blocks, page
    namespace: dict = {"__name__": f"docs_{page}"}
    try:
        for index, block in enumerate(blocks):
            exec(compile(block, f"docs/{page}.md (python block {index + 1})", "exec"), namespace)
    finally:  # examples may register surrogates: leave the registry as it was
        for name in set(threshold_module._SPIKE_FUNCTIONS) - registered:
            threshold_module._SPIKE_FUNCTIONS.pop(name)
            threshold_module._DERIVATIVES.pop(name)


def test_every_figure_exists_and_comes_from_a_script():
    referenced = set()
    for page in DOCS.glob("*.md"):
        referenced |= set(re.findall(r"\(figures/([^)]+\.png)\)", page.read_text()))
    assert set(FIGURE_SCRIPTS) <= referenced
    for figure in referenced:
        assert (DOCS / "figures" / figure).exists(), figure
        if figure in FIGURE_SCRIPTS:
            assert (REPO / "scripts" / FIGURE_SCRIPTS[figure]).exists(), FIGURE_SCRIPTS[figure]


@pytest.mark.parametrize("script,args,outputs", [
    ("plot_surrogates.py", ["--out", "{tmp}/surrogates.png"], ["surrogates.png"]),
    ("plot_neurons.py", ["--out-dir", "{tmp}"], ["neuron_lif.png", "neuron_models.png"]),
    ("plot_encoders.py", ["--out", "{tmp}/encoders.png"], ["encoders.png"]),
])
def test_figure_scripts_run(script, args, outputs, tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    monkeypatch.setattr(sys, "argv", [script, *(a.format(tmp=tmp_path) for a in args)])
    runpy.run_path(str(REPO / "scripts" / script), run_name="__main__")
    for name in outputs:
        assert (tmp_path / name).stat().st_size > 10_000
