"""Every image under a folder, served for deblurring real photos (``reblur predict --data.predict_dir``).

Items are dicts::

    {"blurry": float32 (3, H, W) in [0, 1],   # the photo, at its own size
     "name":   str,                            # its POSIX path relative to the folder, e.g. "trip/img_01.jpg"
     "gray":   bool}                           # the file was grayscale (repeated to 3 channels here)

Grayscale files are repeated to 3 channels because the networks take RGB; ``gray`` lets the writer
store the result as grayscale again. 16-bit files are scaled to [0, 1]; alpha is dropped.

A file that cannot be read does not stop a run: its item is an *unreadable marker* instead::

    {"blurry": float32 (3, 0, 0), "name": str, "error": str}   # the reason, naming the file

so a DataLoader (also in worker processes) carries the failure to the main loop, where
:func:`is_unreadable` tells the model and the callbacks to pass over the batch (batch size 1).

:class:`RankShare` splits the images between the processes of a distributed run without the
padding of :class:`~torch.utils.data.DistributedSampler`, so no image is deblurred (or written) twice.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sized
from pathlib import Path
from typing import Any, cast

import torch
from torch.utils.data import Dataset, DistributedSampler

from deblur_core.image_io import find_images, read_image
from reblur.data.layouts import PairedDataError


def is_unreadable(batch: Mapping[str, Any]) -> bool:
    """Whether ``batch`` (an item or a collated batch of one) is the marker of a file that could not be read."""
    return "error" in batch


class FolderImages(Dataset):
    """The images under ``root`` (searched recursively; dot files and non-images ignored), sorted by name.

    Args:
        root: the folder of photos; any sizes, colour or grayscale, any format PIL reads.

    Raises:
        PairedDataError: ``root`` is not a folder or holds no images.
    """

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        where = f"prediction folder '{self.root}'"
        if not self.root.is_dir():
            kind = "is not a folder" if self.root.exists() else "does not exist"
            raise PairedDataError([f"expected a folder of images '{self.root}', but it {kind}"], where)
        self.names = sorted(find_images(self.root, recursive=True))
        if not self.names:
            raise PairedDataError([f"'{self.root}' holds no images (searched recursively)"], where)

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, index: int) -> dict[str, Any]:
        name = self.names[index]
        try:
            image = read_image(self.root / name)
        # Any failure (corrupt, truncated, vanished, too large for PIL's bomb guard) concerns this file
        # only; it is reported at the end of the run instead of ending it.
        except Exception as err:
            return {"blurry": torch.empty(3, 0, 0), "name": name, "error": f"{type(err).__name__}: {err}"}
        gray = image.shape[0] == 1
        return {"blurry": image.expand(3, -1, -1).contiguous() if gray else image, "name": name, "gray": gray}


class RankShare(DistributedSampler):
    """Indices ``rank, rank + num_replicas, ...``: disjoint shares that together cover the dataset once.

    Unlike :class:`~torch.utils.data.DistributedSampler`, shares are not padded with repeated items
    to equal length (they differ by at most one; a share may be empty), so no output is produced
    twice. It subclasses ``DistributedSampler`` so that Lightning keeps it instead of injecting its own.

    >>> [list(RankShare(range(5), num_replicas=2, rank=r)) for r in (0, 1)]
    [[0, 2, 4], [1, 3]]
    """

    def __init__(self, dataset: Any, num_replicas: int, rank: int):
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=False, drop_last=False)
        self.num_samples = len(range(rank, len(dataset), num_replicas))
        self.total_size = len(dataset)

    def __iter__(self) -> Iterator[int]:
        # torch's Dataset declares no __len__; the datasets given here have one (see __init__).
        return iter(range(self.rank, len(cast(Sized, self.dataset)), self.num_replicas))

    def __len__(self) -> int:
        return self.num_samples
