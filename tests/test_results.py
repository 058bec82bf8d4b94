import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from glandseg import results


def test_format_mean_sd_by_hand():
    assert results.format_mean_sd([], 3) == "not run yet"
    assert results.format_mean_sd([0.8124], 3) == "0.812"
    # mean 0.82, sample sd sqrt(((0.01)^2 * 2) / 1) = 0.01414
    assert results.format_mean_sd([0.81, 0.83], 3) == "0.820 ± 0.014"
    assert results.format_mean_sd([50.0, 60.0, 70.0], 2) == "60.00 ± 10.00"


@pytest.mark.parametrize(
    "config, label",
    [
        ({"input": "hematoxylin", "unsharp": False, "loss": "L3", "deep_supervision": True}, "H + L3"),
        ({"input": "hematoxylin", "unsharp": True, "loss": "L2", "deep_supervision": True}, "H + unsharp + L2"),
        ({"input": "rgb", "unsharp": False, "loss": "L3", "deep_supervision": True}, "RGB + L3"),
        ({"input": "hematoxylin", "unsharp": False, "loss": "L3", "deep_supervision": False}, "H + L3 (no deep sup.)"),
    ],
)
def test_config_label_matches_paper_rows(config, label):
    assert results.config_label(config) == label
    if "deep" not in label and "RGB" not in label:
        assert label in results.PAPER_TABLES["testA"]


def _record(path: Path, seed, f1, unsharp=False):
    rec = {
        "run_id": path.name,
        "preset": "workshop",
        "seed": seed,
        "config": {"input": "hematoxylin", "unsharp": unsharp, "loss": "L3", "deep_supervision": True},
        "metrics": {s: {"pooled": {"f1": f1, "object_dice": 0.8, "object_hausdorff": 60.0}} for s in ("testA", "testB")},
    }
    results.write_json_atomic(path / "record.json", rec)


def test_summary_table_groups_seeds(tmp_path):
    _record(tmp_path / "workshop" / "h-L3-s0", 0, 0.70)
    _record(tmp_path / "workshop" / "h-L3-s1", 1, 0.74)
    _record(tmp_path / "workshop" / "h-usm-L3-s0", 0, 0.65, unsharp=True)
    records = results.load_records(tmp_path)
    assert len(records) == 3
    rows = {r["method"]: r for r in results.summary_table(records, "testA")}
    assert rows["H + L3"]["runs"] == 2 and rows["H + L3"]["seeds"] == [0, 1]
    assert rows["H + L3"]["f1"] == "0.720 ± 0.028"
    assert rows["H + unsharp + L3"]["f1"] == "0.650"
    assert rows["H + L3"]["values"]["f1"] == [0.70, 0.74]
    assert results.load_records(tmp_path, preset="cpu") == []


def test_write_json_atomic_leaves_no_temporary(tmp_path):
    results.write_json_atomic(tmp_path / "a" / "r.json", {"x": np.int64(3), "y": np.float32(0.5), "z": np.arange(2)})
    assert json.loads((tmp_path / "a" / "r.json").read_text()) == {"x": 3, "y": 0.5, "z": [0, 1]}
    assert [p.name for p in (tmp_path / "a").iterdir()] == ["r.json"]


def test_provenance_names_the_commit():
    prov = results.provenance()
    head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=Path(__file__).parent)
    if head.returncode == 0:
        assert prov["git_commit"] == head.stdout.strip()
    assert {"git_commit", "dirty", "versions", "backend", "device", "started_utc", "finished_utc"} <= set(prov)
    assert "numpy" in prov["versions"] and "python" in prov["versions"]
    assert prov["finished_utc"].endswith("Z")


def test_code_state_is_the_one_the_process_started_with(moving_code_state):
    # a long process runs the modules it imported: a later commit is not its code
    first = results.code_state()
    assert first == {"git_commit": "a" * 40, "dirty": False, "dirty_files": []}
    moving_code_state(results, "cpu_model")
    results.cpu_model()
    assert results._read_code_state()["git_commit"] == "b" * 40  # the checkout did move
    first["dirty_files"].append("glandseg/y.py")  # a caller's change does not reach the kept state
    assert results.code_state() == {"git_commit": "a" * 40, "dirty": False, "dirty_files": []}
    prov = results.provenance()
    assert (prov["git_commit"], prov["dirty"], prov["dirty_files"]) == ("a" * 40, False, [])


def test_provenance_dirty_files_are_the_changed_code_files_only():
    root = Path(results.__file__).resolve().parents[1]
    out = subprocess.run(["git", "diff", "HEAD", "--name-only"], capture_output=True, text=True, cwd=root)
    if out.returncode != 0:
        pytest.skip("not a git checkout")
    changed = set(out.stdout.split())
    code = {f for f in changed if (f.startswith(("glandseg/", "notebooks/")) and not f.startswith("glandseg/report/"))
            or f == "pyproject.toml"}
    prov = results.provenance()
    assert set(prov["dirty_files"]) == code
    assert prov["dirty"] == bool(code)
    assert len(prov["load_avg"]) == 3 and all(v >= 0 for v in prov["load_avg"])


def test_load_records_leaves_tagged_protocols_out_unless_asked(tmp_path):
    import json

    from glandseg import results

    for name, extra in (("h-L3-s0", {}), ("h-L3-s0-b4", {"tag": "b4"})):
        folder = tmp_path / "workshop" / name
        folder.mkdir(parents=True)
        (folder / "record.json").write_text(json.dumps({"run_id": name, **extra}))
    assert [r["run_id"] for r in results.load_records(tmp_path)] == ["h-L3-s0"]
    assert [r["run_id"] for r in results.load_records(tmp_path, "workshop", tagged=True)] == ["h-L3-s0", "h-L3-s0-b4"]
