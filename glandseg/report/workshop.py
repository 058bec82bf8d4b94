"""What the workshop notebook and the teacher's guide read from the run records.

A class runs the student notebook (``notebooks/workshop.py``) and wants to know how its own run
compares: with the paper's Table 1 and with the configurations the rest of the room trained.
Exercises tell students what result to expect, and the teacher's guide (book/teaching.md) says
how long a run takes on each kind of CPU. All of it comes from records
(:func:`glandseg.results.load_records`); nothing here is typed in.
"""

from __future__ import annotations

import statistics

import numpy as np

from glandseg import results
from glandseg.report import training
from glandseg.report._format import _METRIC_NAMES
from glandseg.report.tables import Table
from glandseg.report.training import cpu_kind  # re-exported: its home until the training report needed it

__all__ = [
    "AIM_F1", "AIM_SEEDS", "aim_verdict", "pixel_budget_sentence", "short_protocol", "protocol_choice_rows",
    "protocol_choice_sentence", "protocol_choice_margin", "protocol_choice_table", "class_table", "expected", "min_size_effect", "cpu_kind", "timings", "timings_table",
    "estimate_minutes", "protocol_line", "provenance_table", "execution_summary", "strip_widgets",
]

_DIGITS = {"f1": 3, "object_dice": 3, "object_hausdorff": 1}


def _part(split) -> str:
    return "Test A" if split == "testA" else "Test B"


def _scored(records, preset, split):
    """The records of ``preset`` that score ``split`` on GlaS."""
    return [r for r in records if r.get("preset") == preset and split in r.get("metrics", {}) and _on_glas(r)]


def _on_glas(record) -> bool:
    """Scored on GlaS (a student's run without the data trains on synthetic images: not comparable)."""
    return record.get("config", {}).get("data", "glas") == "glas"


def _mean_sd(values, metric):
    return results.format_mean_sd(values, _DIGITS[metric])


def _pooled(record, split, metric):
    return float(record["metrics"][split]["pooled"][metric])


def class_table(records, own=None, *, split="testA", preset="workshop") -> Table:
    """The paper's figures, the class's records at ``preset`` and the student's own run.

    Parameters
    ----------
    records : list of dict
        Run records (:func:`glandseg.results.load_records`); only those of ``preset`` scored on
        GlaS count (a run on synthetic stand-in images is not comparable).
    own : dict, optional
        The student's record (:func:`glandseg.runner.run_experiment`), shown in a column of its
        own on the row of its configuration. It is not averaged with the class's records.
    split : {"testA", "testB"}
    preset : str

    Returns
    -------
    Table
        One row per configuration that the paper reports or a record holds (the paper's
        order), with F1, object Dice and object Hausdorff each as paper | class (mean ± sd over
        the records) | yours (only with ``own``).

    Raises
    ------
    ValueError
        For a ``split`` without a paper table.
    """
    if split not in results.PAPER_TABLES:
        raise ValueError(f"split must be one of {tuple(results.PAPER_TABLES)}. Received: split={split!r}")
    from glandseg.report.analysis import CONFIG_ORDER

    paper = results.PAPER_TABLES[split]
    mine = _scored(records, preset, split)
    own_label = results.config_label(own["config"]) if own is not None else None
    labels = [c for c in CONFIG_ORDER if c in paper or any(results.config_label(r["config"]) == c for r in mine)
              or c == own_label]
    per_metric = ["paper", "class", "yours"] if own is not None else ["paper", "class"]
    cols, groups = ["configuration"], [(None, 1)]
    for name in _METRIC_NAMES.values():
        cols += per_metric
        groups.append((name, len(per_metric)))
    cols.append("class runs (seeds)")
    groups.append((None, 1))
    rows = []
    for label in labels:
        recs = [r for r in mine if results.config_label(r["config"]) == label]
        line = [label]
        for k, m in enumerate(results.METRICS):
            line.append(f"{paper[label][k]:g}" if label in paper else "—")
            line.append(_mean_sd([_pooled(r, split, m) for r in recs], m))
            if own is not None:
                line.append(f"{_pooled(own, split, m):.{_DIGITS[m]}f}" if label == own_label else "")
        seeds = ", ".join(str(r.get("seed")) for r in sorted(recs, key=lambda r: r.get("seed", 0)))
        line.append(f"{len(recs)} ({seeds})" if recs else "0")
        rows.append(line)
    part = _part(split)
    caption = (f"{part}: the paper's figures and the records at the {preset} preset (mean ± sd over seeds)"
               + (" beside your run." if own is not None else "."))
    return Table(cols, rows, caption=caption, groups=groups)


