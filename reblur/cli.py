"""The ``reblur`` command: ``fit``, ``validate``, ``test``, ``predict`` (LightningCLI, :mod:`reblur.lightning_cli`)
and ``evaluate`` (:mod:`reblur.evaluate`).

Usage::

    reblur fit --config configs/reblur/gopro_unet_reblur_n1.yaml
    reblur fit --config configs/reblur/gopro_unet_reblur_n1.yaml --config configs/trainer/ddp.yaml --trainer.devices 4
    reblur fit --config configs/reblur/gopro_unet_reblur_n1.yaml --config configs/logger/wandb.yaml
    reblur fit --config configs/reblur/demo.yaml --ckpt_path last        # resume a killed run
    reblur test --config configs/reblur/gopro_unet_reblur_n1.yaml --ckpt_path PATH.ckpt
    reblur fit --config configs/reblur/demo.yaml --print_config
    reblur predict --config CONFIG.yaml --ckpt_path PATH.ckpt --data.predict_dir PHOTOS --output_dir OUT
    reblur test --config configs/reblur/demo.yaml --ckpt_path PATH.ckpt --adapt --tta.steps 10 --tta.lr 1e-4
    reblur evaluate --pred DIR [--target DIR] [--metrics psnr,ssim,lpips,niqe]

Exit status: 0 done; 1 the data or the run failed; 2 the options or config files are wrong (one line on stderr
names the option or file; ``--debug`` or ``DEBLUR_DEBUG=1`` shows the traceback); 3 ``predict`` wrote every
readable input and skipped unreadable ones (listed in ``OUT/unreadable.txt``). This module imports neither torch
nor Lightning: ``reblur --help`` answers at once.
"""

from __future__ import annotations

from collections.abc import Sequence

from deblur_core.commands import PaperCommand

COMMAND = PaperCommand(
    program="reblur",
    summary='"Clean Images are Hard to Reblur" (Nah et al., ICLR 2022): train, test and use deblurring networks.',
    subcommands={
        "fit": "train M_D (and M_R) on a DataModule's pairs; checkpoints in <default_root_dir>/checkpoints",
        "validate": "score a checkpoint on the validation split",
        "test": "score a checkpoint on the test split (--adapt: test-time adaptation first)",
        "predict": "deblur the test split or a folder of photos (--data.predict_dir DIR --output_dir OUT)",
        "evaluate": "score folders of results, per image and averaged (PSNR, SSIM, LPIPS, NIQE)",
    },
    evaluate_module="reblur.evaluate",
    lightning_module="reblur.lightning_cli",
    memory_hint=(
        "use smaller training crops or batches (--data.init_args.crop_size, --data.init_args.batch_size), "
        "--trainer.precision bf16-mixed, or a device with more memory"
    ),
    exit_note="Exit status: 1 data or run failed, 2 bad options or config, 3 predict skipped unreadable inputs.",
)


def main(args: Sequence[str] | None = None) -> None:
    """Run the ``reblur`` command with ``args`` (default: ``sys.argv[1:]``)."""
    COMMAND.main(args)


if __name__ == "__main__":
    main()
