"""The reblurring study (benchmarks/reblur_study.py) at tiny sizes: it runs end to end, and a rerun resumes."""

from __future__ import annotations

import json

import pytest
import torch

from benchmarks.reblur_study import METHODS, QUICK, WARMUPS, main
from benchmarks.reblur_study_data import GOPRO_TEST_SEQUENCES, GOPRO_TRAIN_SEQUENCES, gopro_pairs
from tests.helpers import shared_data


@pytest.mark.reference
def test_the_gopro_split_is_the_one_gopro_uses() -> None:
    data = shared_data("gopro_samples").parent
    train, test = gopro_pairs(data, GOPRO_TRAIN_SEQUENCES), gopro_pairs(data, GOPRO_TEST_SEQUENCES)
    assert (len(train), len(test)) == (11, 7)
    assert not {p.name.split("_st_")[0] for p in train} & {p.name.split("_st_")[0] for p in test}


@pytest.mark.reference
@pytest.mark.slow
def test_quick_study_runs_resumes_and_reports(tmp_path, seeded_torch_hub, capsys) -> None:
    data = shared_data("sharp").parent
    out, report = tmp_path / "study", tmp_path / "docs" / "reblur_study"
    args = ["--out", str(out), "--data", str(data), "--quick", "--report", str(report)]
    first = main(args)
    assert set(first["evaluations"]) == {"pretrain", *METHODS}
    # A warm-up trains M_R alone: M_D stays the shared start, bit for bit.
    start = torch.load(out / "pretrain" / "deblur_net.pt", weights_only=True)
    for warmup in WARMUPS.values():
        kept = torch.load(out / warmup / "deblur_net.pt", weights_only=True)
        assert all(torch.equal(start[name], kept[name]) for name in start)
    assert first["training"]["reblur_n2_warm"]["loss"]["reblur_start"] == 0
    assert first["training"]["warmup_n2"]["iterations"] == QUICK.reblur_warmup
    for phase in ("reblur_n1", "reblur_n2"):
        mean = first["evaluations"][phase]["gopro"]["mean"]
        assert {"toward_blurry_deblurred", "toward_blurry_sharp", "move_blurry"} <= set(mean)
        assert first["training_logs"][phase], "the response is logged during training"
    text = report.with_suffix(".md").read_text()
    assert "| L1 + reblur (n2) |" in text and "ratio deblurred/sharp" in text
    lower = first["evaluations"]["vgg"]["kodak"]["lower_than_l1"]
    assert (
        lower["images"] == 1
        and 0 <= lower["lpips"] <= 1
        and first["evaluations"]["l1"]["kodak"]["lower_than_l1"] is None
    )

    # A stopped study continues: the l1 phase lost its end (weights and record) but kept its checkpoint.
    (out / "l1" / "train.json").unlink()
    (out / "l1" / "deblur_net.pt").unlink()
    (out / "l1" / "eval.json").unlink()
    before = json.loads((out / "reblur_n1" / "eval.json").read_text())
    second = main(args)
    assert second["training"]["l1"]["iterations"] == first["training"]["l1"]["iterations"]
    assert json.loads((out / "reblur_n1" / "eval.json").read_text()) == before  # done phases are not redone
    assert f"l1: resuming from {out / 'l1' / 'checkpoints' / 'last.ckpt'}" in capsys.readouterr().err


def test_missing_data_is_one_line_naming_the_folder(tmp_path, capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--out", str(tmp_path / "out"), "--data", str(tmp_path / "nowhere"), "--quick"])
    assert exit_info.value.code == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("benchmarks.reblur_study: error:") and str(tmp_path / "nowhere") in line