#: The workshop preset's aim (issue 26): its best configuration's mean Test A F1 over seeds 0-2.
AIM_F1 = 0.72
AIM_SEEDS = (0, 1, 2)


def aim_verdict(records, *, preset="workshop", split="testA", aim=AIM_F1, seeds=AIM_SEEDS) -> str:
    """One sentence: does the preset's best configuration reach the aim, and by how much does it miss?

    Parameters
    ----------
    records : list of dict
        Run records; only those of ``preset`` scored on GlaS count.
    preset : str
    split : {"testA", "testB"}
    aim : float
        Pooled F1 that the best configuration's mean over ``seeds`` should reach.
    seeds : tuple of int
        A configuration counts once it has a record at every one of these seeds.

    Returns
    -------
    str
        Names the configuration with the highest mean F1 over ``seeds`` and its mean ± sd, and
        says whether it meets ``aim`` or by how much it falls short; how many configurations
        were compared; or that no configuration has all its seeds yet.

    Examples
    --------
    >>> def rec(loss, seed, f1):
    ...     return {"preset": "workshop", "seed": seed, "config": {"input": "hematoxylin", "loss": loss},
    ...             "metrics": {"testA": {"pooled": {"f1": f1}}}}
    >>> recs = [rec("L3", 0, 0.70), rec("L3", 1, 0.68), rec("L3", 2, 0.66), rec("L1", 0, 0.9)]
    >>> aim_verdict(recs)
    'The best of 1 configuration with seeds 0, 1, 2 at the workshop preset, H + L3, reaches Test A F1 0.680 ± 0.020 (mean ± sd): 0.040 short of the aim of 0.72.'
    """
    part = _part(split)
    seed_text = ", ".join(str(s) for s in seeds)
    by_label = {}
    for r in _scored(records, preset, split):
        if r.get("seed") in seeds:
            by_label.setdefault(results.config_label(r["config"]), {})[r["seed"]] = _pooled(r, split, "f1")
    complete = {label: [f1s[s] for s in seeds] for label, f1s in by_label.items() if set(f1s) == set(seeds)}
    if not complete:
        return f"Not run yet: no configuration has records at seeds {seed_text} at the {preset} preset."
    label, f1s = max(complete.items(), key=lambda kv: statistics.fmean(kv[1]))
    mean = statistics.fmean(f1s)
    verdict = (f"it meets the aim of {aim:g}" if mean >= aim else f"{aim - mean:.3f} short of the aim of {aim:g}")
    n = len(complete)
    return (f"The best of {n} configuration{'s' if n > 1 else ''} with seeds {seed_text} at the {preset} preset, "
            f"{label}, reaches {part} F1 {_mean_sd(f1s, 'f1')} (mean ± sd): {verdict}.")


