"""A training DataLoader that a killed run can resume mid-epoch with the same batches.

Lightning (2.x) saves ``state_dict()`` of every training loader that has one in each
checkpoint and, when it resumes a run inside an epoch, hands it back to
``load_state_dict()``; a plain ``DataLoader`` would start the epoch over instead (with a
``PossibleUserWarning``). :class:`ResumableLoader` records how many batches of the current
epoch it has handed out, and :class:`EpochShuffleSampler` draws each epoch's order from
``(seed, epoch)`` alone, so the resumed run skips exactly the batches the killed one had
already trained on and then sees the same ones, in the same order, as a run that was never
interrupted. Lightning calls ``set_epoch`` at the start of every epoch (the same hook as
for ``DistributedSampler``). A ``transform`` (e.g. :func:`shift_images`, random shifts, or
:func:`affine_images`, random rotations, scalings and shifts) gets
each batch with a generator seeded by ``(seed, epoch, batch index)``: a resumed run draws the
same random numbers for the same batch.

:func:`writable_dir` and :func:`remove_file` turn a data folder that cannot be written into one
line naming the folder and what to do (:class:`DataDirError`), not an ``OSError`` traceback.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, Optional, Sized

import torch
from torch.utils.data import DataLoader, Sampler, SequentialSampler

from tasks.common.errors import RunError


class DataDirError(RunError, OSError):
    """The data folder cannot be created or written (``data.data_dir``)."""


def _cannot(what: str, folder: Path, exc: OSError) -> DataDirError:
    reason = exc.strerror or str(exc)
    return DataDirError(
        f"data.data_dir: cannot {what} {folder} ({reason}); choose a writable folder with "
        "data.data_dir=<folder>, or fix the permissions of this one"
    )


def writable_dir(folder: str | os.PathLike[str]) -> Path:
    """``folder``, created if needed, after checking that files can be written in it; raises
    :class:`DataDirError` (one line naming the folder and what to do) otherwise."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _cannot("create the folder", folder, exc) from exc
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise _cannot("write to the folder", folder, exc) from exc
    return folder


def remove_file(path: str | os.PathLike[str]) -> None:
    """Deletes ``path``; raises :class:`DataDirError` naming its folder when that fails."""
    path = Path(path)
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise _cannot(f"delete the bad file {path.name} in", path.parent, exc) from exc


def shift_images(images: torch.Tensor, max_shift: int, generator: torch.Generator, fill: float = 0.0) -> torch.Tensor:
    """Each image of ``images`` ``(B, C, H, W)`` translated by its own random integer offset
    ``(dy, dx)``, each uniform in ``[-max_shift, max_shift]``:
    ``out[b, :, i, j] = images[b, :, i - dy_b, j - dx_b]``, ``fill`` where that lies outside."""
    if images.dim() != 4:
        raise ValueError(f"images must be (batch, channels, height, width), got {tuple(images.shape)}")
    if max_shift == 0:
        return images
    batch, _, height, width = images.shape
    offsets = torch.randint(-max_shift, max_shift + 1, (batch, 2), generator=generator).to(images.device)
    padded = torch.nn.functional.pad(images, (max_shift,) * 4, value=fill)
    rows = torch.arange(height, device=images.device) + max_shift - offsets[:, :1]  # (B, H)
    cols = torch.arange(width, device=images.device) + max_shift - offsets[:, 1:]  # (B, W)
    b = torch.arange(batch, device=images.device)[:, None, None]
    return padded.permute(0, 2, 3, 1)[b, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2).contiguous()


def translate_images(images: torch.Tensor, dy: int, dx: int, fill: Optional[float] = None) -> torch.Tensor:
    """``images`` ``(B, C, H, W)`` moved ``dy`` px down and ``dx`` px right (the same for all):
    ``out[b, :, i, j] = images[b, :, i - dy, j - dx]``, else ``fill`` (``None``: each image's
    darkest value, MNIST's background whether normalised or not)."""
    if images.dim() != 4:
        raise ValueError(f"images must be (batch, channels, height, width), got {tuple(images.shape)}")
    if dy == 0 and dx == 0:
        return images
    height, width = images.shape[-2:]
    background = images.amin(dim=(1, 2, 3), keepdim=True) if fill is None else images.new_full((1, 1, 1, 1), fill)
    out = background.expand_as(images).clone()
    out[..., max(dy, 0):height + min(dy, 0), max(dx, 0):width + min(dx, 0)] = \
        images[..., max(-dy, 0):height + min(-dy, 0), max(-dx, 0):width + min(-dx, 0)]
    return out


def warp_images(images: torch.Tensor, degrees: torch.Tensor, factor: torch.Tensor, dy: torch.Tensor,
                dx: torch.Tensor, fill: float = 0.0) -> torch.Tensor:
    """Image ``b`` of ``images`` ``(B, C, H, W)`` rotated by ``degrees[b]`` and scaled by
    ``factor[b]`` about its centre, then translated by ``(dy[b], dx[b])`` px (rows down, columns
    right); bilinear, ``fill`` where the source lies outside. With ``p`` a pixel's offset from
    the centre, the output at ``p`` reads the input at ``R(degrees)^-1 (p - d) / factor``."""
    if images.dim() != 4:
        raise ValueError(f"images must be (batch, channels, height, width), got {tuple(images.shape)}")
    _, _, height, width = images.shape
    angle = torch.deg2rad(degrees.to(torch.float64))
    cos, sin = torch.cos(angle) / factor, torch.sin(angle) / factor
    tx, ty = dx * 2 / width, dy * 2 / height  # affine_grid's coordinates run from -1 to 1: one px is 2 / size
    theta = torch.stack([torch.stack([cos, sin, -(cos * tx + sin * ty)], 1),
                         torch.stack([-sin, cos, sin * tx - cos * ty], 1)], 1)
    grid = torch.nn.functional.affine_grid(theta.to(images), list(images.shape), align_corners=False)
    moved = torch.nn.functional.grid_sample(images - fill, grid, mode="bilinear", padding_mode="zeros",
                                            align_corners=False)
    return moved + fill


