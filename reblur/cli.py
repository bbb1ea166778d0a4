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

import sys
from collections.abc import Sequence

from deblur_core.cli_errors import DEBUG_ENV, USAGE_STATUS, run_command
from deblur_core.config_files import check_config_files

PROGRAM = "reblur"
SUBCOMMANDS = {
    "fit": "train M_D (and M_R) on a DataModule's pairs; checkpoints in <default_root_dir>/checkpoints",
    "validate": "score a checkpoint on the validation split",
    "test": "score a checkpoint on the test split (--adapt: test-time adaptation first)",
    "predict": "deblur the test split or a folder of photos (--data.predict_dir DIR --output_dir OUT)",
    "evaluate": "score folders of results, per image and averaged (PSNR, SSIM, LPIPS, NIQE)",
}
MEMORY_HINT = (
    "use smaller training crops or batches (--data.init_args.crop_size, --data.init_args.batch_size), "
    "--trainer.precision bf16-mixed, or a device with more memory"
)


def help_text() -> str:
    lines = [f"usage: {PROGRAM} {{{','.join(SUBCOMMANDS)}}} [options]", ""]
    lines += ['"Clean Images are Hard to Reblur" (Nah et al., ICLR 2022): train, test and use deblurring networks.', ""]
    lines += ["subcommands:"] + [f"  {name:<10} {text}" for name, text in SUBCOMMANDS.items()]
    lines += [
        "",
        f"`{PROGRAM} SUBCOMMAND --help` lists a subcommand's options. --debug (or {DEBUG_ENV}=1) shows the",
        "traceback of an error instead of its one-line message. Exit status: 1 data or run failed, 2 bad options",
        "or config, 3 predict skipped unreadable inputs.",
    ]
    return "\n".join(lines)


def _dispatch(args: list[str]) -> None:
    if not args or args[0] in ("-h", "--help"):
        print(help_text(), file=sys.stdout if args else sys.stderr)
        raise SystemExit(0 if args else USAGE_STATUS)
    if args[0] == "evaluate":
        from reblur.evaluate import main as evaluate

        evaluate(args[1:])
        return
    check_config_files(args)
    from reblur.lightning_cli import run

    run(args)


def main(args: Sequence[str] | None = None) -> None:
    """Run the ``reblur`` command with ``args`` (default: ``sys.argv[1:]``)."""
    run_command(PROGRAM, args, _dispatch, MEMORY_HINT)


if __name__ == "__main__":
    main()
