"""The benchmark suite's bookkeeping: ratios, record choice, README table, machine name.

The timings themselves need an idle machine and PyTorch (``make bench``); the script's own
machinery is run here on small tensors (``--quick``), TensorFlow only.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

import bench  # noqa: E402
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
    keras_rows = [r for r in record["results"] if r["framework"] == "glandseg/keras-tensorflow"]
    assert [r["variant"] for r in keras_rows] == ["plain", "xla"]
    for r in keras_rows:
        assert "error" not in r, r
        assert set(r["train"]) == {"4", "8"} and set(r["infer"]) == {"1", "4"}
        assert all(v["median"] > 0 for part in ("train", "infer") for v in r[part].values())
    pipeline = next(r for r in record["results"] if r["framework"] == "glandseg pipeline")
    assert pipeline["batches_crops_per_s"]["median"] > 0