def pixel_budget_sentence(curves, config: dict, *, reference="cpu-long", split="testA", aim=AIM_F1) -> str:
    """Where a preset's training budget falls on a longer protocol's learning curve.

    The budget is counted in crop pixels (:func:`glandseg.report.training.protocol_steps`), the
    quantity that a CPU's minutes buy: the sentence says how far the reference curve has come
    by that many pixels and how many it needs to reach ``aim``.

    Parameters
    ----------
    curves : list of dict
        :func:`glandseg.report.training.load_curves`.
    config : dict
        The preset's ``ExperimentConfig.to_dict()``.
    reference : str
        The preset whose curve to read (the first of its runs).
    split : {"testA", "testB"}
    aim : float
        The F1 to look for on the curve.

    Returns
    -------
    str
        One or two sentences, or "not run yet" where ``reference`` has no curve.
    """
    part = _part(split)
    budget = training.protocol_steps(config, config["train"]["epochs"])["megapixels"]
    head = (f"A run of the {config.get('preset', 'this')} preset trains on {budget:,.0f} megapixels of crops "
            f"({config['train']['epochs']} epochs).")
    ref = [c for c in curves if c["preset"] == reference and c["points"] and c.get("config")]
    if not ref:
        return head + f" The {reference} learning curve that would place it is not run yet."
    curve = ref[0]
    points = [(p["epoch"], training.protocol_steps(curve["config"], p["epoch"])["megapixels"], p[split]["f1"])
              for p in sorted(curve["points"], key=lambda p: p["epoch"])]

    below = [p for p in points if p[1] <= budget]
    above = [p for p in points if p[1] > budget]
    name = f"The {reference} learning curve (run {curve['run_id']})"
    if below:
        epoch, mpx, f1 = below[-1]
        text = head + f" {name} has {part} F1 {f1:.3f} within that budget (epoch {epoch}, {mpx:,.0f} megapixels)"
        if above:
            text += f"; after epoch {above[0][0]} ({above[0][1]:,.0f} megapixels) it has {above[0][2]:.3f}"
        text += "."
    else:
        epoch, mpx, f1 = above[0]
        text = (head + f" {name} has no point that early: after epoch {epoch}, already {mpx:,.0f} megapixels, "
                f"its {part} F1 is {f1:.3f}.")
    reached = [p for p in points if p[2] >= aim]
    if reached:
        first = reached[0]
        text += (f" That curve first reaches {aim:g} after epoch {first[0]}, at {first[1]:,.0f} megapixels: "
                 f"{first[1] / budget:.1f} times the budget.")
    else:
        text += f" It does not reach {aim:g} in the epochs it has recorded."
    return text


def expected(records, label, *, preset="workshop", split="testA", fallback=("cpu",)) -> str:
    """One sentence: what the records say a configuration scores, for an exercise's answer.

    Parameters
    ----------
    records : list of dict
    label : str
        A configuration as :func:`glandseg.results.config_label` names it, e.g. ``"H + L1"``.
    preset : str
        The preset the student trains.
    split : {"testA", "testB"}
    fallback : tuple of str
        Presets to quote, labelled as such, when ``preset`` has no record of ``label``.

    Returns
    -------
    str
        For example ``"H + L1 at the workshop preset: Test A F1 0.704 (1 run: seed 0)."``, or a
        sentence saying that it has not been run yet.

    Examples
    --------
    >>> rec = {"preset": "workshop", "seed": 0, "config": {"input": "rgb", "loss": "L3"},
    ...        "metrics": {"testA": {"pooled": {"f1": 0.7, "object_dice": 0.8, "object_hausdorff": 90.0}}}}
    >>> expected([rec], "RGB + L3")
    'RGB + L3 at the workshop preset: Test A F1 0.700, object Dice 0.800, object Hausdorff 90.0 px (1 run: seed 0).'
    >>> expected([rec], "H + L1")
    'H + L1 has not been run yet at the workshop preset (nor at the cpu preset).'
    """
    part = _part(split)
    for which in (preset, *fallback):
        recs = sorted((r for r in _scored(records, which, split) if results.config_label(r["config"]) == label),
                      key=lambda r: r.get("seed", 0))
        if not recs:
            continue
        figures = ", ".join(f"{name} {_mean_sd([_pooled(r, split, m) for r in recs], m)}" + (" px" if m == "object_hausdorff" else "")
                            for m, name in _METRIC_NAMES.items())
        seeds = ", ".join(str(r.get("seed")) for r in recs)
        runs = f"{len(recs)} run{'s' if len(recs) > 1 else ''}: seed{'s' if len(recs) > 1 else ''} {seeds}"
        note = "" if which == preset else f" (no record at the {preset} preset yet; this one trains longer and larger)"
        return f"{label} at the {which} preset{note}: {part} {figures} ({runs})."
    others = " nor at the " + ", ".join(fallback) + " preset" if fallback else ""
    return f"{label} has not been run yet at the {preset} preset{' (' + others.strip() + ')' if others else ''}."


