"""The names of the colour conventions metrics are computed on (no torch here: command-line help uses them).

* ``"rgb"``: every channel as it is;
* ``"y"``: the studio-range BT.601 luma of MATLAB's ``rgb2ycbcr`` (BasicSR's "Y"; :func:`deblur_core.color.rgb_to_y`);
* ``"gray"``: MATLAB's ``rgb2gray`` (:func:`deblur_core.color.rgb_to_gray`).

NIQE scores one gray level, so it takes ``"y"`` or ``"gray"`` only. docs/conventions.md says which published
tables each convention reproduces.
"""

from __future__ import annotations

from typing import Literal, get_args

# The types of the options (the parsers list their values), and the same names as tuples.
FullReferenceColor = Literal["rgb", "y", "gray"]
NiqeColor = Literal["y", "gray"]
FULL_REFERENCE_COLORS: tuple[str, ...] = get_args(FullReferenceColor)
NIQE_COLORS: tuple[str, ...] = get_args(NiqeColor)
