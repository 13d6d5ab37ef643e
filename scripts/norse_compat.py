"""Run Norse 1.1.0's own tests against norse_core: the "one import" promise, measured.

Copies the test files of the parts norse_core re-implements from the installed ``norse``
package into a temporary folder (never into this repository: Norse's code is not ours to
ship), rewrites every ``norse.torch`` import to ``norse_core``, runs pytest on them and prints
pass/fail counts per file, with the first line of each failure.

Needs the ``bench`` extra (``pip install -e '.[bench]'``, which installs ``norse==1.1.0``)::

    .venv/bin/python scripts/norse_compat.py                 # norse_core
    .venv/bin/python scripts/norse_compat.py --against norse # the unmodified tests on Norse
    .venv/bin/python scripts/norse_compat.py -k lif_box      # only files whose name matches

Tests that Norse itself skips here (CUDA-only tests on a machine without a GPU) count as
skipped, not as passed. A file that does not import counts every test Norse collects in it
as failed.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# The parts norse_core re-implements (issue 15): Norse's test files for them.
FUNCTIONAL = [
    "lif", "leaky_integrator", "encode", "threshold", "heaviside", "lift", "regularization",
    "lif_box", "iaf", "izhikevich", "tsodyks_makram", "lif_ex", "lif_adex", "lif_refrac",
    "coba_lif", "lif_mc", "stdp", "decode", "lsnn",
]
MODULE = [
    "lif", "leaky_integrator", "encode", "lift", "regularization", "lif_box", "iaf",
    "izhikevich", "lif_ex", "lif_adex", "lif_refrac", "coba", "lif_mc", "sequential",
    "training", "conv", "lsnn",
]
ADJOINT = ["lif", "lif_refrac", "lsnn"]
FILES = (
    [f"functional/test/test_{n}.py" for n in FUNCTIONAL]
    + [f"functional/adjoint/test/test_{n}_adjoint.py" for n in ADJOINT]
    + [f"module/test/test_{n}.py" for n in MODULE]
)

_IMPORT = re.compile(r"\bnorse\.torch\b")
_RELATIVE = re.compile(r"^(\s*from\s+)(\.+)(\w[\w.]*)?(\s+import\b)", re.M)


def norse_dir() -> Path:
    spec = importlib.util.find_spec("norse")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("norse is not installed: pip install -e '.[bench]' (norse==1.1.0)")
    return Path(list(spec.submodule_search_locations)[0]) / "torch"


def absolute(source: str, package: str) -> str:
    """Relative imports made absolute: ``from ..lif import X`` in ``norse.torch.module.test``
    becomes ``from norse.torch.module.lif import X``."""

    def sub(m):
        parts = package.split(".")[: len(package.split(".")) - (len(m.group(2)) - 1)]
        target = ".".join(parts + ([m.group(3)] if m.group(3) else []))
        return f"{m.group(1)}{target}{m.group(4)}"

    return _RELATIVE.sub(sub, source)


def rewrite(source: str) -> str:
    """Every ``norse.torch`` becomes ``norse_core`` (imports and attribute paths)."""
    return _IMPORT.sub("norse_core", source)


def short(path: str) -> str:
    """``functional/test/test_lif.py`` -> ``functional/test_lif.py``"""
    return path.replace("/test/", "/")


def copy_tests(dest: Path, files, against: str) -> dict:
    """Copy (and rewrite) the files; returns {copied file name: short name}."""
    src = norse_dir()
    names = {}
    for rel in files:
        package = "norse.torch." + rel.rsplit("/", 1)[0].replace("/", ".")  # norse.torch.module.test
        text = absolute((src / rel).read_text(), package)
        if against == "norse_core":
            text = rewrite(text)
        name = short(rel)  # functional/test_lif.py (importlib mode: names need not be unique)
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        (dest / name).write_text(text)
        names[name] = name
    (dest / "conftest.py").write_text("")
    (dest / "pytest.ini").write_text("[pytest]\naddopts =\n")
    return names


def run_pytest(folder: Path, names: dict, env: dict, extra=()) -> dict:
    """pytest on the folder; {short name: {passed, failed, skipped, errors: [...], collect_error}}."""
    xml = folder / "report.xml"
    cmd = [sys.executable, "-m", "pytest", str(folder), "-q", "-p", "no:cacheprovider",
           "--import-mode=importlib", "--continue-on-collection-errors", f"--junitxml={xml}", "-o", "junit_family=xunit1",
           "--rootdir", str(folder), "-c", str(folder / "pytest.ini"), *extra]
    proc = subprocess.run(cmd, cwd=folder, env=env, capture_output=True, text=True)
    result = defaultdict(lambda: {"passed": 0, "failed": 0, "skipped": 0, "failures": [], "collect_error": None})
    for name, s in names.items():
        result[s]  # every file appears
    if not xml.exists():
        print(proc.stdout[-3000:], proc.stderr[-3000:])
        sys.exit("pytest wrote no report")
    for case in ET.parse(xml).getroot().iter("testcase"):
        file = case.get("file") or ""
        cls = case.get("classname") or ""  # functional.test_lif (or .Class)
        key = file if file in names else None
        if key is None:
            for name in names:
                if cls == name[:-3].replace("/", ".") or cls.startswith(name[:-3].replace("/", ".") + "."):
                    key = name
        if key is None:
            continue
        failure = case.find("failure")
        if failure is None:
            failure = case.find("error")
        if case.find("skipped") is not None:
            result[key]["skipped"] += 1
        elif failure is not None:
            text = (failure.text or "").splitlines()
            errors = [l[1:].strip() for l in text if l.startswith("E ")]
            msg = errors or (failure.get("message") or "").strip().splitlines()
            first = msg[0] if msg else "?"
            if not cls:  # collection error: the whole file
                result[key]["collect_error"] = first
            else:
                result[key]["failed"] += 1
                result[key]["failures"].append(f"{case.get('name')}: {first[:200]}")
        else:
            result[key]["passed"] += 1
    return result


def collected(files) -> dict:
    """How many tests Norse collects per file (the denominator for files that do not import)."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        names = copy_tests(folder, files, "norse")
        out = subprocess.run(
            [sys.executable, "-m", "pytest", str(folder), "--collect-only", "-q", "-p", "no:cacheprovider",
             "--import-mode=importlib", "--rootdir", str(folder), "-c", str(folder / "pytest.ini")],
            cwd=folder, capture_output=True, text=True).stdout
    counts = defaultdict(int)
    for line in out.splitlines():
        if "::" in line:
            counts[line.split("::")[0]] += 1
    return counts


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--against", choices=["norse_core", "norse"], default="norse_core")
    ap.add_argument("-k", dest="match", default=None, help="only files whose path contains this")
    ap.add_argument("--all-failures", action="store_true", help="print every failure (default: 5 per file)")
    ap.add_argument("--keep", type=Path, default=None,
                    help="write the rewritten tests into this (new, outside the repository) folder and keep them")
    args = ap.parse_args(argv)

    files = [f for f in FILES if args.match is None or args.match in f]
    totals = collected(files)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    if args.keep is not None:
        if args.keep.resolve().is_relative_to(REPO):
            sys.exit("--keep: the folder must be outside the repository (Norse's tests are not ours to ship)")
        args.keep.mkdir(parents=True, exist_ok=False)
        names = copy_tests(args.keep, files, args.against)
        result = run_pytest(args.keep, names, env)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            names = copy_tests(folder, files, args.against)
            result = run_pytest(folder, names, env)

    passed = failed = skipped = 0
    broken = 0
    print(f"Norse 1.1.0's tests on {args.against}")
    print(f"{'file':46s} {'pass':>5s} {'fail':>5s} {'skip':>5s} {'of':>4s}")
    for rel in files:
        s = short(rel)
        r = result[s]
        n = totals.get(s, 0)
        if r["collect_error"] is not None:
            broken += 1
            f = n
            print(f"{s:46s} {0:5d} {f:5d} {0:5d} {n:4d}  does not import: {r['collect_error'][:150]}")
            failed += f
            continue
        passed += r["passed"]
        failed += r["failed"]
        skipped += r["skipped"]
        print(f"{s:46s} {r['passed']:5d} {r['failed']:5d} {r['skipped']:5d} {n:4d}")
        shown = r["failures"] if args.all_failures else r["failures"][:5]
        for line in shown:
            print(f"    FAIL {line}")
        if len(r["failures"]) > len(shown):
            print(f"    ... {len(r['failures']) - len(shown)} more")
    ran = passed + failed
    pct = 100.0 * passed / ran if ran else 0.0
    print(f"total: {passed} of {ran} pass ({pct:.1f}%), {failed} fail, {skipped} skipped, "
          f"{broken} files do not import")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
