"""Pieces both papers use: image files, colour conversions, the blur operator, SSIM maps, synthetic motion
blur, image logging, command-line error reporting and the data sets' locations.

Neither :mod:`selfdeblur` nor :mod:`reblur` owns this package, and this package imports neither of them.

* :mod:`deblur_core.image_io`: reading and writing images (``(C, H, W)`` float32 in [0, 1]);
* :mod:`deblur_core.files`: atomic file writes;
* :mod:`deblur_core.color`: RGB/YCbCr and the luma conventions of evaluation (``rgb``, ``y``, ``gray``);
* :mod:`deblur_core.blur`: the 'valid' blur operator and the kernel orientation convention;
* :mod:`deblur_core.ssim`: the SSIM map every SSIM of the project is built on;
* :mod:`deblur_core.motion_blur`: seeded random camera-shake kernels and blurred images;
* :mod:`deblur_core.crop`, :mod:`deblur_core.sample_images`: centre crops, scikit-image's sample photos;
* :mod:`deblur_core.image_logging`: images to Lightning loggers;
* :mod:`deblur_core.conventions`: the names of the evaluation conventions (importable without torch);
* :mod:`deblur_core.cli_errors`, :mod:`deblur_core.config_files`, :mod:`deblur_core.commands`,
  :mod:`deblur_core.lightning_cli`: the command lines' one-line errors, YAML checks, shell and LightningCLI base;
* :mod:`deblur_core.datasets`: where each data set comes from, its layout and checksums (``deblur-datasets``).
"""