def min_size_effect(sweeps, label, *, split="testA", opening_radius_px=0, preset=None) -> str:
    """One sentence: the F1 each smallest-object size gave in the post-processing sweeps.

    Parameters
    ----------
    sweeps : list of dict
        Sweep records (:func:`glandseg.report.sensitivity.load_sweeps`).
    label : str
        Configuration, as :func:`glandseg.results.config_label` names it.
    split : {"testA", "testB", "val"}
    opening_radius_px : int
        The opening radius of the sweep rows to read (0: no opening, as the presets).
    preset : str, optional
        Only this preset's sweeps (default: the first preset that has sweeps of ``label``).

    Returns
    -------
    str
        For example ``"H + L3 at the cpu preset (3 runs): Test A F1 0.700 at 200 px, 0.762 at
        1000 px."`` (means over the runs), or a sentence saying that no sweep exists.

    Examples
    --------
    >>> rows = [{"opening_radius_px": 0, "min_size_px": m, "f1": f} for m, f in ((200, 0.6), (1000, 0.7))]
    >>> sweep = {"preset": "cpu", "config": {"input": "hematoxylin", "loss": "L3"}, "scores": {"testA": rows}}
    >>> min_size_effect([sweep], "H + L3")
    'H + L3 at the cpu preset (1 run): Test A F1 0.600 at 200 px, 0.700 at 1000 px.'
    """
    rows = [r for r in training.equal_postprocessing_rows(sweeps, split=split, opening_radius_px=opening_radius_px,
                                                         label=label) if r["epoch"] is None]
    if preset is None and rows:
        preset = rows[0]["preset"]
    rows = [r for r in rows if r["preset"] == preset]
    if not rows:
        return f"No post-processing sweep of {label} has been run yet (`glandseg sensitivity PRESET`)."
    part = {"testA": "Test A", "testB": "Test B", "val": "validation"}[split]
    sizes = ", ".join(f"{f1:.3f} at {m} px" for m, f1 in sorted(rows[0]["f1"].items()))
    runs = rows[0]["runs"]
    opened = f" after an opening of {opening_radius_px} px" if opening_radius_px else ""
    return f"{label} at the {preset} preset ({runs} run{'s' if runs > 1 else ''}): {part} F1{opened} {sizes}."


def short_protocol(config: dict) -> str:
    """Image size, crops and epochs of a configuration: what sets its training time.

    Examples
    --------
    >>> from glandseg.config import preset_config
    >>> short_protocol(preset_config("cpu").to_dict())
    '416x288 images, 256x192 crops x4, 4 epochs'
    """
    (w, h), aug = config["preprocess"]["size"], config["augment"]
    (cw, ch) = aug["crop_size"] if aug.get("crop_size") else (w, h)
    return f"{w}x{h} images, {cw}x{ch} crops x{aug['crops_per_variant']}, {config['train']['epochs']} epochs"


def timings(records, preset=None) -> list[dict]:
    """Training minutes per preset and kind of CPU, from the records' own clocks.

    Parameters
    ----------
    records : list of dict
        Run records (:func:`glandseg.results.load_records`); those without a training time
        (a model file scored with :func:`glandseg.runner.score_network`) are skipped.
    preset : str, optional
        Only this preset's records (default: all, grouped by preset).

    Returns
    -------
    rows : list of dict
        One per (preset, protocol, CPU, precision): ``preset``, ``protocol``
        (:func:`short_protocol`: a preset's records may span a change of its protocol), ``cpu``,
        ``bfloat16``, ``precision``,
        ``runs``, ``median_min``, ``min_min``, ``max_min`` (training minutes) and ``load``
        (the highest 1-minute load average a run recorded at its end: above the core count,
        something else shared the CPU and the times are upper bounds), and ``us_per_px``: the
        median training time per pixel of the training crops (microseconds; all epochs' crops,
        validation included in the time), to size another protocol (:func:`estimate_minutes`).
    """

    groups: dict[tuple, list] = {}
    for rec in records:
        if preset is not None and rec.get("preset") != preset:
            continue
        seconds = rec.get("training", {}).get("seconds")
        if seconds is None:
            continue
        kind = cpu_kind(rec)
        key = (rec.get("preset"), short_protocol(rec["config"]), kind["cpu"], kind["bfloat16"], kind["precision"])
        groups.setdefault(key, []).append(rec)
    rows = []
    for (name, protocol, cpu, native, precision), recs in sorted(groups.items(), key=lambda kv: tuple(str(k) for k in kv[0])):
        minutes = sorted(r["training"]["seconds"] / 60 for r in recs)
        loads = [r.get("provenance", {}).get("load_avg") for r in recs]
        loads = [l[0] for l in loads if l]
        per_px = [r["training"]["seconds"] * 1e6 / (training.protocol_steps(r["config"], r["config"]["train"]["epochs"])["megapixels"] * 1e6)
                  for r in recs]
        rows.append({"preset": name, "protocol": protocol, "cpu": cpu, "bfloat16": native, "precision": precision, "runs": len(recs),
                     "median_min": statistics.median(minutes), "min_min": minutes[0], "max_min": minutes[-1],
                     "load": max(loads) if loads else None, "us_per_px": statistics.median(per_px)})
    return rows




