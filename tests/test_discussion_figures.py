"""Tests for glandseg.report.discussion_figures (book/discussion.md)."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from glandseg.report import analysis, discussion_figures  # noqa: E402


def test_claims_table_and_difference_plot_without_records():
    rows = analysis.claims([])
    table = discussion_figures.claims_table(rows)
    assert len(table.rows) == sum(len(c["comparisons"]) for c in rows)
    assert table.rows[3][2] == "-0.073" and table.rows[3][-1] == "not run yet"
    ax = discussion_figures.difference_plot(rows)
    assert [t.get_text() for t in ax.texts].count("not run yet") == len(table.rows)


def test_split_contrast_and_others_tables():
    from glandseg.report.analysis import Interval

    contrast = {
        "harder": [{"method": "H + L1", "difference": Interval(0.1, 0.05, 0.15), "paper_difference": 0.082,
                    "verdict": "holds"}],
        "closer": {"difference": None, "paper_difference": 0.016, "verdict": "not run yet"},
    }
    table = discussion_figures.split_contrast_table(contrast)
    assert table.rows == [["H + L1: Test A − Test B", "+0.082", "+0.100", "[0.050, 0.150]", "holds"],
                          ["spread of the configurations: Test A − Test B", "+0.016", "—", "not run yet", "not run yet"]]
    res = {"method": "H + L3", "ours": Interval(60.0, 50.0, 70.0),
           "others": [{"method": "X", "value": 45.4, "position": "better than ours"}]}
    others = discussion_figures.others_table([("Test A", "object_hausdorff", res)])
    assert others.columns[-1] == "X"
    assert others.rows == [["Test A", "object Hausdorff", "H + L3", "60.00", "[50.00, 70.00]", "45.40 (better than ours)"]]
    assert discussion_figures.others_table([]).rows == []


def test_ceiling_table_rows_and_shared_postprocessing():
    def rec(size, pp, f1_net, f1_orig):
        part = lambda f1: {"f1": f1, "object_dice": 0.9, "object_hausdorff": 12.345}  # noqa: E731
        return {"size": size, "postprocess": pp,
                "scores": {"testA": {"network_size": part(f1_net), "original_size": part(f1_orig)}}}

    ceilings = {"cpu": rec([416, 288], {"min_size_px": 1000}, 0.98, 0.99),
                "paper": rec([832, 576], {"min_size_px": 200}, 0.995, 0.996),
                "workshop": rec([288, 192], {"min_size_px": 1000}, 0.97, 0.99)}
    others = [("paper, H + L3", {"testA": {"f1": 0.846, "object_dice": 0.874, "object_hausdorff": 55.13}})]
    table = discussion_figures.ceiling_table(ceilings, others)
    md = table.to_markdown().splitlines()
    assert md[0] == ("|  | Test A F1 | Test A object Dice | Test A object Hausdorff | Test B F1 | Test B object Dice "
                     "| Test B object Hausdorff |")
    assert [line.split(" |")[0] for line in md[2:5]] == [
        "| perfect network at 832x576 (paper preset)", "| perfect network at 416x288 (cpu preset)",
        "| perfect network at 288x192 (workshop preset)"]  # largest input first
    assert md[3] == "| perfect network at 416x288 (cpu preset) | 0.980 | 0.900 | 12.35 | — | — | — |"
    # paper comes first now; cpu and workshop share their post-processing, so they share a row
    assert md[5].startswith("| perfect network at the original size (paper post-processing) | 0.996 |")
    assert md[6] == "| perfect network at the original size (cpu, workshop post-processing) | 0.990 | 0.900 | 12.35 | — | — | — |"
    assert md[7] == "| paper, H + L3 | 0.846 | 0.874 | 55.13 | — | — | — |"
    assert len(md) == 8


def test_error_bars_stack_shares_and_counts():
    rows = [
        {"method": "H + L3", "n_gt": 10, "found": 6, "merged": 2, "partly found": 1, "missed": 1,
         "true positive": 6, "off target": 3, "spurious": 1},
        {"method": "perfect network", "n_gt": 10, "found": 9, "merged": 1, "partly found": 0, "missed": 0,
         "true positive": 9, "off target": 0, "spurious": 0},
        {"method": "H + L1", "n_gt": None},  # no predictions: left out
    ]
    left, right = discussion_figures.error_bars(rows)
    # left: shares of the glands; the first row on top (y = 1)
    widths = {(round(p.get_y() + p.get_height() / 2), round(p.get_x(), 6)): round(p.get_width(), 6) for p in left.patches}
    assert widths[(1, 0.0)] == 0.6 and widths[(1, 0.6)] == 0.2 and widths[(1, 0.8)] == 0.1 and widths[(1, 0.9)] == 0.1
    assert widths[(0, 0.0)] == 0.9 and widths[(0, 0.9)] == 0.1
    # right: counts, stacked to 10 objects for H + L3
    ends = {}
    for p in right.patches:
        y = round(p.get_y() + p.get_height() / 2)
        ends[y] = max(ends.get(y, 0), p.get_x() + p.get_width())
    assert ends == {1: 10, 0: 9}
    assert [t.get_text() for t in left.get_yticklabels()] == ["H + L3", "perfect network"]
    assert [t.get_text() for t in left.get_legend().get_texts()] == ["found", "merged", "partly found", "missed"]
    empty = discussion_figures.error_bars([{"method": "x", "n_gt": None}])
    assert empty[0].texts[0].get_text() == "not run yet"


def test_seed_lines_draws_each_configuration_and_the_seed_mean():
    from glandseg.report import analysis

    def rec(loss, seed, f1):
        return {"preset": "cpu", "seed": seed, "config": {"input": "hematoxylin", "loss": loss},
                "metrics": {"testA": {"pooled": {"f1": f1}, "per_image": []}}}

    runs = [rec("L1", 0, 0.70), rec("L1", 1, 0.80), rec("L2", 0, 0.60), rec("L2", 1, 0.74), rec("L3", 0, 0.9)]
    full, empty = analysis.seed_effects(runs), analysis.seed_effects(runs[:1])
    left, right = discussion_figures.seed_lines([full, empty])
    lines = {line.get_label(): line.get_ydata() for line in left.get_lines()}
    assert list(lines) == ["H + L1", "H + L2", "mean of the configurations"]  # H + L3 has one seed: left out
    np.testing.assert_allclose(lines["H + L2"], [0.60, 0.74])
    np.testing.assert_allclose(lines["mean of the configurations"], [0.65, 0.77])
    assert [t.get_text() for t in left.get_xticklabels()] == ["seed 0", "seed 1"]
    assert left.get_title() == "Test A: pooled F1" and right.get_lines() == []
    assert right.texts[0].get_text().startswith("not run yet")
    with pytest.raises(ValueError, match="one Axes per entry"):
        discussion_figures.seed_lines([full, empty], axes=[left])
    plt.close("all")


def test_sweep_heatmaps_write_each_cell_and_frame_the_own_setting():
    grid = {"opening_radius_px": [0, 4], "min_size_px": [200, 1000, 2000], "n_runs": 2, "own": (0, 1000),
            "values": np.array([[0.70, 0.76, 0.77], [0.72, np.nan, 0.78]])}
    (ax,) = discussion_figures.sweep_heatmaps(grid, names=["Test A"])
    assert sorted(t.get_text() for t in ax.texts) == ["0.700", "0.720", "0.760", "0.770", "0.780"]  # NaN left blank
    (frame,) = [p for p in ax.patches if not p.get_fill()]
    assert frame.get_xy() == (0.5, -0.5)  # column 1 (1000 px), row 0 (no opening)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["200", "1000", "2000"]
    assert ax.get_title() == "Test A: mean pooled F1 of 2 runs"
    (unframed,) = discussion_figures.sweep_heatmaps({**grid, "own": None})
    assert [p for p in unframed.patches if not p.get_fill()] == []
    with pytest.raises(ValueError, match="one Axes per entry"):
        discussion_figures.sweep_heatmaps([grid, grid], axes=[ax])
    plt.close("all")