def affine_images(images: torch.Tensor, generator: torch.Generator, degrees: float = 0.0, scale: float = 0.0,
                  shift: float = 0.0, fill: float = 0.0) -> torch.Tensor:
    """:func:`warp_images` with random maps, one per image: an angle uniform in
    ``[-degrees, degrees]``, a factor uniform in ``[1 - scale, 1 + scale]`` and a translation
    uniform in ``[-shift, shift]`` px per axis, drawn from ``generator``."""
    if images.dim() != 4:
        raise ValueError(f"images must be (batch, channels, height, width), got {tuple(images.shape)}")
    if degrees == 0 and scale == 0 and shift == 0:
        return images
    draws = torch.rand(images.shape[0], 4, generator=generator, dtype=torch.float64) * 2 - 1  # in [-1, 1)
    return warp_images(images, draws[:, 0] * degrees, 1 + draws[:, 1] * scale, draws[:, 3] * shift,
                       draws[:, 2] * shift, fill)


class EpochShuffleSampler(Sampler[int]):
    """A random permutation of ``range(len(data_source))`` that depends only on ``seed`` and
    the epoch (``set_epoch``), optionally starting ``skip`` indices in (once)."""

    def __init__(self, data_source: Sized, seed: int = 0):
        self.data_source = data_source
        self.seed = int(seed)
        self.epoch = 0
        self._skip = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def skip_next(self, count: int) -> None:
        """The next iteration starts ``count`` indices into the epoch's order."""
        self._skip = int(count)

    def order(self, epoch: Optional[int] = None) -> torch.Tensor:
        """The full order of epoch ``epoch`` (default: the current one)."""
        epoch = self.epoch if epoch is None else epoch
        generator = torch.Generator().manual_seed((self.seed * 1_000_003 + epoch) % (2**63))
        return torch.randperm(len(self.data_source), generator=generator)

    def __iter__(self) -> Iterator[int]:
        skip, self._skip = self._skip, 0
        yield from self.order()[skip:].tolist()

    def __len__(self) -> int:
        return len(self.data_source)


class ResumableLoader(DataLoader):
    """A ``DataLoader`` whose position in the epoch is part of a Lightning checkpoint.

    With ``shuffle=True`` it samples with ``EpochShuffleSampler(dataset, seed)``; with
    ``shuffle=False`` in order. ``state_dict()`` is ``{"epoch", "batches"}`` (the batches of
    the epoch already handed out); after ``load_state_dict`` the next iteration skips them
    (by index with its own sampler; by drawing and dropping them with a sampler that
    Lightning put in, e.g. ``DistributedSamplerWrapper`` under DDP, which reshuffles by
    ``seed + epoch`` itself). ``transform(batch, generator)`` changes each batch, drawing its
    random numbers from ``generator``, seeded by ``(seed, epoch, batch index)`` alone."""

    def __init__(
        self, dataset: Any, batch_size: Optional[int] = 1, seed: int = 0, shuffle: bool = True,
        sampler: Optional[Sampler] = None, transform: Optional[Callable[[Any, torch.Generator], Any]] = None,
        **kwargs: Any,
    ):
        if kwargs.get("batch_sampler") is not None:
            raise ValueError("ResumableLoader batches with batch_size; do not pass batch_sampler")
        kwargs.pop("batch_sampler", None)
        if sampler is None:
            sampler = EpochShuffleSampler(dataset, seed) if shuffle else SequentialSampler(dataset)
        kwargs.setdefault("generator", torch.Generator().manual_seed(int(seed)))  # worker base seeds
        super().__init__(dataset, batch_size=batch_size, sampler=sampler, **kwargs)
        self.seed = int(seed)
        self.transform = transform
        self._epoch = 0
        self._batches = 0
        self._skip_batches = 0

    def _current_epoch(self) -> int:
        return int(getattr(self.sampler, "epoch", self._epoch))

    def __iter__(self) -> Iterator[Any]:  # type: ignore[override]
        skip, self._skip_batches = self._skip_batches, 0
        if self._current_epoch() != self._epoch:  # the saved position belongs to another epoch
            skip = 0
        own = isinstance(self.sampler, EpochShuffleSampler)
        if own:
            self.sampler.skip_next(skip * (self.batch_size or 1))
        self._batches = skip
        iterator = super().__iter__()
        if not own:
            for _ in range(skip):
                next(iterator, None)
        epoch = self._current_epoch()
        for batch in iterator:
            if self.transform is not None:
                batch = self.transform(batch, self.batch_generator(epoch, self._batches))
            self._batches += 1
            yield batch

    def batch_generator(self, epoch: int, index: int) -> torch.Generator:
        """The generator of batch ``index`` of epoch ``epoch`` (seeded by ``seed`` too)."""
        return torch.Generator().manual_seed(((self.seed * 1_000_003 + epoch) * 1_000_003 + index) % (2**63))

    def state_dict(self) -> Dict[str, int]:
        return {"epoch": self._current_epoch(), "batches": self._batches}

    def load_state_dict(self, state: Dict[str, int]) -> None:
        epoch = int(state.get("epoch", 0))
        self._epoch = epoch
        set_epoch = getattr(self.sampler, "set_epoch", None)
        if callable(set_epoch):
            set_epoch(epoch)
        self._skip_batches = int(state.get("batches", 0))
        self._batches = self._skip_batches