def estimate_minutes(config: dict, us_per_px: float) -> float:
    """Training minutes of a protocol at a measured rate (:func:`timings`' ``us_per_px``).

    Examples
    --------
    >>> from glandseg.config import preset_config
    >>> cfg = preset_config("cpu").to_dict()   # 4 epochs x 4160 crops of 256x192: 818 megapixels
    >>> round(estimate_minutes(cfg, 4.0), 1)
    54.5
    """

    return training.protocol_steps(config, config["train"]["epochs"])["megapixels"] * us_per_px / 60


def timings_table(records, presets=("workshop",), caption=None, estimate_for=None) -> Table:
    """:func:`timings` of ``presets`` as a table for the teacher's guide.

    ``estimate_for`` (a configuration dict, e.g. of today's workshop preset) adds a column: its
    training minutes at each row's rate (:func:`estimate_minutes`), a rough guide where the
    crops differ in size (small crops use a CPU less well).
    """
    rows = [r for p in presets for r in timings(records, p)]
    body = [[r["preset"], r["protocol"], r["cpu"], r["bfloat16"], r["precision"], r["runs"],
             f"{r['median_min']:.1f}" + (f" ({r['min_min']:.1f}–{r['max_min']:.1f})" if r["runs"] > 1 else ""),
             "not recorded" if r["load"] is None else f"{r['load']:.1f}", f"{r['us_per_px']:.2f}"]
            + ([f"{estimate_minutes(estimate_for, r['us_per_px']):.1f}"] if estimate_for is not None else [])
            for r in rows]
    cols = ["preset", "protocol", "CPU", "bfloat16", "precision", "runs", "training minutes: median (range)", "highest load",
            "µs per crop pixel"]
    if estimate_for is not None:
        cols.append(f"{estimate_for.get('preset', 'this')} preset today: minutes at that rate")
    return Table(cols, body or [["not run yet"] + [""] * (len(cols) - 1)], caption=caption)


def protocol_line(config: dict, postprocess: bool = True) -> str:
    """A record's (or ``ExperimentConfig.to_dict()``'s) training protocol in one line.

    Parameters
    ----------
    config : dict
        The configuration, as a record stores it.
    postprocess : bool, optional
        Whether to end with the post-processing (smallest object kept, opening). Without it, the
        line names only what training does: what a candidate protocol changes.

    Examples
    --------
    >>> from glandseg.config import PostprocessConfig, preset_config
    >>> protocol_line(preset_config("paper").to_dict())
    'images 832x576, paper crops of 416x288, 100 epochs of batch 8, adam, lr 0.001, constant, objects from 200 px'
    >>> protocol_line(preset_config("paper").replace(postprocess=PostprocessConfig(opening_radius_px=4)).to_dict())[-44:]
    'objects from 200 px after an opening of 4 px'
    >>> protocol_line(preset_config("paper").to_dict(), postprocess=False)[-24:]
    'adam, lr 0.001, constant'
    """
    from glandseg.report.analysis import protocol

    p = protocol({"config": config})
    opening = config.get("postprocess", {}).get("opening_radius_px") or 0
    line = (f"images {p['size']}, {p['augment']} crops of {p['crop']}, {p['epochs']} epochs of batch {p['batch_size']}, "
            f"{p['optimizer']}")
    if not postprocess:
        return line
    return line + f", objects from {p['min_object_px']} px" + (f" after an opening of {opening} px" if opening else "")


