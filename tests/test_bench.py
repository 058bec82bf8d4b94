"""The benchmark suite's bookkeeping: ratios, record choice, README table, machine name.

The timings themselves need an idle machine and PyTorch (``make bench``); the script's own
machinery is run here on small tensors (``--quick``), TensorFlow only.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from glandseg import hardware

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

import bench  # noqa: E402
import epoch_time  # noqa: E402
import readme_table  # noqa: E402


def _result(framework, variant, train, infer):
    return {"framework": framework, "variant": variant,
            "train": {b: {"median": v} for b, v in train.items()},
            "infer": {b: {"median": v} for b, v in infer.items()}}


RESULTS = [
    _result("glandseg/keras-tensorflow", "plain", {"4": 10.0, "8": 12.0}, {"1": 2.0, "4": 2.4}),
    _result("glandseg/keras-tensorflow", "xla", {"4": 9.0, "8": 13.0}, {"1": 1.5, "4": 2.0}),
    _result("glandseg/keras-jax", "plain", {"4": 8.0, "8": 9.0}, {"1": 2.2, "4": 2.1}),
    _result("smp/torch", "plain", {"4": 8.0, "8": 10.0}, {"1": 2.5, "4": 2.0}),
    _result("smp/torch", "channels_last", {"4": 9.5, "8": 10.4}, {"1": 2.0, "4": 2.2}),
    {"framework": "glandseg pipeline", "variant": "plain", "batches_crops_per_s": {"median": 500.0}, "data": "glas",
     "crop": "416x288"},
]


def test_ratios_compare_each_side_at_its_best_setting():
    r = bench.ratios(RESULTS)
    # batch 4: ours best 10 (TF plain) / smp best 9.5 (channels-last); batch 8: 13 (XLA) / 10.4
    assert r["train_detail"]["4"]["ratio"] == pytest.approx(10 / 9.5)
    assert r["train_detail"]["8"]["ratio"] == pytest.approx(13 / 10.4)
    assert r["train_detail"]["8"]["ours_setting"] == "glandseg/keras-tensorflow xla"
    assert r["train_ratio_vs_smp"] == pytest.approx(min(10 / 9.5, 13 / 10.4))
    # inference batch 1: 2.2 (JAX) / 2.5 (smp plain) < 1: the smaller ratio is reported
    assert r["infer_ratio_vs_smp"] == pytest.approx(min(2.2 / 2.5, 2.4 / 2.2))


def test_ratios_without_the_peer_are_none():
    r = bench.ratios(RESULTS[:3])
    assert r["train_ratio_vs_smp"] is None and r["infer_ratio_vs_smp"] is None and r["train_detail"] == {}


def test_readme_table_renders_a_record_and_not_run_yet(tmp_path):
    assert "not run yet" in readme_table.render(None)
    record = {"results": RESULTS, "settings": {"threads": 2, "precision": "float32", "train_crop": "416x288",
                                               "infer_size": "832x576", "repeats": 5},
              "machine": {"cpu_model": "AMD EPYC", "cpu_count": 2}, "git_commit": "abcdef1234567",
              **bench.ratios(RESULTS)}
    text = readme_table.render(record, "2026-11-26-amd-epyc-2cpu.json")
    assert "| glandseg, Keras tensorflow (xla) | 9.00 | 13.00 | 1.50 | 2.00 |" in text
    assert "| smp Linknet, PyTorch (channels-last) | 9.50 | 10.40 | 2.00 | 2.20 |" in text
    assert f"training **{min(10 / 9.5, 13 / 10.4):.2f}x**" in text and "inference **0.88x**" in text
    assert "500 crops/s of 416x288" in text
    # the newest full record is chosen; quick runs and the metrics record are not
    (tmp_path / "2026-11-25-amd-epyc-2cpu.json").write_text(json.dumps(record))
    (tmp_path / "2026-11-27-amd-epyc-2cpu-quick.json").write_text(json.dumps({**record, "quick": True}))
    (tmp_path / "metrics-2026-11-28.json").write_text("{}")
    assert readme_table.latest_record(tmp_path).name == "2026-11-25-amd-epyc-2cpu.json"
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n{readme_table.START}\nold\n{readme_table.END}\ntail\n")
    new = readme_table.update(readme, tmp_path)
    assert new.startswith("# x\n<!-- bench:start -->\nMeasured by") and new.endswith("<!-- bench:end -->\ntail\n")


def test_readme_performance_table_is_generated_from_the_newest_record():
    assert subprocess.run([sys.executable, str(REPO / "benchmarks" / "readme_table.py"), "--check"]).returncode == 0


def test_machine_name_is_a_file_name_slug(monkeypatch):
    monkeypatch.setattr(bench, "_cpu_model", lambda: "AMD EPYC 9454 48-Core Processor")
    monkeypatch.setattr(bench.os, "cpu_count", lambda: 2)
    assert bench.machine_name() == "amd-epyc-9454-2cpu"
    monkeypatch.setattr(bench, "_cpu_model", lambda: "Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz")
    assert bench.machine_name() == "intel-xeon-platinum-2cpu"


def test_quick_scale_keeps_sizes_divisible_by_32():
    for size in (bench.TRAIN_CROP, bench.INFER_SIZE):
        w, h = bench._scale(size, True)
        assert w % 32 == 0 and h % 32 == 0 and w >= h
        assert bench._scale(size, False) == size


@pytest.mark.slow
def test_bench_script_runs_end_to_end_on_small_tensors(tmp_path):
    out = tmp_path / "record.json"
    proc = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "bench.py"), "--quick", "--only", "tensorflow", "pipeline",
         "--repeats", "1", "--calls", "1", "--warmup", "1", "--cache", str(tmp_path / "cache"), "--out", str(out)],
        capture_output=True, text=True, timeout=900, cwd=REPO,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    record = json.loads(out.read_text())
    assert record["quick"] is True and record["train_ratio_vs_smp"] is None  # no peer measured
    cpu = hardware.cpu_info()
    assert record["machine"]["cpu"]["flags"] == cpu["flags"] and record["machine"]["cpu"]["family"] == cpu["family"]
    keras_rows = [r for r in record["results"] if r["framework"] == "glandseg/keras-tensorflow"]
    # precision explicit per variant: bfloat16 only where this CPU computes it natively
    assert [r["variant"] for r in keras_rows] == bench.keras_variants("tensorflow", "cpu", cpu)
    assert [r["dtype_policy_used"] for r in keras_rows] == [
        "mixed_bfloat16" if v.startswith("bfloat16") else "float32" for v in bench.keras_variants("tensorflow", "cpu", cpu)]
    assert [r["jit_compile"] for r in keras_rows] == [v.endswith("-xla") for v in bench.keras_variants("tensorflow", "cpu", cpu)]
    # TF at the frameworks' default of one inter-op thread per compute thread
    assert [r["threads"]["env_inter_op"] for r in keras_rows] == [str(os.cpu_count())] * len(keras_rows)
    # the matmul peak and the FLOPs per item, counted from the layers at the (quick) sizes
    peak = record["peak_gflops"]
    assert peak["float32"] > 0 and (peak["bfloat16"] > 0 if cpu["native_bfloat16"] else peak["bfloat16"] is None)
    flops = record["flops"]["per_item"]["glandseg"]
    w, h = bench._scale(bench.TRAIN_CROP, True)
    assert flops["train"] == 3 * record["flops"]["glandseg"]["train_crop"]["forward_flops"]
    assert record["flops"]["glandseg"]["train_crop"]["size"] == f"{w}x{h}" == record["settings"]["train_crop"]
    for r in keras_rows:
        assert "error" not in r, r
        assert set(r["train"]) == {"4", "8"} and set(r["infer"]) == {"1", "4"}
        assert all(v["median"] > 0 for part in ("train", "infer") for v in r[part].values())
        for part in ("train", "infer"):
            for v in r[part].values():
                assert v["gflops"] == pytest.approx(v["median"] * flops[part] / 1e9)
                assert v["fraction_of_peak"] == pytest.approx(v["gflops"] / peak[r["precision"]])
    pipeline = next(r for r in record["results"] if r["framework"] == "glandseg pipeline")
    assert pipeline["batches_crops_per_s"]["median"] > 0
    assert "GFLOP/s (% of peak)" in "\n".join(readme_table._table(record))


def test_cpu_and_gpu_records_are_chosen_separately(tmp_path):
    record = {"results": RESULTS, "settings": {"threads": 2, "precision": "float32", "train_crop": "416x288",
                                               "infer_size": "832x576", "repeats": 5},
              "machine": {"cpu_model": "AMD EPYC", "cpu_count": 2}, "git_commit": "abc", **bench.ratios(RESULTS)}
    gpu = {**record, "settings": {**record["settings"], "device": "cuda"},
           "machine": {"cpu_model": "Xeon", "cpu_count": 16, "accelerator": "NVIDIA H200"}}
    (tmp_path / "2026-11-26-amd-epyc-2cpu.json").write_text(json.dumps(record))  # no "device": a CPU record
    (tmp_path / "2026-11-26-nvidia-h200.json").write_text(json.dumps(gpu))  # sorts after the CPU record
    assert readme_table.latest_record(tmp_path).name == "2026-11-26-amd-epyc-2cpu.json"
    assert readme_table.latest_record(tmp_path, on="cuda").name == "2026-11-26-nvidia-h200.json"
    assert readme_table.latest_epoch_record(tmp_path) is None
    epoch = {"settings": [{"precision": "float32", "loader_threads": 1, "steps_per_epoch": 520, "first_epoch_s": 30.0,
                           "steady_epoch_s": 15.0, "estimated_training_h": (30 + 99 * 15) / 3600}],
             "machine": {"accelerator": "NVIDIA H200", "cpu_model": "Xeon"}, "versions": {"backend": "jax"},
             "epochs_measured": 3, "preset_epochs": 100, "data": "synthetic"}
    (tmp_path / "2026-11-26-nvidia-h200-epoch-paper.json").write_text(json.dumps(epoch))
    assert readme_table.latest_epoch_record(tmp_path).name == "2026-11-26-nvidia-h200-epoch-paper.json"
    text = readme_table.render(record, "cpu.json", gpu=gpu, gpu_name="gpu.json", epoch=epoch, epoch_name="e.json",
                               crops_per_epoch=4160)
    assert "On a lent GPU, NVIDIA H200 (16 CPU cores)" in text and "record `benchmarks/results/gpu.json`" in text
    assert "| float32 | 1 | 30.0 | 15.0 | 0.42 |" in text  # (30 + 99 x 15) s = 0.421 h
    # the best glandseg batch-8 rate of the CPU record is 13 crops/s (XLA): 100 x 4160 / 13 s = 8.9 h
    assert "about **9 h** on this CPU" in text


def test_paper_epoch_has_the_papers_crop_count():
    from glandseg.config import ExperimentConfig

    val = ExperimentConfig.paper().train.val_images
    assert readme_table.paper_crops_per_epoch() == (85 - val) * 13 * 4


def test_paper_hours_use_the_best_glandseg_rate_at_batch_8():
    assert readme_table.paper_hours_from_rate({"results": RESULTS}, 3600, epochs=10) == pytest.approx(10 * 3600 / 13 / 3600)
    assert readme_table.paper_hours_from_rate({"results": RESULTS[3:]}, 3600) is None  # smp only


def test_gpu_machine_name_comes_from_the_gpu():
    assert bench.machine_name("NVIDIA H200") == "nvidia-h200"
    assert epoch_time.machine_slug("NVIDIA H100 80GB HBM3") == "nvidia-h100-80gb"


def test_epoch_time_settings_and_summary():
    assert epoch_time.parse_setting("float32") == {"precision": "float32", "loader_threads": 1}
    assert epoch_time.parse_setting("mixed_bfloat16:8") == {"precision": "mixed_bfloat16", "loader_threads": 8}
    for bad in ("float64:1", "float32:0", "float32:x"):
        with pytest.raises(Exception, match="precision|threads"):
            epoch_time.parse_setting(bad)
    s = epoch_time.summarize([40.0, 10.0, 12.0, 11.0], preset_epochs=100)
    assert s["first_epoch_s"] == 40.0 and s["steady_epoch_s"] == 11.0  # median of the epochs after the first
    assert s["estimated_training_s"] == pytest.approx(40 + 99 * 11)
    assert epoch_time.summarize([7.0], 3)["estimated_training_s"] == pytest.approx(21.0)
    with pytest.raises(ValueError, match="no epoch"):
        epoch_time.summarize([], 3)


@pytest.mark.slow
def test_epoch_time_script_times_real_epochs(tmp_path):
    out = tmp_path / "epoch.json"
    proc = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "epoch_time.py"), "--preset", "smoke", "--epochs", "2", "--synthetic",
         "--synthetic-images", "6", "--settings", "float32:1", "float32:2", "--out", str(out)],
        capture_output=True, text=True, timeout=900, cwd=REPO, env={**os.environ, "KERAS_BACKEND": "tensorflow"},
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    record = json.loads(out.read_text())
    assert record["data"] == "synthetic" and record["preset"] == "smoke" and record["epochs_measured"] == 2
    for entry in record["settings"]:
        assert len(entry["epoch_seconds"]) == 2 and all(t > 0 for t in entry["epoch_seconds"])
        assert entry["steady_epoch_s"] == entry["epoch_seconds"][1]
        assert entry["estimated_training_s"] == pytest.approx(
            entry["epoch_seconds"][0] + (record["preset_epochs"] - 1) * entry["epoch_seconds"][1])
    # the loss curve does not depend on the loader's thread count
    one, two = record["settings"]
    assert one["val_loss"] == pytest.approx(two["val_loss"], rel=1e-5)


def test_a_second_record_of_the_day_does_not_overwrite_the_first(tmp_path):
    path = tmp_path / "2026-11-26-amd-epyc-2cpu.json"
    assert bench.unused_path(path) == path
    path.write_text("{}")
    assert bench.unused_path(path).name == "2026-11-26-amd-epyc-2cpu-2.json"
    (tmp_path / "2026-11-26-amd-epyc-2cpu-2.json").write_text("{}")
    assert bench.unused_path(path).name == "2026-11-26-amd-epyc-2cpu-3.json"


def test_newest_record_is_the_latest_started_and_previous_is_the_one_before(tmp_path):
    base = {"results": RESULTS, "train_ratio_vs_smp": 1.0, "settings": {}}
    # names sort the other way round from the start times
    (tmp_path / "2026-11-26-amd-epyc-2cpu.json").write_text(json.dumps({**base, "started_utc": "2026-11-26T05:00:00+00:00"}))
    (tmp_path / "2026-11-26-amd-epyc-2cpu-2.json").write_text(json.dumps({**base, "started_utc": "2026-11-26T02:00:00+00:00"}))
    newest = readme_table.latest_record(tmp_path)
    assert newest.name == "2026-11-26-amd-epyc-2cpu.json"
    assert readme_table.latest_record(tmp_path, before=newest).name == "2026-11-26-amd-epyc-2cpu-2.json"
    assert readme_table.latest_record(tmp_path, before=tmp_path / "2026-11-26-amd-epyc-2cpu-2.json") is None
    # a newer record of another CPU has no previous record: run-to-run spread is only read on one machine
    other = {**base, "started_utc": "2026-12-05T02:00:00+00:00",
             "machine": {"cpu_model": "Intel(R) Xeon(R) Processor", "cpu_count": 2, "accelerator": None}}
    (tmp_path / "2026-12-05-intel-xeon-2cpu.json").write_text(json.dumps(other))
    assert readme_table.latest_record(tmp_path).name == "2026-12-05-intel-xeon-2cpu.json"
    assert readme_table.latest_record(tmp_path, before=tmp_path / "2026-12-05-intel-xeon-2cpu.json") is None


def test_peer_spread_is_the_largest_relative_change_of_smp_figures():
    faster = [dict(r, train={b: {"median": v["median"] * (1.25 if b == "8" else 1.0)} for b, v in r["train"].items()})
              if r["framework"].startswith("smp/") else r for r in RESULTS]
    assert readme_table.peer_spread({"results": faster}, {"results": RESULTS}) == pytest.approx(0.25)
    assert readme_table.peer_spread({"results": RESULTS}, None) is None


AVX2_ONLY = {"model": "AMD EPYC 7B13", "family": 25, "model_number": 1, "flags": ["avx2", "fma"], "native_bfloat16": False}
BF16 = {"model": "AMD EPYC 9B14", "family": 25, "model_number": 17, "flags": ["avx2", "fma", "avx512f", "avx512_bf16"],
        "native_bfloat16": True}


def test_variants_make_precision_explicit_and_bfloat16_only_where_native():
    assert bench.keras_variants("tensorflow", "cpu", AVX2_ONLY) == ["float32", "float32-xla"]
    assert bench.keras_variants("tensorflow", "cpu", BF16) == ["float32", "float32-xla", "bfloat16", "bfloat16-xla"]
    # XLA's CPU backend does not use the bfloat16 units; on a GPU it does
    assert bench.keras_variants("jax", "cpu", BF16) == ["float32"]
    assert bench.keras_variants("jax", "cuda", AVX2_ONLY) == ["float32", "bfloat16"]
    assert bench.smp_variants("cpu", AVX2_ONLY) == ["plain", "channels_last", "channels_last-compile"]
    assert bench.smp_variants("cpu", BF16) == ["plain", "channels_last", "channels_last-bf16", "channels_last-compile",
                                              "channels_last-bf16-compile"]
    assert bench.smp_variants("cuda", AVX2_ONLY) == bench.smp_variants("cpu", BF16)
    precisions = {v: bench.variant_precision(v) for v in ("float32", "float32-xla", "bfloat16", "bfloat16-xla", "plain",
                                                          "channels_last-bf16", "channels_last-bf16-compile",
                                                          "channels_last-compile")}
    assert [v for v, p in precisions.items() if p == "bfloat16"] == [
        "bfloat16", "bfloat16-xla", "channels_last-bf16", "channels_last-bf16-compile"]


FLOPS = {"glandseg": {"train_crop": {"forward_flops": 9.4e9}, "infer_image": {"forward_flops": 37.7e9}},
         "smp": {"train_crop": {"forward_flops": 9.2e9}, "infer_image": {"forward_flops": 36.7e9}}}


def test_flops_per_item_uses_each_models_count_and_three_forwards_per_training_crop():
    assert bench.flops_per_item(FLOPS, "glandseg/keras-tensorflow") == {"train": 3 * 9.4e9, "infer": 37.7e9}
    assert bench.flops_per_item(FLOPS, "smp/torch") == {"train": 3 * 9.2e9, "infer": 36.7e9}
    # without smp's own count (no torch, or its worker failed) smp's rows use glandseg's
    for smp in (None, {"error": ["no torch"]}):
        assert bench.flops_per_item({**FLOPS, "smp": smp}, "smp/torch") == {"train": 3 * 9.4e9, "infer": 37.7e9}
    assert bench.flops_per_item({}, "smp/torch") is None
    record = bench.flops_record({**FLOPS, "smp": {"error": ["x"]}})
    assert record["train_step_forwards"] == 3 and "assuming the same" in record["smp_source"]
    assert bench.flops_record(FLOPS)["per_item"]["smp"]["infer"] == 36.7e9
    assert bench.flops_record({}) is None


def test_annotate_adds_gflops_and_fraction_of_the_peak_of_the_rows_precision():
    rows = [dict(_result("glandseg/keras-tensorflow", "bfloat16", {"8": 10.0}, {"4": 2.0}), precision="bfloat16"),
            dict(_result("smp/torch", "channels_last", {"8": 10.0}, {"4": 2.0}), precision="float32"),
            {"framework": "smp/torch", "variant": "channels_last-compile", "error": ["torch.compile failed"]},
            {"framework": "glandseg pipeline", "variant": "plain", "batches_crops_per_s": {"median": 500.0}}]
    bench.annotate(rows, FLOPS, {"float32": 200.0, "bfloat16": None})
    ours, peer = rows[0], rows[1]
    assert ours["train"]["8"]["gflops"] == pytest.approx(10 * 3 * 9.4)
    assert ours["infer"]["4"]["gflops"] == pytest.approx(2 * 37.7)
    assert ours["train"]["8"]["fraction_of_peak"] is None  # no bfloat16 peak measured
    assert peer["train"]["8"]["gflops"] == pytest.approx(10 * 3 * 9.2)
    assert peer["train"]["8"]["fraction_of_peak"] == pytest.approx(10 * 3 * 9.2 / 200)
    assert "gflops" not in rows[3]["batches_crops_per_s"] and "train" not in rows[2]


def test_readme_table_shows_the_cpu_its_peak_and_each_settings_share_of_it():
    results = [dict(_result("glandseg/keras-tensorflow", "bfloat16-xla", {"4": 10.0, "8": 12.0}, {"1": 2.0, "4": 2.4}),
                    precision="bfloat16"),
               dict(_result("smp/torch", "channels_last-bf16-compile", {"4": 9.0, "8": 10.0}, {"1": 2.5, "4": 2.0}),
                    precision="bfloat16"),
               dict(_result("smp/torch", "plain", {"4": 8.0, "8": 10.0}, {"1": 2.5, "4": 2.0}), precision="float32"),
               {"framework": "smp/torch", "variant": "channels_last-compile", "error": ["torch.compile failed: X", "y"]}]
    peak = {"float32": 200.0, "bfloat16": 400.0}
    bench.annotate(results, FLOPS, peak)
    record = {"results": results, "settings": {"threads": 2, "precision": "float32 and bfloat16 (per row)",
                                               "train_crop": "416x288", "infer_size": "832x576", "repeats": 5},
              "machine": {"cpu_model": "AMD EPYC 9B14", "cpu": BF16, "cpu_count": 2}, "git_commit": "abc",
              "peak_gflops": peak, "peak": {"peak_source": {"float32": "tensorflow 4096x4096",
                                                            "bfloat16": "tensorflow 4096x4096"}},
              "flops": bench.flops_record(FLOPS), **bench.ratios(results)}
    text = readme_table.render(record, "r.json")
    assert "on AMD EPYC 9B14 (family 25, model 17; avx2, fma, avx512f, avx512_bf16; 2 cores, 2 threads each" in text
    assert "float32 and bfloat16 (per row)" in text
    assert "| train b8 GFLOP/s (% of peak) | infer b4 GFLOP/s (% of peak) |" in text
    # 12 crops/s x 3 x 9.4 GFLOP = 338 GFLOP/s, 85% of 400; 2.4 images/s x 37.7 = 90, 23%
    assert "| glandseg, Keras tensorflow (mixed bfloat16, XLA) | 10.00 | 12.00 | 2.00 | 2.40 | 338 (85%) | 90 (23%) |" in text
    assert "| smp Linknet, PyTorch (channels-last, bfloat16 autocast, torch.compile) |" in text
    assert "| smp Linknet, PyTorch | 8.00 | 10.00 | 2.50 | 2.00 | 276 (138%) | 73 (37%) |" in text
    assert "float32 **200 GFLOP/s** (tensorflow 4096x4096), bfloat16 **400 GFLOP/s**" in text
    assert "glandseg 9.40 / 37.70 GFLOP; smp 9.20 / 36.70 GFLOP" in text
    assert "Not measured (the run's error): smp Linknet, PyTorch (channels-last, torch.compile): torch.compile failed: X." in text
    # an older record (no CPU facts, no FLOPs) keeps its table of throughputs alone
    old = {**record, "results": RESULTS, "machine": {"cpu_model": "AMD EPYC", "cpu_count": 2}}
    del old["peak_gflops"], old["flops"]
    assert "GFLOP" not in readme_table.render(old, "old.json") and "on AMD EPYC (2 cores" in readme_table.render(old)


def test_readme_table_renders_every_committed_record():
    folder = REPO / "benchmarks" / "results"
    for path in sorted(folder.glob("2026-*.json")):
        record = json.loads(path.read_text())
        if "train_ratio_vs_smp" in record:
            assert readme_table.START in readme_table.render(record, path.name)


def test_peak_is_the_best_median_per_precision_over_frameworks_and_sizes():
    def row(fw, measured):
        return {"framework": "matmul peak", "variant": fw,
                "measured": {d: {n: {"median": v} for n, v in sizes.items()} for d, sizes in measured.items()}}

    rows = [row("tensorflow", {"float32": {"2048": 190.0, "4096": 217.0}, "bfloat16": {"2048": 380.0, "4096": 417.0}}),
            row("torch", {"float32": {"2048": 200.0, "4096": 210.0}, "bfloat16": {"2048": 450.0, "4096": 440.0}}),
            {"framework": "peak", "variant": "jax", "error": ["crashed"]}]
    summary = bench.peak_summary(rows)
    assert summary["peak_gflops"] == {"float32": 217.0, "bfloat16": 450.0}
    assert summary["peak_source"] == {"float32": "tensorflow 4096x4096", "bfloat16": "torch 2048x2048"}
    assert summary["by_framework"]["jax"]["error"] == ["crashed"]
    # bfloat16 not measured (no native bfloat16): None, and fraction_of_peak of such rows is None
    assert bench.peak_summary([row("tensorflow", {"float32": {"4096": 217.0}})])["peak_gflops"] == {
        "float32": 217.0, "bfloat16": None}
