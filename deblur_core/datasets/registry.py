"""What this project knows about each data set: where it comes from, how it is laid out, and the files' SHA-256.

Conventions:

* A data set lives in one folder, its *root*: ``data/<folder>`` by default, the place the shipped configs
  read (``folder`` is the set's name unless the spec says otherwise: ``GOPRO_Large``, ``REDS``).
  Every path below is relative to that root and written in POSIX form (``gt/im1.png``).
* ``layout`` is a list of ``(pattern, count)`` checks: ``pattern`` is a :meth:`pathlib.Path.glob` pattern
  relative to the root; it counts files, or folders when it ends with ``/``. Names starting with a dot
  (``.DS_Store``, macOS ``._x.png``) are never counted. Counts are exact: a missing and an extra file are both
  problems. Files that no pattern covers (a ``README.md``) are ignored.
* ``sha256`` maps a relative path to the SHA-256 (lowercase hex) of that file, for the sets whose bytes we know.
  The sums were computed from the copies named in each spec's ``source``; an empty table means only the layout
  can be checked. An archive's own ``sha256`` is ``None`` where it is not known (then it is not checked).
* ``archives`` are the files a download fetches, in order; each is extracted (or, for ``extract="none"``,
  copied) into the root. ``member`` names the folder inside the archive that becomes the root; ``None`` means
  the archive's top level, or its only top-level folder when it wraps everything in one (and that folder is
  not itself part of the layout, like ``train/`` in REDS).
* ``manual`` sets have no archive URL we could confirm: ``download`` refuses unless the user gives one
  (``--url``) and prints how to place the files by hand.
* ``shipped`` sets are committed in this repository under ``data/<name>``; nothing to download.

The recorded sums are in ``checksums/<name>.sha256`` beside this module (:func:`recorded_sums`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from types import MappingProxyType
from typing import Literal

Extract = Literal["zip", "tar", "none"]


@dataclass(frozen=True)
class Archive:
    """One file to download: saved as ``filename``, checked against ``sha256`` when that is known."""

    filename: str
    url: str
    sha256: str | None = None
    extract: Extract = "zip"
    member: str | None = None


@dataclass(frozen=True)
class DatasetSpec:
    """A data set: its origin, expected layout under its root, and the checksums we can vouch for."""

    name: str
    title: str
    citation: str
    page: str
    licence: str
    layout: tuple[tuple[str, int], ...]
    archives: tuple[Archive, ...] = ()
    sha256: Mapping[str, str] = field(default_factory=dict)
    shipped: bool = False
    manual: bool = False
    size: str | None = None
    source: str = ""
    notes: str = ""
    folder: str = ""

    @property
    def directory(self) -> str:
        """The set's folder under the data root: ``folder``, or the set's name (the folder the configs read)."""
        return self.folder or self.name

    def __post_init__(self) -> None:
        # A read-only view, so that a frozen spec cannot be changed through its checksum table either.
        object.__setattr__(self, "sha256", MappingProxyType(dict(self.sha256)))

    @property
    def file_count(self) -> int:
        """Files the layout expects (folder checks, patterns ending in ``/``, not counted)."""
        return sum(count for pattern, count in self.layout if not pattern.endswith("/"))


def recorded_sums(name: str) -> dict[str, str]:
    """``{path: hex}`` from ``checksums/<name>.sha256`` beside this module, lines as ``sha256sum`` prints them
    (``<hex>  <path>``, so ``sha256sum -c`` run in a copy's root checks it too). The sums were computed from this
    repository's ``data/<name>`` (shipped sets) or from the copies named in each spec's ``source``."""
    checksums = resources.files("deblur_core.datasets").joinpath("checksums")
    text = checksums.joinpath(f"{name}.sha256").read_text(encoding="utf-8")
    pairs = (line.split(None, 1) for line in text.strip().splitlines())
    return {path.strip(): digest for digest, path in pairs}


def dataset(name: str) -> DatasetSpec:
    """The spec called ``name``; ``KeyError`` naming the known sets otherwise."""
    try:
        return DATASETS[name]
    except KeyError:
        raise KeyError(f"unknown data set '{name}' (known: {', '.join(DATASETS)})") from None


_KODAK_BASE = "http://r0k.us/graphics/kodak/kodak"

LEVIN = DatasetSpec(
    name="levin",
    title="Levin et al. blind-deconvolution benchmark (4 images x 8 kernels)",
    citation='A. Levin, Y. Weiss, F. Durand, W. T. Freeman, "Understanding and evaluating blind deconvolution '
    'algorithms", CVPR 2009',
    page="https://webee.technion.ac.il/people/anat.levin/",
    licence="none stated by either source; published by its authors for research use",
    layout=(("im*_kernel*_img.png", 32), ("gt/im*.png", 4), ("gt/kernel*.png", 8)),
    sha256=recorded_sums("levin"),
    shipped=True,
    size="1.1 MB",
    source="the files as distributed in the SelfDeblur authors' repository (csdwren/SelfDeblur, datasets/levin)",
)

REAL = DatasetSpec(
    name="real",
    title="Real camera-shake photos without ground truth (fishes, flower, house)",
    citation='D. Ren, K. Zhang, Q. Wang, Q. Hu, W. Zuo, "Neural Blind Deconvolution Using Deep Priors", CVPR 2020',
    page="https://github.com/csdwren/SelfDeblur",
    licence="none stated; the paper's published examples, for research use",
    layout=(("*.jpg", 3),),
    sha256=recorded_sums("real"),
    shipped=True,
    size="0.2 MB",
    source="csdwren/SelfDeblur, datasets/real",
)

NIQE = DatasetSpec(
    name="niqe",
    title="NIQE reference image (baboon.png, with a published MATLAB NIQE value)",
    citation='A. Mittal, R. Soundararajan, A. C. Bovik, "Making a Completely Blind Image Quality Analyzer", '
    "IEEE SPL 2013",
    page="https://github.com/XPixelGroup/BasicSR",
    licence="BasicSR is Apache-2.0; the image is from the USC-SIPI database, for research use",
    layout=(("*.png", 1),),
    sha256=recorded_sums("niqe"),
    shipped=True,
    size="0.5 MB",
    source="BasicSR 1.4.2, test_scripts/data/baboon.png",
)

LPIPS = DatasetSpec(
    name="lpips",
    title="LPIPS example triplet (ex_ref, ex_p0, ex_p1)",
    citation='R. Zhang, P. Isola, A. A. Efros, E. Shechtman, O. Wang, "The Unreasonable Effectiveness of Deep '
    'Features as a Perceptual Metric", CVPR 2018',
    page="https://github.com/richzhang/PerceptualSimilarity",
    licence="BSD-2-Clause",
    layout=(("*.png", 3),),
    sha256=recorded_sums("lpips"),
    shipped=True,
    size="0.03 MB",
    source="richzhang/PerceptualSimilarity, imgs/",
)

LAI = DatasetSpec(
    name="lai",
    title="Lai et al. uniform blind-deblurring benchmark (25 images x 4 kernels)",
    citation='W.-S. Lai, J.-B. Huang, Z. Hu, N. Ahuja, M.-H. Yang, "A Comparative Study for Single Image Blind '
    'Deblurring", CVPR 2016',
    page="http://vllab.ucmerced.edu/wlai24/cvpr16_deblur_study/",
    licence="research use; cite the paper",
    layout=(("uniform/*_kernel_*.png", 100), ("ground_truth/*.png", 25), ("kernel/kernel_*.png", 4)),
    sha256=recorded_sums("lai"),
    manual=True,
    size="76 MB",
    source="Lai et al.'s release as kept in xl-tang3/UAUDeblur (Datasets/Lai, an older commit)",
    notes="No archive URL could be confirmed, so download is by hand from the official page. Only the uniform "
    "subset (the one SelfDeblur evaluates) is checked: uniform/CATEGORY_NN_kernel_KK.png, "
    "ground_truth/CATEGORY_NN.png, kernel/kernel_0K.png; other folders of the release may sit beside them.",
)

KODAK24 = DatasetSpec(
    name="kodak24",
    title="Kodak PhotoCD test set (24 sharp colour photos, 768x512 or 512x768 PNG)",
    citation="Kodak Lossless True Color Image Suite (PhotoCD PCD0992)",
    page="http://r0k.us/graphics/kodak/",
    licence="released by Kodak for unrestricted use",
    layout=(("kodim*.png", 24),),
    archives=tuple(
        Archive(f"kodim{i:02d}.png", f"{_KODAK_BASE}/kodim{i:02d}.png", extract="none") for i in range(1, 25)
    ),
    sha256=recorded_sums("kodak24"),
    size="15 MB",
    source="the PNGs as kept in coodie/quant",
    notes="The sums are those of the coodie/quant copies; r0k.us could not be compared byte for byte here. If a "
    "download from r0k.us differs, verify names every differing file (the bytes, not necessarily the pixels).",
)

BSDS500 = DatasetSpec(
    name="bsds500",
    title="Berkeley Segmentation Data Set 500 images (200 train, 100 val, 200 test JPEGs, 481x321)",
    citation='P. Arbelaez, M. Maire, C. Fowlkes, J. Malik, "Contour Detection and Hierarchical Image '
    'Segmentation", IEEE TPAMI 2011',
    page="https://www2.eecs.berkeley.edu/Research/Projects/CS/vision/grouping/resources.html#bsds500",
    licence="research use; cite the paper",
    layout=(("train/*.jpg", 200), ("val/*.jpg", 100), ("test/*.jpg", 200)),
    archives=(
        Archive(
            "BSR_bsds500.tgz",
            "http://www.eecs.berkeley.edu/Research/Projects/CS/vision/grouping/BSR/BSR_bsds500.tgz",
            extract="tar",
            member="BSR/BSDS500/data/images",
        ),
    ),
    sha256=recorded_sums("bsds500"),
    source="the test split as kept in BIDS/BSDS500",
    notes="The archive's own SHA-256 is not known here, so it is not checked; of the files, only the test "
    "split's 200 sums are recorded (train and val: counts only). Extraction keeps BSR/BSDS500/data/images/"
    "{train,val,test}; the ground truth (.mat) is not part of this layout.",
)

GOPRO = DatasetSpec(
    name="gopro",
    folder="GOPRO_Large",
    title="GOPRO_Large dynamic-scene deblurring (2103 train / 1111 test pairs, 1280x720)",
    citation='S. Nah, T. H. Kim, K. M. Lee, "Deep Multi-Scale Convolutional Neural Network for Dynamic Scene '
    'Deblurring", CVPR 2017',
    page="https://seungjunnah.github.io/Datasets/gopro",
    licence="see the official page; cite the paper",
    layout=(
        ("train/*/", 22),
        ("train/*/blur/*.png", 2103),
        ("train/*/blur_gamma/*.png", 2103),
        ("train/*/sharp/*.png", 2103),
        ("test/*/", 11),
        ("test/*/blur/*.png", 1111),
        ("test/*/blur_gamma/*.png", 1111),
        ("test/*/sharp/*.png", 1111),
    ),
    archives=(Archive("GOPRO_Large.zip", "http://data.cv.snu.ac.kr:8008/webdav/dataset/GOPRO/GOPRO_Large.zip"),),
    source="no copy here: counts from the authors' README (SeungjunNah/DeepDeblur_release)",
    notes="No checksums are known: only the layout is checked. The official page also links a Google Drive "
    "copy, which needs a browser.",
)

REDS = DatasetSpec(
    name="reds",
    folder="REDS",
    title="REDS video deblurring (240 train / 30 val sequences of 100 frames, 1280x720)",
    citation='S. Nah, S. Baik, S. Hong, G. Moon, S. Son, R. Timofte, K. M. Lee, "NTIRE 2019 Challenge on Video '
    'Deblurring and Super-Resolution: Dataset and Study", CVPR Workshops 2019',
    page="https://seungjunnah.github.io/Datasets/reds.html",
    licence="see the official page; cite the paper",
    layout=(
        ("train/train_blur/*/", 240),
        ("train/train_blur/*/*.png", 24000),
        ("train/train_sharp/*/", 240),
        ("train/train_sharp/*/*.png", 24000),
        ("val/val_blur/*/", 30),
        ("val/val_blur/*/*.png", 3000),
        ("val/val_sharp/*/", 30),
        ("val/val_sharp/*/*.png", 3000),
    ),
    archives=tuple(
        Archive(f"{part}.zip", f"http://data.cv.snu.ac.kr:8008/webdav/dataset/REDS/{part}.zip")
        for part in ("train_blur", "train_sharp", "val_blur", "val_sharp")
    ),
    source="no copy here",
    notes="No checksums are known: only the layout is checked. Each zip holds train/<part>/ or val/<part>/; the "
    "four are merged into one root.",
)

DATASETS: dict[str, DatasetSpec] = {
    spec.name: spec for spec in (LEVIN, REAL, NIQE, LPIPS, LAI, KODAK24, BSDS500, GOPRO, REDS)
}
