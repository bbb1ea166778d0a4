"""The ``selfdeblur`` command: ``fit`` (LightningCLI, :mod:`selfdeblur.lightning_cli`) and ``evaluate``.

Usage::

    selfdeblur fit --config configs/selfdeblur/levin.yaml [--output.dir results/levin]
    selfdeblur fit --data.images photo.jpg --data.kernel_size 31 --model.optimization.steps 2500
    selfdeblur fit --config configs/selfdeblur/levin.yaml --config configs/logger/wandb.yaml
    selfdeblur fit --config configs/selfdeblur/levin.yaml --print_config
    selfdeblur fit --config configs/selfdeblur/levin.yaml --trainer.devices 4   # images shared among 4 GPUs
    selfdeblur evaluate --results results/levin --dataset levin [--delta]        # Levin's protocol, Table 3

``fit`` solves every image of the data source and writes, per image, the deblurred PNG and the
kernel (PNG and .npy) under ``--output.dir`` (default ``results/selfdeblur``), plus ``summary.csv``;
logs and the run's ``config.yaml`` go there too unless ``--trainer.default_root_dir`` is given.
Starting the same command again skips the images that are done.

Errors in the options, the config files or the data print one line and exit with status 2 (options) or 1
(data, run); ``--debug`` (or ``DEBLUR_DEBUG=1``) shows the traceback (:mod:`deblur_core.cli_errors`). This
module imports neither torch nor Lightning: ``selfdeblur --help`` answers at once.
"""

from __future__ import annotations

from collections.abc import Sequence

from deblur_core.commands import PaperCommand

COMMAND = PaperCommand(
    program="selfdeblur",
    summary="SelfDeblur (Ren et al., CVPR 2020).",
    subcommands={
        "fit": "solve every image of the data source (LightningCLI: --config, --print_config, --model.*, --data.*)",
        "evaluate": "score a results folder with Levin et al.'s protocol (Levin, Lai)",
    },
    evaluate_module="selfdeblur.evaluate",
    lightning_module="selfdeblur.lightning_cli",
    memory_hint=(
        "SelfDeblur's memory grows with the image and kernel size: solve a smaller image or a crop, one image per "
        "group (--data.images_per_group 1), or use a device with more memory"
    ),
)


def main(args: Sequence[str] | None = None) -> None:
    """Run the ``selfdeblur`` command with ``args`` (default: ``sys.argv[1:]``)."""
    COMMAND.main(args)


if __name__ == "__main__":
    main()
