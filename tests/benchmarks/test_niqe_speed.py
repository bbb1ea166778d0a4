"""The NIQE benchmark's ``--reference-python`` plumbing, with a fake interpreter instead of BasicSR."""

from __future__ import annotations

import json
import stat
import sys
import textwrap

import numpy as np
import pytest
from PIL import Image

from benchmarks import niqe_speed as niqe_benchmark

SIZE = ["--height", "96", "--width", "192"]  # two 96x96 NIQE blocks: fast, and the score is defined


def fake_interpreter(tmp_path, reply: dict, exit_code: int = 0):
    """An executable that stands for BasicSR's Python: records its arguments, keeps the PNG, prints ``reply``."""
    script = tmp_path / "fake_python"
    script.write_text(
        f"#!{sys.executable}\n"
        + textwrap.dedent(
            f"""
            import json, shutil, sys
            json.dump(sys.argv[1:], open({str(tmp_path / "argv.json")!r}, "w"))
            shutil.copy(sys.argv[3], {str(tmp_path / "seen.png")!r})
            print("some log line")
            print(json.dumps({reply!r}))
            sys.exit({exit_code})
            """
        )
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


@pytest.fixture
def fixed_timings(monkeypatch):
    """Our timings replaced by 0.5 s (one image) and 2 s (batch of 8): exact ratios, and no timing loops."""
    shapes = []

    def seconds(images, repeats):
        shapes.append(tuple(images.shape))
        return 0.5 if images.shape[0] == 1 else 2.0

    monkeypatch.setattr(niqe_benchmark, "seconds", seconds)
    return shapes


def test_without_reference_keeps_the_keys_and_adds_our_value(capsys, fixed_timings):
    result = niqe_benchmark.main([*SIZE, "--device", "cpu", "--repeats", "1"])
    assert json.loads(capsys.readouterr().out) == result
    for key in ("seconds_one_image", "seconds_batch_of_8", "seconds_per_image_in_batch", "niqe_value"):
        assert key in result
    assert "reference" not in result and "speedup_one_image" not in result
    assert result["benchmark"].endswith("192x96 colour")
    assert fixed_timings == [(1, 3, 96, 192), (8, 3, 96, 192)]
    assert (result["seconds_one_image"], result["seconds_batch_of_8"], result["seconds_per_image_in_batch"]) == (
        0.5,
        2.0,
        0.25,
    )
    assert 0 < result["niqe_value"] < 100


def test_reference_python_ratios_and_frame(tmp_path, fixed_timings):
    reply = {"basicsr_version": "9.9.9", "numpy_version": "1.0", "value": 4.5, "seconds_one_image": 3.0}
    reply.update(seconds_batch=24.0, batch=8, repeats=1)
    fake = fake_interpreter(tmp_path, reply)
    result = niqe_benchmark.main([*SIZE, "--device", "cpu", "--repeats", "1", "--reference-python", str(fake)])

    argv = json.loads((tmp_path / "argv.json").read_text())
    # Isolated mode (-I): the script's neighbours in benchmarks/ cannot shadow the other interpreter's modules.
    assert argv[:2] == ["-I", str(niqe_benchmark.TIMING_SCRIPT)] and niqe_benchmark.TIMING_SCRIPT.is_file()
    assert argv[3:] == ["--repeats", "1", "--batch", "8"]
    seen = np.asarray(Image.open(tmp_path / "seen.png"))
    expected = niqe_benchmark.to_uint8(niqe_benchmark.natural_frame(96, 192)).numpy()
    assert seen.dtype == np.uint8 and np.array_equal(seen, expected)  # the PNG holds the frame we scored

    ref = result["reference"]
    assert (ref["basicsr"], ref["value"], ref["seconds_one_image"], ref["seconds_batch_of_8"]) == ("9.9.9", 4.5, 3, 24)
    assert (result["speedup_one_image"], result["speedup_batch_of_8"]) == (6.0, 12.0)  # 3 / 0.5 and 24 / 2
    assert result["value_difference"] == pytest.approx(result["niqe_value"] - 4.5, abs=1e-5)


def test_reference_failure_is_reported(tmp_path):
    fake = fake_interpreter(tmp_path, {}, exit_code=3)
    with pytest.raises(RuntimeError, match=r"failed \(3\)"):
        niqe_benchmark.reference_timing(str(fake), niqe_benchmark.to_uint8(niqe_benchmark.natural_frame(8, 8)), 1)
