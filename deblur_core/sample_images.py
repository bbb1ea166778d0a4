"""scikit-image's bundled sample photographs (``skimage.data``) as image tensors: data that needs no download."""

from __future__ import annotations

import numpy as np
import torch


def load_skimage(name: str) -> torch.Tensor:
    """A scikit-image sample image ``skimage.data.<name>`` at its native size, ``(C, H, W)`` in [0, 1], C = 1 or 3."""
    from skimage import data

    loader = getattr(data, name, None)
    if name.startswith("_") or not callable(loader):
        raise ValueError(f"skimage.data has no image called {name!r}; see skimage.data's documentation")
    try:
        array = np.asarray(loader())
    except Exception as err:  # images outside the wheel need pooch and a download
        raise ValueError(f"skimage.data.{name} cannot be loaded offline: {err}") from err
    if array.dtype == bool:
        array = array.astype(np.float32)
    elif np.issubdtype(array.dtype, np.integer):
        array = array.astype(np.float32) / np.iinfo(array.dtype).max
    if array.ndim not in (2, 3):
        raise ValueError(f"skimage.data.{name} is not an image (shape {array.shape})")
    image = torch.from_numpy(np.clip(array, 0, 1).astype(np.float32))
    return image.unsqueeze(0) if image.ndim == 2 else image[..., :3].permute(2, 0, 1).contiguous()