def _own_test_a(sweep, recorded):
    if "testA" in sweep["scores"]:
        return float(sweep["scores"]["testA"][sweep["chosen"]["own"]]["f1"])
    rec = recorded.get((sweep.get("preset"), sweep.get("run_id")))
    return None if rec is None else float(rec["metrics"]["testA"]["pooled"]["f1"])


def _mean_or_none(values):
    return None if any(v is None for v in values) else float(np.mean(values))


def protocol_choice_rows(sweeps, *, label="H + L3", us_per_px=None, records=()) -> list[dict]:
    """Candidate training protocols compared on their validation images, one row per protocol.

    The runs of each protocol are post-processing sweeps (:mod:`glandseg.report.sensitivity`)
    of ``label`` at the same seeds, so the protocols meet on the same validation images (a
    seed draws them). Test A is carried for the record but takes no part in the choice.

    Parameters
    ----------
    sweeps : list of dict
        Sweep records of the candidates' runs, in the order the rows should follow.
    label : str
        Configuration (:func:`glandseg.results.config_label`); other sweeps are ignored.
    us_per_px : float, optional
        Training time per crop pixel of the slowest CPU (microseconds, :func:`timings`): adds each
        protocol's estimated training minutes there.
    records : list of dict, optional
        The runs' records (``load_records(..., tagged=True)``): the Test A F1 of a run whose
        sweep scored the validation images only (``glandseg sensitivity --splits val``).

    Returns
    -------
    rows : list of dict
        ``protocol`` (one line), ``config`` (its first run's), ``seeds``, ``val`` (dict: seed ->
        validation F1 at the protocol's own post-processing), ``val_mean``, ``best_setting``
        (``(opening_radius_px, min_size_px)`` with the highest mean validation F1) and
        ``best_val_mean``, ``testA_mean`` (Test A F1 at the own post-processing, mean over the
        runs; None where a run has neither a Test A sweep nor a record), and ``minutes`` (None
        without ``us_per_px``).

    Examples
    --------
    >>> from glandseg.config import preset_config
    >>> cfg = preset_config("workshop").to_dict()
    >>> def sweep(seed, val, test):
    ...     rows = lambda f: [{"opening_radius_px": 0, "min_size_px": m, "f1": f + d} for m, d in ((200, 0), (1000, 0.1))]
    ...     return {"config": cfg, "seed": seed, "own": {"opening_radius_px": 0, "min_size_px": 1000},
    ...             "chosen": {"own": 1, "by_val": 1}, "scores": {"val": rows(val), "testA": rows(test)}}
    >>> [row] = protocol_choice_rows([sweep(0, 0.5, 0.6), sweep(1, 0.7, 0.6)])
    >>> row["seeds"], round(row["val_mean"], 3), row["best_setting"], round(row["testA_mean"], 3)
    ([0, 1], 0.7, (0, 1000), 0.7)
    """
    from glandseg.report import sensitivity

    recorded = {(r.get("preset"), r.get("run_id")): r for r in records}
    groups: dict[str, list] = {}
    for sw in sweeps:
        if results.config_label(sw["config"]) == label:
            groups.setdefault(protocol_line(sw["config"], postprocess=False), []).append(sw)
    rows = []
    for line, group in groups.items():
        group = sorted(group, key=lambda sw: sw.get("seed", 0))
        val = {sw.get("seed"): float(sw["scores"]["val"][sw["chosen"]["own"]]["f1"]) for sw in group}
        grid = sensitivity.mean_grid(group, "val")
        i, j = np.unravel_index(np.nanargmax(grid["values"]), grid["values"].shape)
        rows.append({"protocol": line, "config": group[0]["config"], "seeds": list(val), "val": val,
                     "val_mean": float(np.mean(list(val.values()))),
                     "best_setting": (grid["opening_radius_px"][i], grid["min_size_px"][j]),
                     "best_val_mean": float(grid["values"][i, j]),
                     "testA_mean": _mean_or_none([_own_test_a(sw, recorded) for sw in group]),
                     "minutes": None if us_per_px is None else estimate_minutes(group[0]["config"], us_per_px)})
    return rows


