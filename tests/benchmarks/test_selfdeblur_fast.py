"""benchmarks/selfdeblur_fast.py: the cases it makes, resuming from its JSON lines, and its table."""

from __future__ import annotations

import json

import pytest
import torch

from benchmarks.selfdeblur_fast import KERNELS_PNG, cases, done_names, kernel_montage, main, report, sharp_photo


def test_cases_cover_every_noise_and_seed_and_are_named_for_resuming(tmp_path):
    args = __import__("argparse").Namespace(
        size="720x1280",
        sharp=None,
        images=1,
        height=0,
        width=0,
        kernel_size=31,
        kernel_seeds=[0, 1],
        init_seeds=[0],
        noise=[0.005, 0.02],
        steps=1000,
        max_kernel_size=11,
        crop=160,
        smoothness=0.002,
        tv_weight="auto",
        coarse_kernel_sizes=[],
        window="edges",
        draws=1,
        choose="consensus",
    )
    made = cases(args)
    assert [c["name"] for c in made] == [
        f"astronaut_720x1280_k31_seed{s}_noise{n}_tvauto_mk11_crop160_we0.002"
        for n in ("0.005", "0.02")
        for s in (0, 1)
    ]
    assert {(c["height"], c["width"], c["tv_weight"]) for c in made} == {(720, 1280, "auto")}
    assert made[0]["fast"] == {"max_kernel_size": 11, "crop": 160, "smoothness": 0.002}
    # The solve's image is named after the problem, so that every setting of it starts from the same draw.
    assert [(c["problem"], c["init_seed"]) for c in made[:2]] == [
        ("astronaut_720x1280_k31_seed0_noise0.005", 0),
        ("astronaut_720x1280_k31_seed1_noise0.005", 0),
    ]
    # Coarse to fine and the window choice are named too, and reach the fast mode's options.
    args.coarse_kernel_sizes, args.window, args.max_kernel_size = [11], "coherent_edges", 21
    c2f = cases(args)[0]
    assert c2f["name"] == "astronaut_720x1280_k31_seed0_noise0.005_tvauto_mk21_crop160_we0.002_c2f11_coherent_edges"
    assert c2f["fast"] == {
        "max_kernel_size": 21,
        "crop": 160,
        "smoothness": 0.002,
        "coarse_kernel_sizes": [11],
        "window": "coherent_edges",
    }
    assert c2f["problem"] == made[0]["problem"]
    args.smoothness, args.init_seeds = "auto", [0, 3]  # the noise-adaptive weight; two initialisations
    adaptive = cases(args)[:2]
    assert adaptive[0]["name"].endswith("_mk21_crop160_weauto_c2f11_coherent_edges")
    assert adaptive[1]["name"] == adaptive[0]["name"] + "_init3" and adaptive[1]["init_seed"] == 3
    args.draws, args.choose = 3, "spread"  # several draws of the reduced problem, one kept
    drawn = cases(args)[0]
    assert drawn["name"] == adaptive[0]["name"] + "_draws3spread" and drawn["problem"] == made[0]["problem"]
    assert drawn["fast"]["draws"] == 3 and drawn["fast"]["choose"] == "spread"
    assert adaptive[0]["fast"]["smoothness"] == "auto"
    lines = tmp_path / "out.jsonl"
    lines.write_text(json.dumps({"name": made[0]["name"]}) + "\n")
    assert done_names(lines) == {made[0]["name"]}


def test_the_photo_covers_the_size_asked_for():
    photo = sharp_photo("astronaut", 100, 300)  # astronaut is 512x512: cropped across, kept whole down
    assert photo.shape == (3, 100, 300) and float(photo.min()) >= 0 and float(photo.max()) <= 1


LINE = {
    "name": "x",
    "width": 1280,
    "height": 720,
    "kernel_size": 31,
    "noise": 0.01,
    "tv_weight": 0.0,
    "fast": {"max_kernel_size": 17, "crop": 160, "smoothness": 0.002},
    "seconds": 600.4,
    "deconvolution_seconds": 90.2,
    "peak_rss_mb": 2195,
    "blurry": {"psnr": 23.0, "ssim": 0.78},
    "fast_mode": {"psnr": 28.5, "ssim": 0.87},
    "true_kernel": {"psnr": 37.8, "ssim": 0.95},
    "kernel_similarity": 0.56,
    "cpu": "AMD EPYC",
    "threads": 2,
    "torch": "2.14.1",
    "code": "abc",
}


