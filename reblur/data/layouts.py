"""Finding blurry/sharp pairs in the dataset layouts on disk, and checking them before training.

Every finder returns a list of :class:`ImagePair` sorted by ``name``, a relative POSIX path that
identifies the pair (``"GOPR0384_11_00/000001.png"``). The whole list is checked when it is
built: missing twins, pairs of different sizes, files PIL cannot open, missing folders and empty
splits are collected and raised together as one :class:`PairedDataError`, so a broken download
fails at ``setup`` and not an hour into the first epoch. Only image headers are read (cheap); pass
``verify=False`` to skip decoding every file completely (the default decodes each file once and remembers
it, :mod:`deblur_core.decoded_images`).

GOPRO_Large (Nah et al., CVPR 2017), :func:`gopro_pairs`::

    ROOT/
    ├── train/
    │   ├── GOPR0372_07_00/
    │   │   ├── blur/        000047.png ...   blurry, averaged without the gamma curve
    │   │   ├── blur_gamma/  000047.png ...   blurry, averaged with the gamma (camera response) curve of
    │   │   │                                      Nah et al. 2017 (default)
    │   │   └── sharp/       000047.png ...   the middle frame of the averaged burst
    │   └── ...
    └── test/
        └── GOPR0384_11_00/ ...              same three folders

REDS (Nah et al., CVPRW 2019), :func:`reds_pairs`::

    ROOT/
    ├── train/
    │   ├── train_blur/   000/ 00000000.png ...   one folder per sequence
    │   └── train_sharp/  000/ 00000000.png ...
    └── val/
        ├── val_blur/     000/ 00000000.png ...
        └── val_sharp/    000/ 00000000.png ...

Any two parallel folders, :func:`folder_pairs`::

    BLURRY_ROOT/a.png, BLURRY_ROOT/sub/b.png ...   twins have the same relative path
    SHARP_ROOT/a.png,  SHARP_ROOT/sub/b.png ...

Files whose names start with a dot (``.DS_Store``, macOS ``._x.png``) and files that are not
images (by suffix) are ignored.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from PIL import Image

from deblur_core.decoded_images import decode_problems
from deblur_core.image_io import find_images

GOPRO_TREE = "ROOT/{train,test}/<sequence>/{blur,blur_gamma,sharp}/*.png"
REDS_TREE = "ROOT/train/train_{blur,sharp}/<sequence>/*.png and ROOT/val/val_{blur,sharp}/<sequence>/*.png"
MAX_LISTED_PROBLEMS = 20


class PairedDataError(ValueError):
    """The paired data is unusable; ``problems`` lists every problem found (one line each).

    >>> err = PairedDataError(["'a.png': no sharp twin", "'b.png': cannot open"], "GOPRO_Large '/data'")
    >>> print(err)
    2 problems in GOPRO_Large '/data':
      - 'a.png': no sharp twin
      - 'b.png': cannot open
    """

    def __init__(self, problems: Sequence[str], where: str):
        self.problems = list(problems)
        self.where = where
        listed = "\n".join(f"  - {p}" for p in self.problems[:MAX_LISTED_PROBLEMS])
        more = len(self.problems) - MAX_LISTED_PROBLEMS
        tail = f"\n  ... and {more} more" if more > 0 else ""
        count = f"{len(self.problems)} problem{'s' if len(self.problems) != 1 else ''}"
        super().__init__(f"{count} in {where}:\n{listed}{tail}")


@dataclass(frozen=True)
class ImagePair:
    """A blurry image file and its sharp twin.

    ``name`` is a relative POSIX path that identifies the pair within its dataset (used to name
    outputs and metrics rows). ``size`` is ``(H, W)``, filled in by the checks once both headers
    were read (``None`` before).
    """

    blurry: Path
    sharp: Path
    name: str
    size: tuple[int, int] | None = None


def _subfolders(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _match(
    blurry: dict[str, Path], sharp: dict[str, Path], prefix: str, problems: list[str], blurry_dir: Path, sharp_dir: Path
) -> list[ImagePair]:
    for key in sorted(blurry.keys() - sharp.keys()):
        problems.append(f"blurry '{blurry[key]}' has no sharp twin (expected '{sharp_dir / key}')")
    for key in sorted(sharp.keys() - blurry.keys()):
        problems.append(f"sharp '{sharp[key]}' has no blurry twin (expected '{blurry_dir / key}')")
    return [ImagePair(blurry[k], sharp[k], f"{prefix}{k}") for k in sorted(blurry.keys() & sharp.keys())]


def header_size(path: Path) -> tuple[tuple[int, int] | None, str | None]:
    """``((H, W), None)``, or ``(None, why)`` when PIL cannot open the file (reads the header only)."""
    try:
        with Image.open(path) as im:
            width, height = im.size
        return (height, width), None
    except Exception as err:  # PIL raises many types for bad files; any of them means unusable
        return None, f"cannot open image '{path}': {type(err).__name__}: {err}"


def check_pairs(
    pairs: Iterable[ImagePair], where: str, verify: bool = False, problems: Sequence[str] = ()
) -> list[ImagePair]:
    """Read both headers of every pair; return the pairs with ``size`` filled in. With ``verify`` also decode every
    file completely, once per file version (:func:`deblur_core.decoded_images.decode_problems` remembers the files
    that decoded), which catches truncated files whose header is intact.

    Raises :class:`PairedDataError` listing ``problems`` (found earlier by the caller) together with
    unreadable files and size mismatches, if there are any.
    """
    pairs = list(pairs)
    problems = list(problems)
    files = [p for pair in pairs for p in (pair.blurry, pair.sharp)]
    # Header reads are I/O-bound (network file systems especially): overlap them.
    with ThreadPoolExecutor(max_workers=min(8, (os.cpu_count() or 1) * 2)) as pool:
        results = dict(zip(files, pool.map(header_size, files)))
    if verify:
        readable = [path for path in files if results[path][1] is None]
        for path, why in decode_problems(readable).items():
            results[path] = (None, why)
    checked = []
    for pair in pairs:
        (blurry_size, blurry_err), (sharp_size, sharp_err) = results[pair.blurry], results[pair.sharp]
        problems.extend(err for err in (blurry_err, sharp_err) if err)
        if blurry_size and sharp_size and blurry_size != sharp_size:
            problems.append(
                f"size mismatch: blurry '{pair.blurry}' is {blurry_size[0]}x{blurry_size[1]} (HxW) "
                f"but sharp '{pair.sharp}' is {sharp_size[0]}x{sharp_size[1]}"
            )
        checked.append(replace(pair, size=blurry_size))
    if problems:
        raise PairedDataError(problems, where)
    return checked


def _require_dir(path: Path, what: str, where: str, hint: str = "") -> None:
    if not path.is_dir():
        kind = "is not a folder" if path.exists() else "does not exist"
        raise PairedDataError([f"expected {what} '{path}', but it {kind}{hint}"], where)


def gopro_pairs(
    root: str | os.PathLike,
    split: Literal["train", "test"] = "train",
    blur_folder: Literal["blur", "blur_gamma"] = "blur_gamma",
    verify: bool = True,
) -> list[ImagePair]:
    """The pairs of one split of GOPRO_Large; names are ``"<sequence>/<file>"``.

    Args:
        root: the ``GOPRO_Large`` folder (holding ``train/`` and ``test/``).
        split: ``"train"`` (2103 pairs in the release) or ``"test"`` (1111 pairs).
        blur_folder: ``"blur_gamma"`` (frames averaged with the gamma camera-response model of Nah et
            al. 2017; our default) or ``"blur"`` (averaged without it).
        verify: decode every file completely (once per file version; ``False`` reads headers only).

    Raises:
        PairedDataError: listing every problem (see the module docstring).
    """
    root = Path(root)
    where = f"GOPRO_Large dataset '{root}' (layout {GOPRO_TREE}), split '{split}'"
    if split not in ("train", "test"):
        raise ValueError(f"GOPRO_Large has splits 'train' and 'test', got {split!r}")
    if blur_folder not in ("blur", "blur_gamma"):
        raise ValueError(f"GOPRO_Large blurry folders are 'blur' and 'blur_gamma', got {blur_folder!r}")
    _require_dir(root, "dataset root", where, " (`deblur-datasets where gopro` says how to get it)")
    split_dir = root / split
    _require_dir(split_dir, f"split folder '{split}/'", where)
    sequences = _subfolders(split_dir)
    if not sequences:
        raise PairedDataError([f"split folder '{split_dir}' holds no sequence folders"], where)
    problems: list[str] = []
    pairs: list[ImagePair] = []
    for seq in sequences:
        blurry_dir, sharp_dir = seq / blur_folder, seq / "sharp"
        missing = [d for d in (blurry_dir, sharp_dir) if not d.is_dir()]
        for d in missing:
            other = seq / ("blur" if blur_folder == "blur_gamma" else "blur_gamma")
            hint = (
                f" (there is '{other.name}/': set blur_folder='{other.name}'?)"
                if d == blurry_dir and other.is_dir()
                else ""
            )
            problems.append(f"sequence '{seq}' has no '{d.name}/' folder{hint}")
        if missing:
            continue
        blurry, sharp = find_images(blurry_dir), find_images(sharp_dir)
        if not blurry and not sharp:
            problems.append(f"sequence '{seq}': '{blur_folder}/' and 'sharp/' hold no images")
            continue
        pairs += _match(blurry, sharp, f"{seq.name}/", problems, blurry_dir, sharp_dir)
    return check_pairs(pairs, where, verify, problems)


def reds_pairs(
    root: str | os.PathLike, split: Literal["train", "val"] = "train", verify: bool = True
) -> list[ImagePair]:
    """The pairs of one split of REDS; names are ``"<sequence>/<file>"``.

    Args:
        root: the REDS folder (holding ``train/`` and ``val/``). The REDS test split has no public
            sharp frames and is not supported.
        split: ``"train"`` (240 sequences x 100 frames) or ``"val"`` (30 x 100).
        verify: decode every file completely (once per file version; ``False`` reads headers only).

    Raises:
        PairedDataError: listing every problem (see the module docstring).
    """
    root = Path(root)
    where = f"REDS dataset '{root}' (layout {REDS_TREE}), split '{split}'"
    if split not in ("train", "val"):
        raise ValueError(f"REDS splits with sharp frames are 'train' and 'val', got {split!r}")
    _require_dir(root, "dataset root", where, " (`deblur-datasets where reds` says how to get it)")
    blurry_root, sharp_root = root / split / f"{split}_blur", root / split / f"{split}_sharp"
    problems = [
        f"expected folder '{d}', but it {'is not a folder' if d.exists() else 'does not exist'}"
        for d in (blurry_root, sharp_root)
        if not d.is_dir()
    ]
    if problems:
        raise PairedDataError(problems, where)
    blurry_seqs = {p.name: p for p in _subfolders(blurry_root)}
    sharp_seqs = {p.name: p for p in _subfolders(sharp_root)}
    if not blurry_seqs and not sharp_seqs:
        raise PairedDataError([f"'{blurry_root}' and '{sharp_root}' hold no sequence folders"], where)
    for name in sorted(blurry_seqs.keys() - sharp_seqs.keys()):
        problems.append(f"blurry sequence '{blurry_seqs[name]}' has no sharp twin (expected '{sharp_root / name}')")
    for name in sorted(sharp_seqs.keys() - blurry_seqs.keys()):
        problems.append(f"sharp sequence '{sharp_seqs[name]}' has no blurry twin (expected '{blurry_root / name}')")
    pairs: list[ImagePair] = []
    for name in sorted(blurry_seqs.keys() & sharp_seqs.keys()):
        blurry_dir, sharp_dir = blurry_seqs[name], sharp_seqs[name]
        blurry, sharp = find_images(blurry_dir), find_images(sharp_dir)
        if not blurry and not sharp:
            problems.append(f"sequence '{name}': '{blurry_dir}' and '{sharp_dir}' hold no images")
            continue
        pairs += _match(blurry, sharp, f"{name}/", problems, blurry_dir, sharp_dir)
    return check_pairs(pairs, where, verify, problems)


def folder_pairs(blurry_root: str | os.PathLike, sharp_root: str | os.PathLike, verify: bool = True) -> list[ImagePair]:
    """Pairs from two parallel folder trees (searched recursively); twins share their relative path.

    Raises:
        PairedDataError: listing every problem (see the module docstring).
    """
    blurry_root, sharp_root = Path(blurry_root), Path(sharp_root)
    where = f"paired folders '{blurry_root}' (blurry) and '{sharp_root}' (sharp)"
    problems = [
        f"expected folder '{d}', but it {'is not a folder' if d.exists() else 'does not exist'}"
        for d in (blurry_root, sharp_root)
        if not d.is_dir()
    ]
    if problems:
        raise PairedDataError(problems, where)
    blurry, sharp = find_images(blurry_root, recursive=True), find_images(sharp_root, recursive=True)
    if not blurry and not sharp:
        raise PairedDataError([f"'{blurry_root}' and '{sharp_root}' hold no images"], where)
    pairs = _match(blurry, sharp, "", problems, blurry_root, sharp_root)
    return check_pairs(pairs, where, verify, problems)