def protocol_choice_sentence(rows, preset_config: dict, *, budget_min=15.0) -> str:
    """Which candidate the validation images chose, by how much, and whether the preset trains it.

    The choice is the highest mean validation F1 among the protocols whose estimated minutes
    (``rows[i]["minutes"]``) fit ``budget_min``; rows without an estimate are taken to fit. Its
    post-processing is the setting with the best mean validation F1 (``best_setting``).

    Examples
    --------
    >>> from glandseg.config import preset_config
    >>> cfg = preset_config("workshop").to_dict()
    >>> post = (cfg["postprocess"]["opening_radius_px"], cfg["postprocess"]["min_size_px"])
    >>> rows = [{"protocol": "A", "val_mean": 0.8, "minutes": 20.0, "config": cfg, "best_setting": post},
    ...         {"protocol": protocol_line(cfg, postprocess=False), "val_mean": 0.7, "minutes": 12.0, "config": cfg,
    ...          "best_setting": post, "best_val_mean": 0.71}]
    >>> protocol_choice_sentence(rows, cfg).endswith("The workshop preset trains this protocol with this post-processing.")
    True
    """
    fitting = [r for r in rows if r.get("minutes") is None or r["minutes"] <= budget_min]
    if not fitting:
        return f"No candidate protocol with a record fits {budget_min:g} minutes yet."
    ranked = sorted(fitting, key=lambda r: r["val_mean"], reverse=True)
    best = ranked[0]
    over = [r for r in rows if r not in fitting]
    text = (f"The validation images chose {best['protocol']} (mean validation F1 {best['val_mean']:.3f} over "
            f"{len(best.get('seeds', [])) or 'its'} seeds"
            + (f", about {best['minutes']:.1f} minutes of training on the slowest CPU" if best.get("minutes") is not None else "")
            + ")")
    if len(ranked) > 1:
        text += f"; the next best, {ranked[1]['protocol']}, scored {ranked[1]['val_mean']:.3f}"
    if over:
        text += f"; {len(over)} protocol{'s' if len(over) > 1 else ''} over {budget_min:g} minutes took no part"
    opening, size = best["best_setting"]
    text += (f". On its validation images the post-processing scored best with an opening of {opening} px and "
             f"objects from {size} px (mean F1 {best['best_val_mean']:.3f}). ")
    post = preset_config.get("postprocess", {})
    same = protocol_line(preset_config, postprocess=False) == best["protocol"]
    same_post = (post.get("opening_radius_px"), post.get("min_size_px")) == (opening, size)
    name = preset_config.get("preset", "this")
    if same and same_post:
        return text + f"The {name} preset trains this protocol with this post-processing."
    if same:
        return text + (f"The {name} preset trains this protocol, with an opening of {post.get('opening_radius_px')} px "
                       f"and objects from {post.get('min_size_px')} px.")
    return text + f"The {name} preset trains another one: {protocol_line(preset_config, postprocess=False)}."


def protocol_choice_margin(rows) -> str:
    """How far apart the protocols are, against how far apart the seeds are, in one sentence.

    The spread between protocols is the range of their mean validation F1; the spread between
    seeds is, for each protocol, the range over its seeds, averaged over the protocols.

    Examples
    --------
    >>> rows = [{"val_mean": 0.75, "val": {0: 0.6, 1: 0.9}}, {"val_mean": 0.80, "val": {0: 0.7, 1: 0.9}}]
    >>> print(protocol_choice_margin(rows))
    The protocols' mean validation F1 spans 0.050; one protocol's seeds span 0.250 on average, so the choice is within the noise of five validation images a seed.
    """
    if len(rows) < 2:
        return "Fewer than two candidate protocols have been swept: there is no choice to judge yet."
    between = max(r["val_mean"] for r in rows) - min(r["val_mean"] for r in rows)
    seeds = float(np.mean([max(r["val"].values()) - min(r["val"].values()) for r in rows]))
    verdict = ("so the choice is within the noise of five validation images a seed" if seeds >= between
               else "so the protocols differ by more than their seeds do")
    return (f"The protocols' mean validation F1 spans {between:.3f}; one protocol's seeds span {seeds:.3f} "
            f"on average, {verdict}.")


