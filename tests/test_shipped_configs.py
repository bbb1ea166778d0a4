"""Every shipped config keeps its meaning across the option regrouping of issue 14.

``fixtures/shipped_configs_before_v2.json`` holds, for each shipped config, the values ``--print_config``
resolved before the flat ``model`` options became groups (and before ``reblur.models`` became
``reblur.networks``, the Levin/real images moved into the repository, and ``y_channel`` became ``color``).
Each old key is mapped to its new place here; every value must be the same.
"""

from __future__ import annotations

import contextlib
import io
import json
from typing import Any

import pytest
import yaml

from reblur.cli import main as reblur_main
from selfdeblur.cli import main as selfdeblur_main
from tests.helpers import REPO

BEFORE = json.loads((REPO / "tests" / "fixtures" / "shipped_configs_before_v2.json").read_text())

SELFDEBLUR_GROUPS = {
    "optimization": ("steps", "lr_image", "lr_kernel", "milestones", "gamma", "mse_steps"),
    "generators": (
        "input_channels",
        "input_noise_std",
        "image_channels",
        "skip_channels",
        "non_local_scales",
        "kernel_generator",
        "kernel_hidden",
    ),
    "compute": ("stack_problems", "memory_format", "blur_method", "float32_precision"),
}
SELFDEBLUR_RENAMED = {"optimization": "optimization.mode", "tv_weight": "tv.weight", "tv_norm": "tv.norm"}
SELFDEBLUR_RENAMED |= {"tv_gain": "tv.gain", "noise_sigma": "tv.noise_sigma", "seed": "seed"}
for group, names in SELFDEBLUR_GROUPS.items():
    SELFDEBLUR_RENAMED |= {name: f"{group}.{name}" for name in names}

REBLUR_RENAMED = {
    "reblur_weight": "loss.reblur_weight",
    "pseudo_sharp": "loss.pseudo_sharp",
    "perceptual_weight": "loss.perceptual_weight",
    "perceptual_arch": "loss.perceptual_arch",
    "perceptual_layer": "loss.perceptual_layer",
    "metrics": "evaluation.metrics",
    "crop_border": "evaluation.crop_border",
    "y_channel": "evaluation.color",
}
for net in ("deblur", "reblur"):
    REBLUR_RENAMED |= {f"{net}_optimizer": f"{net}_updates.optimizer", f"{net}_scheduler": f"{net}_updates.scheduler"}
    REBLUR_RENAMED |= {f"{net}_steps": f"{net}_updates.steps", f"{net}_grad_clip": f"{net}_updates.grad_clip"}


def is_selfdeblur(command: str) -> bool:
    """Commands are the arguments after the program's name, e.g. ``fit --config configs/selfdeblur/levin.yaml``."""
    return "configs/selfdeblur/" in command


def new_key(command: str, key: str) -> str:
    if not key.startswith("model."):
        return key
    head, _, rest = key.removeprefix("model.").partition(".")
    renamed = (SELFDEBLUR_RENAMED if is_selfdeblur(command) else REBLUR_RENAMED).get(head, head)
    return ".".join(part for part in ("model", renamed, rest) if part)


# Defaults changed on purpose after the regrouping: key -> the value it resolves to now.
CHANGED_ON_PURPOSE = {
    "data.init_args.verify": True,  # issue 15: data sets decode every file once at setup by default
}
# Per config (old key -> new value): issue 16 solves real.yaml's photos in the fast mode, on a compressed schedule,
# with the noise-adaptive TV weight.
CHANGED_IN_CONFIG = {
    "configs/selfdeblur/real.yaml": {
        "model.steps": 1000,
        "model.milestones": [500, 650, 850],
        "model.mse_steps": 250,
        "model.tv_weight": "auto",
    },
}
# Configs added after the regrouping, with no "before" to compare with.
NEW_CONFIGS = {"configs/selfdeblur/lai_fast.yaml", "configs/selfdeblur/lai_fast_c2f.yaml"}


def new_value(key: str, value: Any, command: str = "") -> Any:
    for config, changes in CHANGED_IN_CONFIG.items():
        if config in command.split() and key in changes:
            return changes[key]
    if key in CHANGED_ON_PURPOSE:
        return CHANGED_ON_PURPOSE[key]
    if key == "model.y_channel":
        return "y" if value else "rgb"
    if isinstance(value, str):
        return value.replace("reblur.models.", "reblur.networks.").replace("../shared/data/", "data/")
    return value


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat |= flatten(value, f"{prefix}{key}.")
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def resolved(command: str) -> dict[str, Any]:
    main = selfdeblur_main if is_selfdeblur(command) else reblur_main
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as exit_info:
        main([*command.split(), "--print_config"])
    assert exit_info.value.code in (0, None)
    return flatten(yaml.safe_load(out.getvalue()))


@pytest.mark.parametrize("command", sorted(BEFORE), ids=lambda c: c.split("--config ")[-1])
def test_shipped_config_keeps_its_meaning(command, monkeypatch):
    monkeypatch.chdir(REPO)
    now = resolved(command)
    differences = {
        key: (new_value(key, value, command), now.get(new_key(command, key), "<missing>"))
        for key, value in BEFORE[command].items()
        if now.get(new_key(command, key), "<missing>") != new_value(key, value, command)
    }
    assert not differences, differences


def test_every_shipped_config_is_covered():
    configs = {arg for command in BEFORE for arg in command.split() if arg.startswith("configs/")}
    shipped = {str(p.relative_to(REPO)) for p in (REPO / "configs").rglob("*.yaml")}
    shipped -= {"configs/logger/wandb.yaml", "configs/trainer/ddp.yaml"}  # trainer/logger additions only
    shipped -= NEW_CONFIGS
    assert shipped == configs


@pytest.mark.parametrize("config", sorted(NEW_CONFIGS))
def test_new_configs_resolve(config, monkeypatch):
    monkeypatch.chdir(REPO)
    now = resolved(f"fit --config {config}")
    assert now["model.fast.enabled"] is True
    if config.endswith("_c2f.yaml"):
        assert (now["model.fast.coarse_kernel_sizes"], now["model.fast.max_kernel_size"]) == ([11], 21)