def test_the_table_shows_the_gain_over_the_blurry_image(tmp_path):
    line = dict(LINE)
    table = report([line], "cmd")
    assert "| x | 1280x720 | 31 | 0.01 | <= 17 | 0.0 | 600 (90) | 2195 | 23.00 / 0.7800 | 28.50 / 0.8700 | " in table
    assert "| +5.50 | 37% | 0.560 |" in table  # 5.5 of the 14.8 dB the true kernel gains
    assert "Kernels" not in table  # no line stored its kernel
    staged = report([line | {"fast": line["fast"] | {"coarse_kernel_sizes": [11]}}], "cmd")
    assert "| 0.01 | <= 11 then 17 | 0.0 |" in staged
    source = tmp_path / "a.jsonl"
    source.write_text(json.dumps(line) + "\n")
    main(["--report", str(tmp_path / "r.md"), "--from", str(source)])
    assert json.loads((tmp_path / "r.json").read_text())[0]["name"] == "x"
    with pytest.raises(FileExistsError):
        main(["--report", str(tmp_path / "r.md"), "--from", str(source)])
    assert "Machine: " in (tmp_path / "r.md").read_text()
    two = report([line, line | {"cpu": "Other CPU", "threads": 4}], "cmd")
    assert (
        f"Machines of the rows: {line['cpu']}, {line['threads']} threads; torch {line['torch']} / Other CPU, 4 threads;"
        in two
    )
    # The report's own .json is a source too: the table is made again from it alone, byte for byte.
    main(["--report", str(tmp_path / "again.md"), "--from", str(tmp_path / "r.json")])
    assert (tmp_path / "again.json").read_text() == (tmp_path / "r.json").read_text()
    assert (tmp_path / "again.md").read_text().split("\n")[3:] == (tmp_path / "r.md").read_text().split("\n")[3:]


def test_the_kernel_picture_puts_each_estimate_beside_the_true_kernel(tmp_path):
    from deblur_core import motion_blur

    true = motion_blur.random_motion_kernel(7, seed=3).reshape(7, 7)
    estimate = torch.zeros(7, 7)
    estimate[3, 1:6] = 0.2
    line = {"name": "x", "kernel_size": 7, "kernel_seed": 3, "kernel": estimate.tolist()}
    montage = kernel_montage(
        [line, line | {"name": "y", "kernel_size": 5, "kernel": estimate[1:6, 1:6].tolist()}], zoom=1
    )
    # two rows of two tiles, each kernel padded by 2 px of grey; the second row's 5x5 kernels centred in 7x7
    assert montage.shape == (1, 2 * 11, 2 * 11)
    torch.testing.assert_close(montage[0, 2:9, 2:9], (true / true.max()).float())
    torch.testing.assert_close(montage[0, 2:9, 13:20], (estimate / 0.2).float())
    assert float(montage[0, 0, 0]) == pytest.approx(0.3)
    assert float(montage[0, 11 + 2 + 3, 13 + 2 + 1]) == 1.0  # row y's 5 px line, centred where row x's is
    assert kernel_montage([{"name": "old line without a kernel"}]) is None
    assert "Kernels, true (left) and estimated (right)" in report([LINE | line], "cmd")
    source = tmp_path / "a.jsonl"
    source.write_text(json.dumps(LINE | line) + "\n")
    main(["--report", str(tmp_path / "r.md"), "--from", str(source)])
    assert (tmp_path / KERNELS_PNG).is_file()


def test_settings_of_one_problem_start_from_the_same_draw(tmp_path, monkeypatch):
    import benchmarks.selfdeblur_fast as bench
    from deblur_core.image_io import save_image

    g = torch.Generator().manual_seed(0)
    save_image(tmp_path / "p.png", torch.rand(3, 7, 7, generator=g).repeat_interleave(8, 1).repeat_interleave(8, 2))
    monkeypatch.setattr(bench, "MILESTONES", (1,))
    monkeypatch.setattr(bench, "MSE_STEPS", 1)
    case = {
        "name": "p_k5_seed0_noise0.01",
        "problem": "p_k5_seed0_noise0.01",
        "init_seed": 0,
        "sharp": str(tmp_path / "p.png"),
        "height": 48,
        "width": 48,
        "kernel_size": 5,
        "kernel_seed": 0,
        "noise": 0.01,
        "steps": 2,
        "fast": {"max_kernel_size": None, "crop": 36, "smoothness": 0.002, "cg_iterations": 2},
        "tv_weight": 0.0,
    }
    first = bench.run_case(case)
    renamed = bench.run_case(case | {"name": "p_k5_seed0_noise0.01_another_setting"})
    redrawn = bench.run_case(case | {"init_seed": 1})
    assert renamed["kernel"] == first["kernel"]  # the row's name does not change the draw ...
    assert redrawn["kernel"] != first["kernel"]  # ... the initialisation seed does
