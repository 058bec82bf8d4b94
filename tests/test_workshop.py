"""The workshop kit: the student notebook (papermill, smoke preset), what it reads from the
records (glandseg.report.workshop), the augmentation figure and the shipped model file."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO
from glandseg import inference, results
from glandseg.report import workshop

NOTEBOOK = REPO / "notebooks" / "workshop.py"


def _record(preset, seed, f1, dice=0.8, haus=90.0, *, input="hematoxylin", loss="L3", seconds=600.0, cpu=None,
            precision=None, load=None):
    from glandseg.config import PRESETS, preset_config

    prov = {"device": "AMD EPYC, 2 logical CPUs", "load_avg": load}
    if cpu is not None:
        prov["cpu"] = cpu
    return {
        "preset": preset, "seed": seed,
        "config": {**preset_config(preset if preset in PRESETS else "workshop").to_dict(),
                   "input": input, "unsharp": False, "loss": loss, "deep_supervision": True},
        "metrics": {"testA": {"pooled": {"f1": f1, "object_dice": dice, "object_hausdorff": haus}},
                    "testB": {"pooled": {"f1": f1 - 0.1, "object_dice": dice, "object_hausdorff": haus}}},
        "training": {"seconds": seconds, "precision": precision},
        "provenance": prov,
    }


def _cells(table):
    return {row[0]: row for row in table.rows}


def test_class_table_averages_the_class_and_shows_the_students_run_apart():
    recs = [_record("workshop", s, f) for s, f in ((0, 0.70), (1, 0.74), (2, 0.72))]
    recs.append(_record("cpu", 0, 0.9))  # another preset: not part of the class
    synthetic = _record("workshop", 5, 0.1)
    synthetic["config"]["data"] = "synthetic"  # a student's run without GlaS: not comparable
    recs.append(synthetic)
    own = _record("workshop", 7, 0.6512, input="rgb")
    table = workshop.class_table(recs, own)
    rows = _cells(table)
    f1s = [0.70, 0.74, 0.72]
    assert rows["H + L3"][2] == f"{np.mean(f1s):.3f} ± {np.std(f1s, ddof=1):.3f}"
    assert rows["H + L3"][1] == "0.846"  # the paper's Table 1
    assert rows["H + L3"][-1] == "3 (0, 1, 2)"
    # The student's RGB run is not a paper row: it gets its own, and is not averaged in.
    assert rows["RGB + L3"][3] == "0.651" and rows["RGB + L3"][2] == "not run yet" and rows["RGB + L3"][1] == "—"
    assert rows["H + L1"][2] == "not run yet" and rows["H + L1"][3] == ""
    with pytest.raises(ValueError, match="split"):
        workshop.class_table(recs, split="val")
    alone = workshop.class_table(recs)  # no run of one's own: no "yours" columns
    assert "yours" not in alone.columns and _cells(alone)["H + L3"][1:3] == ["0.846", rows["H + L3"][2]]


def test_expected_quotes_the_preset_then_falls_back_to_a_labelled_other_preset():
    recs = [_record("workshop", 0, 0.70, loss="L1"), _record("workshop", 1, 0.72, loss="L1"),
            _record("cpu", 0, 0.78, input="rgb")]
    text = workshop.expected(recs, "H + L1")
    assert text.startswith("H + L1 at the workshop preset: Test A F1 0.710 ± 0.014") and "seeds 0, 1" in text
    rgb = workshop.expected(recs, "RGB + L3")
    assert "at the cpu preset (no record at the workshop preset yet" in rgb and "F1 0.780" in rgb
    assert "Test B F1 0.680" in workshop.expected(recs, "RGB + L3", split="testB")
    assert "not been run yet" in workshop.expected(recs, "H + L2")


def test_aim_verdict_takes_the_best_configuration_with_all_its_seeds():
    recs = [_record("workshop", s, f) for s, f in ((0, 0.70), (1, 0.71), (2, 0.72))]  # H + L3: mean 0.71
    recs += [_record("workshop", s, f, loss="L1") for s, f in ((0, 0.60), (1, 0.64))]  # seed 2 missing
    recs += [_record("workshop", 2, 0.99, loss="L1")]
    recs[-1]["config"]["data"] = "synthetic"  # not on GlaS: does not complete L1
    recs += [_record("cpu", s, 0.9, loss="L2") for s in (0, 1, 2)]  # another preset
    assert workshop.aim_verdict(recs) == ("The best of 1 configuration with seeds 0, 1, 2 at the workshop preset, "
                                          "H + L3, reaches Test A F1 0.710 ± 0.010 (mean ± sd): 0.010 short of the "
                                          "aim of 0.72.")
    recs += [_record("workshop", s, f, input="rgb") for s, f in ((0, 0.73), (1, 0.75), (2, 0.74))]
    text = workshop.aim_verdict(recs)
    assert text.startswith("The best of 2 configurations") and "RGB + L3, reaches Test A F1 0.740 ± 0.010" in text
    assert text.endswith("it meets the aim of 0.72.")
    assert workshop.aim_verdict(recs, preset="cpu").endswith("H + L2, reaches Test A F1 0.900 ± 0.000 (mean ± sd): "
                                                             "it meets the aim of 0.72.")
    # Test B figures are the records' own (here 0.1 below Test A)
    assert "Test B F1 0.640 ± 0.010" in workshop.aim_verdict(recs, split="testB")
    assert workshop.aim_verdict(recs, preset="paper").startswith("Not run yet")


def test_pixel_budget_sentence_places_the_budget_on_the_reference_curve():
    from glandseg.config import preset_config

    config = preset_config("workshop").to_dict()
    aug, train = config["augment"], config["train"]
    # 13 variants x crops per variant of each training image, each crop h x w pixels, every epoch
    budget = (85 - train["val_images"]) * 13 * aug["crops_per_variant"] * aug["crop_size"][0] * aug["crop_size"][1] \
        * train["epochs"] / 1e6
    ref = preset_config("cpu-long").to_dict()
    ref_aug = ref["augment"]
    per_epoch = (85 - ref["train"]["val_images"]) * 13 * ref_aug["crops_per_variant"] * ref_aug["crop_size"][0] \
        * ref_aug["crop_size"][1] / 1e6
    assert per_epoch > budget  # so the first point already lies beyond the budget

    def curve(f1s):
        return [{"preset": "cpu-long", "run_id": "h-L3-s0", "config": ref,
                 "points": [{"epoch": e, "testA": {"f1": f}} for e, f in f1s.items()]}]

    text = workshop.pixel_budget_sentence(curve({1: 0.5, 5: 0.75, 2: 0.6}), config)
    assert text.startswith(f"A run of the workshop preset trains on {budget:,.0f} megapixels of crops ({train['epochs']} epochs).")
    assert f"no point that early: after epoch 1, already {per_epoch:,.0f} megapixels, its Test A F1 is 0.500." in text
    assert text.endswith(f"first reaches 0.72 after epoch 5, at {5 * per_epoch:,.0f} megapixels: "
                         f"{5 * per_epoch / budget:.1f} times the budget.")
    # a budget of three reference epochs lies between the points of epochs 2 and 5
    bigger = {**config, "train": {**train, "epochs": round(3 * per_epoch / budget * train["epochs"])}}
    text = workshop.pixel_budget_sentence(curve({1: 0.5, 2: 0.6, 5: 0.7}), bigger)
    assert f"has Test A F1 0.600 within that budget (epoch 2, {2 * per_epoch:,.0f} megapixels); after epoch 5" in text
    assert text.endswith("It does not reach 0.72 in the epochs it has recorded.")
    assert workshop.pixel_budget_sentence([], config).endswith("The cpu-long learning curve that would place it is not run yet.")


def test_min_size_effect_averages_the_sweeps_of_one_configuration():
    def sweep(preset, f200, f1000, loss="L3"):
        rows = [{"opening_radius_px": r, "min_size_px": m, "f1": f + r} for r in (0, 4) for m, f in ((200, f200), (1000, f1000))]
        return {"preset": preset, "config": {"input": "hematoxylin", "loss": loss}, "scores": {"testA": rows}}

    sweeps = [sweep("cpu", 0.6, 0.7), sweep("cpu", 0.8, 0.9), sweep("cpu", 0.1, 0.1, loss="L1")]
    assert workshop.min_size_effect(sweeps, "H + L3") == (
        "H + L3 at the cpu preset (2 runs): Test A F1 0.700 at 200 px, 0.800 at 1000 px.")
    assert "No post-processing sweep" in workshop.min_size_effect(sweeps, "RGB + L3")
    assert workshop.min_size_effect(sweeps, "H + L3", opening_radius_px=4) == (
        "H + L3 at the cpu preset (2 runs): Test A F1 after an opening of 4 px 4.700 at 200 px, 4.800 at 1000 px.")


def test_protocol_choice_compares_candidates_seed_by_seed_on_validation_only():
    from glandseg.config import ExperimentConfig

    small = ExperimentConfig.workshop().with_overrides({"preprocess.size": "288x192", "augment.crop_size": "160x128",
                                                        "augment.crops_per_variant": 2, "train.epochs": 4}).to_dict()
    large = ExperimentConfig.workshop().with_overrides({"preprocess.size": "416x288", "augment.crop_size": "256x192",
                                                        "augment.crops_per_variant": 1, "train.epochs": 3}).to_dict()
    own = {"opening_radius_px": 0, "min_size_px": 1000}

    def sweep(config, seed, val, test, val_opened=0.0):
        def rows(f, opened):
            return [{"opening_radius_px": r, "min_size_px": m, "f1": f + (0.05 if m == 1000 else 0) + (opened if r else 0)}
                    for r in (0, 8) for m in (200, 1000)]
        return {"config": config, "seed": seed, "own": own, "chosen": {"own": 1, "by_val": 1},
                "scores": {"val": rows(val, val_opened), "testA": rows(test, 0.0)}}

    sweeps = [sweep(small, 0, 0.60, 0.70), sweep(small, 1, 0.80, 0.60), sweep(large, 1, 0.85, 0.50, val_opened=0.1),
              sweep(large, 0, 0.65, 0.90, val_opened=0.1),
              {**sweep(small, 0, 0.99, 0.99), "config": {**small, "loss": "L1", "train": {**small["train"], "loss": "L1"}}}]
    rows = workshop.protocol_choice_rows(sweeps, us_per_px=2.0)
    assert [r["protocol"].split(",")[0] for r in rows] == ["images 288x192", "images 416x288"]
    first, second = rows
    assert second["seeds"] == [0, 1] and second["val"] == pytest.approx({0: 0.70, 1: 0.90})
    assert first["val_mean"] == pytest.approx(0.75) and second["val_mean"] == pytest.approx(0.80)
    assert second["best_setting"] == (8, 1000) and second["best_val_mean"] == pytest.approx(0.90)
    assert first["best_setting"] == (0, 1000)
    assert second["testA_mean"] == pytest.approx(0.75)
    # minutes = crop pixels of all epochs x rate: 80 images x 13 variants x 1 crop x 256 x 192 x 3 epochs
    assert second["minutes"] == pytest.approx(80 * 13 * 256 * 192 * 3 * 2.0 / 1e6 / 60)
    table = workshop.protocol_choice_table(rows)
    assert table.columns[1:3] == ["validation F1, seed 0", "validation F1, seed 1"]
    assert table.rows[1][3] == "0.800" and "opening 8 px, from 1000 px" in table.rows[1][4]
    assert workshop.protocol_choice_table([]).rows[0][0] == "not run yet"
    # a validation-only sweep takes its Test A from the run's record, or shows none
    val_only = [{**sw, "scores": {"val": sw["scores"]["val"]}, "preset": "workshop", "run_id": f"r{k}"}
                for k, sw in enumerate(sweeps[2:4])]
    recs = [{"preset": "workshop", "run_id": "r0", "metrics": {"testA": {"pooled": {"f1": 0.6}}}},
            {"preset": "workshop", "run_id": "r1", "metrics": {"testA": {"pooled": {"f1": 0.7}}}}]
    [row] = workshop.protocol_choice_rows(val_only, records=recs)
    assert row["testA_mean"] == pytest.approx(0.65) and row["val_mean"] == pytest.approx(0.80)
    [row] = workshop.protocol_choice_rows(val_only, records=recs[:1])
    assert row["testA_mean"] is None and workshop.protocol_choice_table([row]).rows[0][-1] == "—"
    # the larger protocol wins on validation; a budget leaves out what does not fit
    assert second["minutes"] == pytest.approx(5.11, abs=0.01) and first["minutes"] == pytest.approx(5.68, abs=0.01)
    text = workshop.protocol_choice_sentence(rows, small)
    assert text.startswith(f"The validation images chose {second['protocol']} (mean validation F1 0.800 over 2 seeds")
    assert text.endswith("trains another one: " + first["protocol"] + ".")
    text = workshop.protocol_choice_sentence(rows, large, budget_min=5.5)
    assert "1 protocol over 5.5 minutes took no part" in text and "next best" not in text
    assert "an opening of 8 px and objects from 1000 px (mean F1 0.900)" in text
    assert text.endswith(f"trains this protocol, with an opening of {large['postprocess']['opening_radius_px']} px "
                         "and objects from 1000 px.")
    opened = {**large, "postprocess": {**large["postprocess"], "opening_radius_px": 8}}
    assert workshop.protocol_choice_sentence(rows, opened).endswith("trains this protocol with this post-processing.")
    assert f"; the next best, {first['protocol']}, scored 0.750" in workshop.protocol_choice_sentence(rows, large)
    assert "No candidate" in workshop.protocol_choice_sentence(rows, small, budget_min=5.0)


def test_timings_group_by_cpu_kind_with_median_and_range():
    xeon = {"model": "Xeon", "family": 6, "model_number": 207, "native_bfloat16": True}
    recs = [
        _record("workshop", 0, 0.7, seconds=600, load=[1.0]),
        _record("workshop", 1, 0.7, seconds=900, load=[2.5]),
        _record("workshop", 2, 0.7, seconds=720, load=[1.2]),
        _record("workshop", 0, 0.7, seconds=300, cpu=xeon, precision="mixed_bfloat16"),
        _record("cpu", 0, 0.7, seconds=3000),
    ]
    rows = workshop.timings(recs, "workshop")
    assert len(rows) == 2
    old = next(r for r in rows if r["bfloat16"] == "not recorded")
    assert (old["runs"], old["median_min"], old["min_min"], old["max_min"], old["load"]) == (3, 12.0, 10.0, 15.0, 2.5)
    assert old["precision"] == "auto (not recorded)" and old["cpu"] == "AMD EPYC"
    from glandseg.config import preset_config

    cfg = preset_config("workshop").to_dict()
    (cw, ch), train = cfg["augment"]["crop_size"], cfg["train"]
    pixels = train["epochs"] * (85 - train["val_images"]) * 13 * cfg["augment"]["crops_per_variant"] * cw * ch
    assert old["us_per_px"] == pytest.approx(720 * 1e6 / pixels)
    assert workshop.estimate_minutes(cfg, old["us_per_px"]) == pytest.approx(12.0)  # the median run, back again
    new = next(r for r in rows if r["bfloat16"] == "native")
    assert new["cpu"] == "Xeon (family 6, model 207)" and new["precision"] == "mixed_bfloat16" and new["median_min"] == 5.0
    table = workshop.timings_table(recs)
    assert any("12.0 (10.0–15.0)" in str(cell) for row in table.rows for cell in row)
    with_estimate = workshop.timings_table(recs, estimate_for=cfg)
    assert with_estimate.columns[-1] == "workshop preset today: minutes at that rate"
    assert [r[-1] for r in with_estimate.rows] == ["12.0", "5.0"]
    assert workshop.timings_table([], presets=("nothing",)).rows[0][0] == "not run yet"
    # a preset whose protocol changed keeps its old records apart, each under its own protocol
    changed = _record("workshop", 0, 0.7, seconds=60, load=[1.0])
    changed["config"] = {**changed["config"], "train": {**changed["config"]["train"], "epochs": 9}}
    rows = workshop.timings(recs + [changed], "workshop")
    assert len(rows) == 3 and sorted(r["runs"] for r in rows) == [1, 1, 3]
    assert next(r for r in rows if r["runs"] == 1 and r["max_min"] == 1.0)["protocol"].endswith(", 9 epochs")


def test_augmenter_figure_shows_the_items_in_order():
    import matplotlib

    matplotlib.use("Agg")
    from glandseg import augment
    from glandseg.config import AugmentConfig
    from glandseg.report import method_figures

    x = np.random.default_rng(0).random((2, 64, 96, 1)).astype(np.float32)
    mask = np.zeros((2, 64, 96), np.uint8)
    mask[:, 10:30, 20:50] = 1
    aug = augment.make_augmenter(x, mask, AugmentConfig(mode="random", crop_size=(64, 32)), seed=1)
    fig = method_figures.augmenter_figure(aug, 5, ncols=3, start=2)
    shown = [ax for ax in fig.axes if ax.images]
    assert [ax.get_title() for ax in shown] == [f"item {i}" for i in range(2, 7)]
    np.testing.assert_allclose(shown[0].images[0].get_array(), aug[2][0][..., 0], rtol=1e-6)
    with pytest.raises(ValueError, match="do not exist"):
        method_figures.augmenter_figure(aug, 3, start=len(aug) - 1)
    with pytest.raises(ValueError, match="positive"):
        method_figures.augmenter_figure(aug, 0)


def test_shipped_model_prefers_the_paper_network(tmp_path):
    with pytest.raises(FileNotFoundError, match="glandseg export"):
        inference.shipped_model(tmp_path)
    (tmp_path / "workshop-h-L3.keras").write_bytes(b"w")
    assert inference.shipped_model(tmp_path).name == "workshop-h-L3.keras"
    (tmp_path / "paper-h-L3.keras").write_bytes(b"p")
    assert inference.shipped_model(tmp_path).name == "paper-h-L3.keras"


#: Every model file the repository ships (the paper network once its run has finished).
SHIPPED = [REPO / "models" / name for name in inference.SHIPPED_MODELS if (REPO / "models" / name).exists()]


def test_the_repository_ships_a_small_verified_model_file(tmp_path):
    assert inference.shipped_model() == SHIPPED[0] and SHIPPED[0].parent == REPO / "models"
    for path in SHIPPED:
        assert path.stat().st_size <= 25 * 2**20, path
        digest = Path(f"{path}.sha256").read_text().split()[0]
        assert inference._sha256(path) == digest, path
        meta = inference.read_model_meta(path)  # no Keras needed for what the file says of itself
        assert meta["run_id"] and set(meta["record_pooled"]) == {"testA", "testB"}
    import zipfile

    with zipfile.ZipFile(tmp_path / "plain.keras", "w") as zf:  # a Keras file, not one glandseg exported
        zf.writestr("config.json", "{}")
    with pytest.raises(ValueError, match="not a model file"):
        inference.read_model_meta(tmp_path / "plain.keras")
    assert results.checkout_results() == REPO / "results"


@pytest.mark.slow
@pytest.mark.glas
@pytest.mark.parametrize("path", SHIPPED, ids=[p.name for p in SHIPPED])
def test_shipped_model_reproduces_its_records_test_figures(glas_root, tmp_path, path):
    """Scored like a run, each shipped file gives the Test A and B figures its record holds."""
    from glandseg import runner

    model, config, meta = inference.load_model_file(path)
    record = runner.score_network(model, config, tmp_path / "runs" / "shipped", root=glas_root,
                                  cache_dir=tmp_path / "cache")
    for split in ("testA", "testB"):
        got = record["metrics"][split]["pooled"]
        # float16 weights round the probabilities a little: a gland or two may change.
        assert got["f1"] == pytest.approx(meta["record_pooled"][split]["f1"], abs=0.01)
        assert got["object_dice"] == pytest.approx(meta["record_pooled"][split]["object_dice"], abs=0.01)


_BACKEND_SCRIPT = """
import sys
import numpy as np
from glandseg import inference, predict
model, config, meta = inference.load_model_file(sys.argv[1])
x = np.load(sys.argv[2])
np.save(sys.argv[3], predict.predict_proba(model, x, batch_size=1))
"""


@pytest.mark.parametrize("path", SHIPPED, ids=[p.name for p in SHIPPED])
def test_shipped_model_predicts_alike_on_tensorflow_and_jax(tmp_path, path):
    """A file exported on one backend gives the same probabilities on the other (no Keras state is backend-bound)."""
    import os
    import subprocess
    import sys

    import keras

    from glandseg import predict

    model, _, _ = inference.load_model_file(path)
    x = np.random.default_rng(0).random((1, 96, 128, model.input_shape[-1])).astype("float32")
    np.save(tmp_path / "x.npy", x)
    here = predict.predict_proba(model, x, batch_size=1)
    other = "jax" if keras.backend.backend() == "tensorflow" else "tensorflow"
    proc = subprocess.run([sys.executable, "-c", _BACKEND_SCRIPT, str(path), str(tmp_path / "x.npy"),
                           str(tmp_path / "there.npy")], env={**os.environ, "KERAS_BACKEND": other},
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    there = np.load(tmp_path / "there.npy")
    assert there.shape == here.shape == (1, 96, 128)
    assert 0.0 < here.mean() < 1.0  # a real map, not a constant both backends could agree on by accident
    np.testing.assert_allclose(there, here, atol=1e-3)


def _execute(tmp_path, **parameters):
    import jupytext
    import nbformat
    import papermill

    source = tmp_path / "workshop.ipynb"
    jupytext.write(jupytext.read(NOTEBOOK), source)
    out = tmp_path / "out.ipynb"
    papermill.execute_notebook(str(source), str(out), parameters=parameters, cwd=str(tmp_path), progress_bar=False,
                               kernel_name="python3")
    return nbformat.read(out, as_version=4)


def _text(nb):
    parts = []
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            parts.append(o.get("text", "") if o.get("output_type") == "stream" else str(o.get("data", {}).get("text/markdown", "")))
    return "\n".join(parts)


@pytest.mark.slow
def test_student_notebook_trains_and_scores_at_the_smoke_preset(tmp_path):
    nb = _execute(tmp_path, preset="smoke", seed=3, verbose=2)
    text = _text(nb)
    record = json.loads((tmp_path / "my-runs" / "smoke" / "h-L3-s3" / "record.json").read_text())
    assert f"| H + L3 | 0.846 | not run yet | {record['metrics']['testA']['pooled']['f1']:.3f} |" in text
    assert "trained 1 epoch(s)" in text
    # The three exercises each print what the records say (or that nothing was run).
    assert text.count("H + L1 at the") + text.count("H + L1 has not been run") == 1
    assert "smallest object (px)" in text


@pytest.mark.slow
def test_student_notebook_without_training_loads_the_shipped_network(tmp_path):
    nb = _execute(tmp_path, preset="smoke", train_network=False)
    text = _text(nb)
    _, _, meta = inference.load_model_file(inference.shipped_model(), verify=False)
    assert f"loaded {inference.shipped_model().name}: run {meta['run_id']}" in text
    assert (tmp_path / "my-runs" / "model-files" / inference.shipped_model().stem / "record.json").exists()
    assert not list((tmp_path / "my-runs").glob("smoke/*/best.weights.h5"))  # nothing trained


def test_provenance_table_names_protocol_time_cpu_and_commit():
    from glandseg.config import preset_config

    config = preset_config("workshop", seed=2).to_dict()
    rec = _record("workshop", 2, 0.7, seconds=630.0, load=[1.5],
                  cpu={"model": "Xeon", "family": 6, "model_number": 207, "native_bfloat16": True},
                  precision="mixed_bfloat16")
    rec["config"] = {**config, "input": "hematoxylin", "unsharp": False, "loss": "L3", "deep_supervision": True}
    rec["run_id"] = "h-L3-s2"
    rec["provenance"].update(git_commit="0123456789abcdef", dirty=True, versions={"glandseg": "0.1.0", "keras": "3.15.1"})
    rows = dict(map(tuple, workshop.provenance_table(rec).rows))
    w, h = config["preprocess"]["size"]
    cw, ch = config["augment"]["crop_size"]
    assert rows["protocol"].startswith(f"images {w}x{h}, random crops of {cw}x{ch}, {config['train']['epochs']} epochs")
    post = config["postprocess"]
    assert rows["protocol"].endswith(f"objects from {post['min_size_px']} px"
                                     + (f" after an opening of {post['opening_radius_px']} px" if post["opening_radius_px"] else ""))
    assert rows["trained"] == "10.5 min in mixed_bfloat16"
    assert rows["code"] == "glandseg 0.1.0, commit 0123456789 (with uncommitted changes)"
    assert rows["CPU"] == "Xeon (family 6, model 207); bfloat16: native; load at the end 1.5"
    assert rows["versions"] == "keras 3.15.1"


EXECUTED = REPO / "book" / "workshop-notebook.ipynb"


def test_the_books_workshop_notebook_is_a_current_execution_at_the_workshop_preset():
    """The Workshop chapter shows a committed execution (make workshop-notebook): it must be of
    today's notebook and today's workshop preset, without errors."""
    import jupytext
    import nbformat

    from glandseg.config import preset_config

    nb = nbformat.read(EXECUTED, as_version=4)
    params = nb.metadata["papermill"]["parameters"]
    assert params.get("preset", "workshop") == "workshop" and params.get("train_network", True) is True
    executed = [c.source for c in nb.cells if c.cell_type == "code" and "injected-parameters" not in c.metadata.get("tags", [])]
    source = [c.source for c in jupytext.read(NOTEBOOK).cells if c.cell_type == "code"]
    assert executed == source, "notebooks/workshop.py changed since the execution: run `make workshop-notebook`"
    assert not [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    text = "\n".join(str(o.get("data", {}).get("text/markdown", "")) + o.get("text", "")
                     for c in nb.cells for o in c.get("outputs", []))
    line = workshop.protocol_line(preset_config("workshop").to_dict())
    assert line in text, "the workshop preset changed since the execution: run `make workshop-notebook`"
    assert "GlaS data not found" not in text  # executed on the real data
    assert not [o for c in nb.cells for o in c.get("outputs", []) if workshop.WIDGET_MIME in o.get("data", {})]
    assert "widgets" not in nb.metadata  # the book would load widget JavaScript from a CDN
    summary = workshop.execution_summary(EXECUTED)
    assert not summary["failed"] and summary["minutes"] <= 20  # the issue's bound for 2 cores


def test_execution_summary_reads_papermills_own_clock(tmp_path):
    nb = {"cells": [], "metadata": {"papermill": {"duration": 754.2, "start_time": "2026-12-05T08:01:02.5+00:00",
                                                  "parameters": {"verbose": 2}, "exception": None}},
          "nbformat": 4, "nbformat_minor": 5}
    path = tmp_path / "run.ipynb"
    path.write_text(json.dumps(nb))
    summary = workshop.execution_summary(path)
    assert summary == {"minutes": pytest.approx(12.57), "start": "2026-12-05 08:01:02", "parameters": {"verbose": 2},
                       "failed": False}
    nb["metadata"] = {}
    path.write_text(json.dumps(nb))
    with pytest.raises(ValueError, match="no papermill execution"):
        workshop.execution_summary(path)


def test_strip_widgets_keeps_everything_but_widget_outputs(tmp_path):
    import nbformat

    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("prepare()")
    cell.outputs = [nbformat.v4.new_output("display_data", data={workshop.WIDGET_MIME: {"model_id": "x"}, "text/plain": "0%"}),
                    nbformat.v4.new_output("stream", name="stdout", text="done\n")]
    nb.cells = [nbformat.v4.new_markdown_cell("# t"), cell]
    nb.metadata["widgets"] = {"state": {}}
    path = tmp_path / "nb.ipynb"
    nbformat.write(nb, path)
    assert workshop.strip_widgets(path) == 1
    again = nbformat.read(path, as_version=4)
    assert [o.output_type for o in again.cells[1].outputs] == ["stream"] and "widgets" not in again.metadata
    assert workshop.strip_widgets(path) == 0


def test_protocol_choice_margin_weighs_protocols_against_seeds():
    close = [{"val_mean": 0.70, "val": {0: 0.60, 1: 0.80}}, {"val_mean": 0.72, "val": {0: 0.62, 1: 0.82}}]
    text = workshop.protocol_choice_margin(close)
    assert "spans 0.020" in text and "span 0.200 on average" in text and "within the noise" in text
    apart = [{"val_mean": 0.60, "val": {0: 0.59, 1: 0.61}}, {"val_mean": 0.80, "val": {0: 0.79, 1: 0.81}}]
    assert "differ by more than their seeds do" in workshop.protocol_choice_margin(apart)
    assert "no choice to judge" in workshop.protocol_choice_margin(apart[:1])