def protocol_choice_table(rows, caption=None) -> Table:
    """:func:`protocol_choice_rows` as a table; the validation columns are the ones that choose."""
    seeds = sorted({s for r in rows for s in r["seeds"]})
    body = [[r["protocol"]] + [f"{r['val'][s]:.3f}" if s in r["val"] else "—" for s in seeds]
            + [f"{r['val_mean']:.3f}",
               f"{r['best_val_mean']:.3f} (opening {r['best_setting'][0]} px, from {r['best_setting'][1]} px)",
               "—" if r["minutes"] is None else f"{r['minutes']:.1f}",
               "—" if r["testA_mean"] is None else f"{r['testA_mean']:.3f}"]
            for r in rows]
    cols = (["training protocol"] + [f"validation F1, seed {s}" for s in seeds]
            + ["validation F1, mean", "best post-processing on validation (mean F1)",
               "training minutes, slowest CPU (estimate)", "Test A F1, mean (not used to choose)"])
    return Table(cols, body or [["not run yet"] + [""] * (len(cols) - 1)], caption=caption)


def provenance_table(record) -> Table:
    """Where a run's figures come from: configuration, protocol, time, CPU, code and versions."""
    prov, trained = record.get("provenance", {}), record.get("training", {})
    kind = cpu_kind(record)
    commit = (prov.get("git_commit") or "unknown")[:10] + (" (with uncommitted changes)" if prov.get("dirty") else "")
    versions = prov.get("versions", {})
    seconds = trained.get("seconds")
    rows = [
        ["run", f"{record.get('run_id')} (preset {record.get('preset')}, seed {record.get('seed')})"],
        ["configuration", results.config_label(record["config"])],
        ["protocol", protocol_line(record["config"])],
        ["trained", "not here: a model file" if seconds is None else
         f"{seconds / 60:.1f} min in {kind['precision']}"],
        ["CPU", f"{kind['cpu']}; bfloat16: {kind['bfloat16']}; load at the end "
                f"{(prov.get('load_avg') or ['unknown'])[0]}"],
        ["code", f"glandseg {versions.get('glandseg', '?')}, commit {commit}"],
        ["versions", ", ".join(f"{k} {v}" for k, v in versions.items() if k != "glandseg")],
    ]
    if trained.get("model_file"):
        rows.insert(3, ["network", f"{trained['model_file']} (trained as run {trained.get('source_run')})"])
    return Table(["", ""], rows, caption="Where these figures come from")


def execution_summary(path) -> dict:
    """When and how long a papermill execution of a notebook ran, from its own metadata.

    Parameters
    ----------
    path : path
        An ``.ipynb`` written by papermill (e.g. the book's ``workshop-notebook.ipynb``).

    Returns
    -------
    dict
        ``minutes`` (wall-clock, the whole notebook), ``start`` (ISO date and time, UTC),
        ``parameters`` (those papermill injected) and ``failed`` (papermill saw an exception).

    Raises
    ------
    ValueError
        If the notebook was not executed by papermill.
    """
    import json
    from pathlib import Path

    meta = json.loads(Path(path).read_text()).get("metadata", {}).get("papermill")
    if not meta or meta.get("duration") is None:
        raise ValueError(f"{path} holds no papermill execution (run it with papermill or `make workshop-notebook`)")
    return {"minutes": float(meta["duration"]) / 60, "start": str(meta.get("start_time", ""))[:19].replace("T", " "),
            "parameters": dict(meta.get("parameters") or {}), "failed": bool(meta.get("exception"))}


WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


def strip_widgets(path) -> int:
    """Remove Jupyter widget outputs (tqdm's progress bars) from an executed notebook, in place.

    In a kernel with ipywidgets, tqdm draws its bars as widgets. A saved notebook keeps only
    their first state (0%), and a book page that shows them loads the widget JavaScript from a
    CDN, which an offline book must not. ``make workshop-notebook`` calls this on the execution
    the book shows.

    Returns
    -------
    int
        The number of outputs removed.
    """
    import nbformat

    nb = nbformat.read(path, as_version=4)
    removed = 0
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        kept = [o for o in cell.get("outputs", []) if WIDGET_MIME not in o.get("data", {})]
        removed += len(cell.outputs) - len(kept)
        cell.outputs = kept
    nb.metadata.pop("widgets", None)
    nbformat.write(nb, path)
    return removed
