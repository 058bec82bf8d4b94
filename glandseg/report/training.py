"""How the network is trained, as measured: precision, and how long is long enough.

Serves two book pages:

- book/method.md, "float32 or bfloat16": :func:`precision_check` pairs the runs of one
  configuration and seed made in float32 and in ``mixed_bfloat16`` (``results/precision/``)
  and sets their differences beside the spread between seeds; :func:`precision_table` and
  :func:`precision_figure` show them.
- book/results.md, "How long is long enough": :func:`load_curves` reads the learning curves
  (``curve.json``) of runs trained with ``--curve``, finished or still training;
  :func:`convergence_figure` draws them against epochs or computing hours beside the 4-epoch
  runs and the paper's figures; :func:`read_curve` and :func:`curve_sentence` say where a
  curve flattens and whether it reaches the paper, :func:`budget_table` what a budget of hours
  buys; :func:`selected_epoch`, :func:`selection_sentence` and :func:`validation_figure` say
  which epoch's network the validation images select for a run's record;
  :func:`training_estimate` projects a run's hours from its epochs so far; :func:`slow_epochs`
  finds the epochs whose wall-clock time a pause or other work on the CPU stretched;
  :func:`equal_postprocessing_rows` sets networks of several protocols side by side under the
  same post-processing sizes (from ``glandseg sensitivity [--epoch N]`` sweeps).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from glandseg import results
from glandseg.runner import STOPPED
from glandseg.report import results_figures
from glandseg.report._format import _METRIC_NAMES
from glandseg.report.tables import Table

__all__ = [
    "PRECISION_RESULTS",
    "precision_check",
    "slow_epochs",
    "precision_table",
    "precision_figure",
    "load_curves",
    "selected_epoch",
    "selection_sentence",
    "validation_figure",
    "STOPPED",
    "run_status",
    "cpu_kind",
    "training_estimate",
    "trained_on",
    "convergence_figure",
    "read_curve",
    "curve_sentence",
    "budget_table",
    "equal_postprocessing_rows",
    "equal_postprocessing_table",
    "protocol_steps",
]

#: Where ``glandseg grid ... --precision P --results results/precision`` puts the paired runs.
PRECISION_RESULTS = "results/precision"

_METRICS = tuple((m, _METRIC_NAMES[m], d) for m, d in (("f1", 3), ("object_dice", 3), ("object_hausdorff", 1)))
_DIGITS = {m: d for m, _, d in _METRICS}
_SPLITS = (("testA", "Test A"), ("testB", "Test B"))
_SPLIT_NAMES = dict(_SPLITS)



def precision_check(records, baseline="float32", other="mixed_bfloat16") -> dict:
    """Pair runs that differ only in precision and compare the differences with the seed spread.

    Parameters
    ----------
    records : list of dict
        Run records (:func:`glandseg.results.load_records` of :data:`PRECISION_RESULTS`); each
        holds its explicit ``config.train.precision``.
    baseline, other : str
        The two precisions compared (``other - baseline``).

    Returns
    -------
    dict
        ``pairs``: one dict per (preset, configuration, seed) run in both precisions, with the
        pooled figures (``baseline`` and ``other``: ``{split: {metric: value}}``) and training
        seconds, CPU model and 1-minute load average at the end of each; ``summary``: ``{split: {metric: {"mean_difference", "sd_difference",
        "seed_sd"}}}`` where ``seed_sd`` is the sample sd over seeds of the baseline runs (None
        below two pairs); ``speedup``: baseline seconds / other seconds per pair; ``cpus``: the
        CPU models that made the runs; ``load_range``: the lowest and highest load average.

    Examples
    --------
    >>> def rec(p, seed, f1, sec):
    ...     return {"preset": "w", "seed": seed, "config": {"input": "hematoxylin", "loss": "L3",
    ...             "train": {"precision": p}}, "training": {"seconds": sec},
    ...             "metrics": {s: {"pooled": {"f1": f1, "object_dice": 0.8, "object_hausdorff": 90.0}}
    ...                         for s in ("testA", "testB")}}
    >>> out = precision_check([rec("float32", 0, 0.70, 300), rec("mixed_bfloat16", 0, 0.72, 200),
    ...                        rec("float32", 1, 0.74, 300), rec("mixed_bfloat16", 1, 0.73, 200)])
    >>> round(out["summary"]["testA"]["f1"]["mean_difference"], 3), out["speedup"]
    (0.005, [1.5, 1.5])
    """
    by_key: dict[tuple, dict] = {}
    for rec in records:
        precision = rec.get("config", {}).get("train", {}).get("precision")
        if precision not in (baseline, other):
            continue
        key = (rec.get("preset"), results.config_label(rec["config"]), rec.get("seed"))
        by_key.setdefault(key, {})[precision] = rec
    pairs = []
    for (preset, method, seed), both in sorted(by_key.items(), key=lambda kv: (str(kv[0][0]), kv[0][1], kv[0][2] or 0)):
        if baseline not in both or other not in both:
            continue
        row = {"preset": preset, "method": method, "seed": seed}
        for name in (baseline, other):
            rec = both[name]
            row[name] = {s: {m: rec["metrics"][s]["pooled"][m] for m, _, _ in _METRICS} for s, _ in _SPLITS
                         if s in rec.get("metrics", {})}
            row[f"{name}_seconds"] = rec.get("training", {}).get("seconds")
            row[f"{name}_cpu"] = rec.get("provenance", {}).get("cpu", {}).get("model")
            row[f"{name}_load"] = (rec.get("provenance", {}).get("load_avg") or [None])[0]
        pairs.append(row)
    summary = {}
    for split, _ in _SPLITS:
        summary[split] = {}
        for metric, _, _ in _METRICS:
            diffs = [p[other][split][metric] - p[baseline][split][metric] for p in pairs
                     if split in p[baseline] and split in p[other]]
            base = [p[baseline][split][metric] for p in pairs if split in p[baseline]]
            summary[split][metric] = {
                "mean_difference": float(np.mean(diffs)) if diffs else None,
                "sd_difference": float(np.std(diffs, ddof=1)) if len(diffs) > 1 else None,
                "seed_sd": float(np.std(base, ddof=1)) if len(base) > 1 else None,
                "n": len(diffs),
            }
    speedup = [p[f"{baseline}_seconds"] / p[f"{other}_seconds"] for p in pairs
               if p.get(f"{baseline}_seconds") and p.get(f"{other}_seconds")]
    cpus = sorted({p[f"{n}_cpu"] for p in pairs for n in (baseline, other) if p.get(f"{n}_cpu")})
    loads = [p[f"{n}_load"] for p in pairs for n in (baseline, other) if p.get(f"{n}_load") is not None]
    return {"baseline": baseline, "other": other, "pairs": pairs, "summary": summary, "speedup": speedup, "cpus": cpus,
            "load_range": (min(loads), max(loads)) if loads else None}


def _fmt(value, digits, signed=False):
    if value is None:
        return "n/a"
    return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"


def precision_table(check: dict, caption=None) -> Table:
    """Each pair's figures in both precisions, then the mean difference beside the seed spread."""
    base, other = check["baseline"], check["other"]
    cols = ["run", "precision", "training (min)"] + [f"{s} {label}" for s, _ in _SPLITS for _, label, _ in _METRICS[:1]] + \
        [f"Test A {label}" for _, label, _ in _METRICS[1:]]
    rows = []
    for p in check["pairs"]:
        for name in (base, other):
            fig = p[name]
            secs = p.get(f"{name}_seconds")
            rows.append([f"{p['method']}, seed {p['seed']}", name, _fmt(secs / 60 if secs else None, 1),
                         *(_fmt(fig.get(s, {}).get("f1"), 3) for s, _ in _SPLITS),
                         *(_fmt(fig.get("testA", {}).get(m), d) for m, _, d in _METRICS[1:])])
    if check["pairs"]:
        sm = check["summary"]
        speed = check["speedup"]
        rows.append([f"mean difference ({other} − {base})", "", f"{np.mean(speed):.2f}x faster" if speed else "n/a",
                     *(_fmt(sm[s]["f1"]["mean_difference"], 3, True) for s, _ in _SPLITS),
                     *(_fmt(sm["testA"][m]["mean_difference"], d, True) for m, _, d in _METRICS[1:])])
        rows.append([f"sd between seeds ({base})", "", "",
                     *(_fmt(sm[s]["f1"]["seed_sd"], 3) for s, _ in _SPLITS),
                     *(_fmt(sm["testA"][m]["seed_sd"], d) for m, _, d in _METRICS[1:])])
    if caption is None:
        caption = ("Paired runs in float32 and bfloat16: " + (", ".join(check["cpus"]) or "not run yet"))
    return Table(cols, rows or [["not run yet"] + [""] * (len(cols) - 1)], caption=caption)


def precision_figure(check: dict):
    """Pooled F1 of each seed in both precisions, Test A and Test B, one line per seed."""
    import matplotlib.pyplot as plt

    if not check["pairs"]:
        return None
    base, other = check["baseline"], check["other"]
    fig, axes = plt.subplots(1, 2, figsize=(7.5, 3.2), sharey=False)
    for ax, (split, title) in zip(axes, _SPLITS):
        for p in check["pairs"]:
            if split not in p[base] or split not in p[other]:
                continue
            ys = [p[base][split]["f1"], p[other][split]["f1"]]
            ax.plot([0, 1], ys, "o-", label=f"seed {p['seed']}")
        ax.set_xticks([0, 1], [base, other])
        ax.set_xlim(-0.3, 1.3)
        ax.set_title(f"{title}: pooled F1", fontsize=10)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def load_curves(root="results") -> list[dict]:
    """Learning curves of every run folder under ``root`` that has a ``curve.json``.

    Returns
    -------
    list of dict
        ``preset``, ``run_id``, ``path``, ``points`` (as written by the runner: ``epoch``,
        ``train_seconds``, ``val_loss``, ``testA`` and ``testB`` pooled figures),
        ``epochs_planned`` (the configuration's), ``epochs_done`` (from ``history.csv``),
        ``finished`` (a record exists), ``epoch_seconds`` (each finished epoch's seconds),
        ``cpu`` (the record's CPU model, where finished), ``sessions`` (the training processes
        with their CPUs, :func:`glandseg.train.train`; from the record where finished, else from
        ``train_state.json``), ``precision`` (the record's, else the resolved one in
        ``train_state.json``), ``config`` (the run's ``config.json``, empty where it has none),
        ``stopped`` (the folder's :data:`STOPPED` note of a run that will never finish, else None),
        ``loss`` and ``monitored`` (each finished epoch's training loss and the loss that selects
        the kept network: the validation loss, or the training loss of a run without validation
        images), ``monitor`` (its name), ``keep`` (the configuration's ``train.keep``),
        ``selected`` (:func:`selected_epoch` as ``{"epoch", "value", "hours"}``, None before an
        epoch) and ``record_pooled`` (the record's pooled figures by test split; empty before it).
    """
    out = []
    for path in sorted(Path(root).glob("*/*/curve.json")):
        run = path.parent
        curve = json.loads(path.read_text())
        config = json.loads((run / "config.json").read_text()) if (run / "config.json").exists() else {}
        history = results_figures._read_history(run / "history.csv") if (run / "history.csv").exists() else {}
        epoch_seconds = [float(v) for v in history.get("seconds", [])]
        record = json.loads((run / "record.json").read_text()) if (run / "record.json").exists() else None
        state = json.loads((run / "train_state.json").read_text()) if (run / "train_state.json").exists() else {}
        training = (record or {}).get("training", {})
        monitor = "val_loss" if np.isfinite(history.get("val_loss", [np.nan])).any() else "loss"
        monitored = [float(v) for v in history.get(monitor, [])]
        keep = config.get("train", {}).get("keep", "best")
        chosen = selected_epoch(monitored, keep)
        selected = None if chosen is None else {
            "epoch": chosen, "value": monitored[chosen - 1], "hours": sum(epoch_seconds[:chosen]) / 3600}
        out.append({
            "preset": config.get("preset", run.parent.name),
            "run_id": run.name,
            "path": str(run),
            "points": curve.get("points", []),
            "epochs_planned": config.get("train", {}).get("epochs"),
            "epochs_done": len(epoch_seconds),
            "epoch_seconds": epoch_seconds,
            "finished": record is not None,
            "cpu": (record or {}).get("provenance", {}).get("cpu", {}).get("model"),
            "record_cpu": (record or {}).get("provenance", {}).get("cpu"),
            "sessions": training.get("sessions") if record else state.get("sessions", []),
            "precision": training.get("precision") if record else (state.get("precision") or {}).get("precision"),
            "config": config,
            "stopped": None if record or not (run / STOPPED).exists() else json.loads((run / STOPPED).read_text()),
            "loss": [float(v) for v in history.get("loss", [])],
            "monitored": monitored,
            "monitor": monitor,
            "keep": keep,
            "selected": selected,
            "record_pooled": {split: m["pooled"] for split, m in (record or {}).get("metrics", {}).items()
                              if "pooled" in m},
        })
    return out


def selected_epoch(monitored, keep: str = "best") -> int | None:
    """The epoch (from 1) whose network a run keeps for prediction, as training chooses it.

    With ``keep="best"`` that is the first epoch with the lowest monitored loss (a later epoch
    must be strictly lower to replace it; an epoch whose loss is NaN never does), with
    ``keep="last"`` the last epoch (:class:`glandseg.config.TrainConfig`).

    Parameters
    ----------
    monitored : sequence of float
        The monitored loss after each epoch (``history.csv``'s ``val_loss``).
    keep : {"best", "last"}

    Returns
    -------
    int or None
        None when no epoch has finished, or none has a loss to compare.

    Examples
    --------
    >>> selected_epoch([-1.0, -3.0, -2.5, -3.0])
    2
    >>> selected_epoch([-1.0, -3.0, -2.5], keep="last")
    3
    """
    if keep not in ("best", "last"):
        raise ValueError(f"keep must be 'best' or 'last'. Received: keep={keep!r}")
    values = [float(v) for v in monitored]
    if keep == "last":
        return len(values) or None
    best, epoch = np.inf, None
    for i, v in enumerate(values, 1):
        if v < best:  # False for NaN, as in training
            best, epoch = v, i
    return epoch


def selection_sentence(curve: dict) -> str:
    """Which epoch's network a run's record scores (or will score), in one sentence for the book.

    Examples
    --------
    >>> c = {"preset": "paper", "run_id": "r", "finished": False, "stopped": None, "epochs_done": 56,
    ...      "epochs_planned": 100, "keep": "best", "monitor": "val_loss", "monitored": [-20.0] * 55 + [-20.2],
    ...      "selected": {"epoch": 33, "value": -21.317, "hours": 3.3}}
    >>> print(selection_sentence(c))  # doctest: +NORMALIZE_WHITESPACE
    `paper` r (56 of 100 epochs so far): the validation loss is lowest after epoch 33 (-21.317, 3.3 h of
    training); after epoch 56 it is -20.200, 1.117 higher. Unless a later epoch beats epoch 33, the
    record will score the network after it.
    """
    name = f"`{curve.get('preset')}` {curve.get('run_id')} ({run_status(curve)})"
    sel = curve.get("selected")
    if sel is None:
        return f"{name}: no epoch finished yet."
    what = "validation loss" if curve.get("monitor") == "val_loss" else "training loss (no validation images)"
    if curve.get("keep") == "last":
        text = f"{name}: it keeps the network after its last epoch (`keep='last'`), epoch {sel['epoch']}"
    else:
        text = (f"{name}: the {what} is lowest after epoch {sel['epoch']} ({sel['value']:.3f}, "
                f"{sel['hours']:.1f} h of training)")
        last = curve.get("monitored") or []
        if len(last) > sel["epoch"] and np.isfinite(last[-1]):
            text += f"; after epoch {len(last)} it is {last[-1]:.3f}, {last[-1] - sel['value']:.3f} higher"
    if curve.get("finished"):
        text += ". The record scores that network"
        rec = curve.get("record_pooled") or {}
        end = next((p for p in curve.get("points", []) if p["epoch"] == len(curve.get("monitored") or [])), None)
        splits = [s for s, _ in _SPLITS if s in rec and end is not None and s in end]
        if splits and end["epoch"] != sel["epoch"]:
            ours = ", ".join(f"{_SPLIT_NAMES[s]} {rec[s]['f1']:.3f}" for s in splits)
            last = ", ".join(f"{_SPLIT_NAMES[s]} {end[s]['f1']:.3f}" for s in splits)
            return text + (f" (pooled F1 {ours}); the last epoch's network, on the curve, scored {last}.")
        return text + "."
    if curve.get("stopped"):
        return text + ". The run stopped for good and has no record."
    if curve.get("keep") == "last":
        return text + " so far."
    return text + f". Unless a later epoch beats epoch {sel['epoch']}, the record will score the network after it."


def validation_figure(curves):
    """The loss after every epoch of each learning-curve run, with the epoch its record keeps.

    The monitored (validation) loss is drawn solid, the training loss thin and faint, and the
    kept epoch (:func:`selected_epoch`) as a star; a run that stopped for good is dashed, without
    a star (it has no record).

    Returns
    -------
    matplotlib.figure.Figure or None
        None when no run has finished an epoch.
    """
    import matplotlib.pyplot as plt

    curves = [c for c in curves if c.get("monitored")]
    if not curves:
        return None
    fig, ax = plt.subplots(figsize=(8, 3.6), constrained_layout=True)
    for c in curves:
        epochs = np.arange(1, len(c["monitored"]) + 1)
        style = dict(ls="--", alpha=0.55) if c.get("stopped") else dict(ls="-")
        status = "" if c["finished"] else f", {run_status(c)}"
        (line,) = ax.plot(epochs, c["monitored"], label=f"{c['preset']} {c['run_id']}{status}: "
                          f"{'validation' if c['monitor'] == 'val_loss' else 'training'} loss", **style)
        if c.get("loss") and c["monitor"] == "val_loss":
            ax.plot(np.arange(1, len(c["loss"]) + 1), c["loss"], color=line.get_color(), lw=0.8, alpha=0.35,
                    ls=style["ls"])
        sel = c.get("selected")
        if sel is not None and not c.get("stopped"):  # a stopped run has no record to score it
            ax.plot([sel["epoch"]], [sel["value"]], "*", ms=12, color=line.get_color(), mec="k", mew=0.5)
    ax.plot([], [], color="0.5", lw=0.8, alpha=0.5, label="training loss (faint)")
    ax.plot([], [], "*", color="0.5", mec="k", mew=0.5, ms=10, label="the network its record scores (or will)")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss (lower is better)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper right")
    return fig


def run_status(curve: dict) -> str:
    """How far a run got, for labels: "finished", "N of M epochs so far" or "stopped after N of M epochs".

    Examples
    --------
    >>> run_status({"finished": False, "epochs_done": 5, "epochs_planned": 100, "stopped": None})
    '5 of 100 epochs so far'
    >>> run_status({"finished": False, "epochs_done": 32, "epochs_planned": 100, "stopped": {"reason": "lost"}})
    'stopped after 32 of 100 epochs'
    """
    if curve.get("finished"):
        return "finished"
    done = f"{curve.get('epochs_done')} of {curve.get('epochs_planned')} epochs"
    return f"stopped after {done}" if curve.get("stopped") else f"{done} so far"


def cpu_kind(record) -> dict:
    """The CPU a record ran on: ``{"cpu", "bfloat16", "precision"}`` as display strings.

    Records made before CPU flags were recorded name only the CPU model; their bfloat16 support
    reads ``"not recorded"``. The precision is the one training resolved to, else the
    configuration's (older records trained in float32, the default then).

    Examples
    --------
    >>> cpu_kind({"provenance": {"cpu": {"model": "EPYC", "family": 26, "model_number": 2, "native_bfloat16": True}},
    ...           "training": {"precision": "mixed_bfloat16"}, "config": {}})
    {'cpu': 'EPYC (family 26, model 2)', 'bfloat16': 'native', 'precision': 'mixed_bfloat16'}
    """
    prov = record.get("provenance", {})
    cpu = prov.get("cpu") if isinstance(prov.get("cpu"), dict) else None
    if cpu:
        native = "native" if cpu.get("native_bfloat16") else "none"
        name = _cpu_label(cpu)
    else:
        name = str(prov.get("device", "unknown")).split(",")[0]
        native = "not recorded"
    return {"cpu": name, "bfloat16": native, "precision": results.training_precision(record)}


def _cpu_label(cpu: dict | None) -> str:
    if not cpu:
        return "CPU not recorded"
    return f"{cpu.get('model', '?')} (family {cpu.get('family', '?')}, model {cpu.get('model_number', '?')})"


def trained_on(curve: dict) -> str:
    """Which CPU timed which epochs of a run, from its training sessions.

    Consecutive sessions on the same CPU are merged. Epochs trained before the run recorded its
    sessions (runs begun before ``train_state.json`` listed them) read "CPU not recorded"; a
    finished run without sessions names its record's CPU (the one that finished it).

    Examples
    --------
    >>> xeon = {"model": "Xeon", "family": 6, "model_number": 207}
    >>> trained_on({"sessions": [{"epoch": 35, "batch": 120, "cpu": xeon}, {"epoch": 60, "batch": 0, "cpu": xeon}],
    ...             "precision": "mixed_bfloat16", "finished": False})
    'epochs 1-35: CPU not recorded; from epoch 36: Xeon (family 6, model 207); mixed_bfloat16'
    """
    sessions = curve.get("sessions") or []
    precision = f"; {curve['precision']}" if curve.get("precision") else ""
    if not sessions:
        if curve.get("finished") and curve.get("record_cpu"):
            return f"{_cpu_label(curve['record_cpu'])} (the CPU that finished it){precision}"
        return f"CPU not recorded{precision}"
    parts = []
    first = sessions[0]
    if first["epoch"] or first["batch"]:
        parts.append((f"epochs 1-{first['epoch']}" if first["epoch"] else "the start of epoch 1", "CPU not recorded"))
    for s in sessions:
        label = _cpu_label(s.get("cpu"))
        if parts and parts[-1][1] == label:
            continue
        parts.append((f"from epoch {s['epoch'] + 1}", label))
    if len(parts) == 1 and not (first["epoch"] or first["batch"]):
        return f"{parts[0][1]}{precision}"
    return "; ".join(f"{when}: {label}" for when, label in parts) + precision


def _typical_epoch_seconds(secs) -> float:
    # The first epoch carries start-up costs (tracing, compiling, the first data pass). Sharing
    # the CPU or a pause only ever lengthens an epoch, so the lower quartile of the rest keeps
    # to the CPU's own pace even when half the epochs shared it, which the median does not.
    return float(np.percentile(secs[1:], 25)) if len(secs) > 1 else float(secs[0])


def training_estimate(epoch_seconds, total_epochs: int) -> dict | None:
    """Projected training hours of a run from its finished epochs.

    The first epoch includes start-up costs, so the projection is the finished epochs' seconds
    plus the remaining epochs at the typical epoch: the lower quartile of the epochs after the
    first (the first alone when it is the only one), since other work on the CPU or a pause only
    ever lengthens an epoch.

    Returns
    -------
    dict or None
        ``done_hours``, ``projected_hours``, ``epoch_seconds`` (the typical epoch used), ``epochs_done``;
        None without a finished epoch.

    Examples
    --------
    >>> training_estimate([400.0, 300.0, 310.0], 10)["projected_hours"]  # (1010 + 7 x 302.5) / 3600
    0.86875
    """
    secs = [float(s) for s in epoch_seconds if s]
    if not secs:
        return None
    typical = _typical_epoch_seconds(secs)
    remaining = max(int(total_epochs) - len(secs), 0)
    return {"done_hours": sum(secs) / 3600, "projected_hours": (sum(secs) + remaining * typical) / 3600,
            "epoch_seconds": typical, "epochs_done": len(secs)}


def slow_epochs(epoch_seconds, factor: float = 1.5) -> dict | None:
    """Epochs that took far longer than the run's typical epoch.

    ``history.csv`` holds each epoch's wall-clock seconds, so a run paused (SIGSTOP, a stop and
    resume inside an epoch) or sharing its CPU with other work shows epochs much longer than the
    rest, and its hours axis runs long by their excess. The typical epoch is the lower quartile of
    the epochs after the first, as in :func:`training_estimate`; the first epoch (start-up costs) is
    never flagged.

    Parameters
    ----------
    epoch_seconds : sequence of float
        Each finished epoch's seconds, in order (epoch 1 first).
    factor : float
        An epoch is slow when it took more than ``factor`` times the typical epoch.

    Returns
    -------
    dict or None
        ``epochs`` (1-based numbers of the slow epochs), ``seconds`` (theirs),
        ``typical_seconds`` and ``excess_hours`` (what the slow epochs took beyond the typical
        epoch, summed); None with fewer than two finished epochs.

    Examples
    --------
    >>> out = slow_epochs([600.0, 300.0, 900.0, 310.0, 290.0])  # typical: lower quartile of 290, 300, 310, 900
    >>> out["epochs"], out["typical_seconds"], round(out["excess_hours"] * 3600, 1)
    ([3], 297.5, 602.5)
    """
    if factor <= 1:
        raise ValueError(f"factor must be above 1. Received: factor={factor!r}")
    secs = [float(s) for s in epoch_seconds]
    if len(secs) < 2:
        return None
    typical = _typical_epoch_seconds(secs)
    slow = [(i + 1, s) for i, s in enumerate(secs) if i > 0 and s > factor * typical]
    return {"epochs": [e for e, _ in slow], "seconds": [s for _, s in slow], "typical_seconds": typical,
            "excess_hours": sum(s - typical for _, s in slow) / 3600}


def convergence_figure(curves, records=(), *, x="epoch", paper_label="H + L3", four_epoch_preset="cpu"):
    """Test A and Test B figures against training epochs or hours, for every learning curve.

    Parameters
    ----------
    curves : list of dict
        :func:`load_curves`.
    records : list of dict
        Run records; those of ``four_epoch_preset`` with configuration ``paper_label`` are drawn
        as points (one per seed) at their epoch count or hours.
    x : {"epoch", "hours"}
        The horizontal axis: epochs (log scale) or training hours on the CPU that ran it.
    paper_label : str
        The paper's row drawn as a horizontal line (:data:`glandseg.results.PAPER_TABLES`).

    Returns
    -------
    matplotlib.figure.Figure or None
        None when there is neither a curve nor a point to draw. A dotted vertical line in a
        curve's colour marks the epoch whose network its record scores, or will score
        (``selected`` of :func:`load_curves`; not for a run that stopped for good).
    """
    import matplotlib.pyplot as plt

    if x not in ("epoch", "hours"):
        raise ValueError(f"x must be 'epoch' or 'hours'. Received: x={x!r}")
    points = [r for r in records if r.get("preset") == four_epoch_preset
              and results.config_label(r["config"]) == paper_label]
    if not curves and not points:
        return None
    fig, axes = plt.subplots(2, 3, figsize=(11, 6), sharex=True)
    for i, (split, split_title) in enumerate(_SPLITS):
        for j, (metric, label, _) in enumerate(_METRICS):
            ax = axes[i, j]
            kept = []
            for c in curves:
                pts = [p for p in c["points"] if split in p]
                if not pts:
                    continue
                xs = [p["epoch"] if x == "epoch" else p["train_seconds"] / 3600 for p in pts]
                status = "" if c["finished"] else f", {run_status(c)}"
                if x == "hours":
                    status += f" ({trained_on(c)})"
                # A run that stopped for good is drawn fainter and dashed: a curve that ends early.
                style = dict(ls="--", alpha=0.55) if c.get("stopped") else dict(ls="-")
                (line,) = ax.plot(xs, [p[split][metric] for p in pts], marker="o", ms=3,
                                  label=f"{c['preset']} {c['run_id']}{status}", **style)
                sel = c.get("selected")
                if sel is not None and not c.get("stopped"):  # the network its record scores (or will)
                    kept.append((sel["epoch"] if x == "epoch" else sel["hours"], line.get_color()))
            if points:
                xs = [r["config"]["train"]["epochs"] if x == "epoch" else (r["training"].get("seconds") or np.nan) / 3600
                      for r in points]
                ys = [r["metrics"][split]["pooled"][metric] for r in points]
                where = "" if x == "epoch" else " ({})".format(" / ".join(sorted(
                    {"{cpu}, {precision}".format(**cpu_kind(r)) for r in points})))
                ax.plot(xs, ys, "k^", ms=5, label=f"{four_epoch_preset} preset, {len(points)} seeds{where}")
            paper = results.PAPER_TABLES[split].get(paper_label)
            if paper is not None:
                ax.axhline(paper[j], color="tab:red", ls="--", lw=1, label=f"paper {paper_label}")
            for at, color in kept:
                ax.axvline(at, color=color, ls=":", lw=1)
            if x == "epoch":
                ax.set_xscale("log")
            ax.set_title(f"{split_title}: {label}", fontsize=10)
            ax.grid(alpha=0.3)
            if i == 1:
                ax.set_xlabel("epochs" if x == "epoch" else "training hours (CPU)")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    if any(c.get("selected") and not c.get("stopped") and c["points"] for c in curves):
        from matplotlib.lines import Line2D

        handles.append(Line2D([], [], color="0.4", ls=":", lw=1))
        labels.append("dotted: the epoch whose network its record scores (or will)")
    fig.legend(handles, labels, loc="lower center", ncol=min(3, max(1, len(labels))), fontsize=8)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return fig


_LOWER_BETTER = {"object_hausdorff"}


def _gain(a: float, b: float, metric: str) -> float:
    """How much better ``b`` is than ``a`` (positive when better) for ``metric``."""
    return a - b if metric in _LOWER_BETTER else b - a


def read_curve(curve: dict, split: str = "testA", metric: str = "f1", tolerance: float = 0.02,
               paper_label: str = "H + L3") -> dict | None:
    """Where one learning curve rises, peaks and flattens, and whether it reaches the paper.

    Parameters
    ----------
    curve : dict
        One entry of :func:`load_curves`.
    split : {"testA", "testB"}
    metric : {"f1", "object_dice", "object_hausdorff"}
        Pooled figure read; object Hausdorff (px) is better when lower.
    tolerance : float
        The curve *flattens* at the earliest point after which no later point is better by more
        than ``tolerance`` (in the metric's unit). The last point never counts: nothing follows it.
    paper_label : str
        The paper's row compared (:data:`glandseg.results.PAPER_TABLES`).

    Returns
    -------
    dict or None
        ``first``, ``best`` and ``last`` points, ``n_points`` (how many points it has on
        ``split``), and ``flat_from`` (None while the curve still rises), each ``{"epoch", "value", "hours"}``, ``flat_from`` with ``gain_after`` (the most
        a later point improves on it); ``paper`` (the paper's figure or None), ``reaches_paper``
        (the first point at least as good, or None); ``finished``, ``epochs_done`` and
        ``epochs_planned`` from ``curve``. None when the curve has no point on ``split``.

    Examples
    --------
    >>> pts = [{"epoch": e, "train_seconds": 1800 * e, "testA": {"f1": f}}
    ...        for e, f in ((1, 0.5), (2, 0.8), (3, 0.85), (5, 0.86), (8, 0.855))]
    >>> r = read_curve({"points": pts, "finished": True}, tolerance=0.02)
    >>> r["flat_from"]["epoch"], round(r["flat_from"]["gain_after"], 3), r["best"]["epoch"], r["reaches_paper"]["epoch"]
    (3, 0.01, 5, 3)
    """
    if split not in _SPLIT_NAMES:
        raise ValueError(f"split must be one of {[s for s, _ in _SPLITS]}. Received: split={split!r}")
    if metric not in [m for m, _, _ in _METRICS]:
        raise ValueError(f"metric must be one of {[m for m, _, _ in _METRICS]}. Received: metric={metric!r}")
    if tolerance < 0:
        raise ValueError(f"tolerance must be 0 or more. Received: tolerance={tolerance!r}")
    pts = [p for p in curve.get("points", []) if split in p and p[split].get(metric) is not None]
    if not pts:
        return None
    at = [{"epoch": p["epoch"], "value": float(p[split][metric]), "hours": p.get("train_seconds", np.nan) / 3600}
          for p in pts]
    best = at[0]
    for a in at[1:]:
        if _gain(best["value"], a["value"], metric) > 0:
            best = a
    flat = None
    for i, a in enumerate(at[:-1]):
        gain_after = max(_gain(a["value"], b["value"], metric) for b in at[i + 1:])
        if gain_after <= tolerance:
            flat = {**a, "gain_after": gain_after}
            break
    j = [m for m, _, _ in _METRICS].index(metric)
    paper_row = results.PAPER_TABLES[split].get(paper_label)
    paper = None if paper_row is None else paper_row[j]
    reaches = None if paper is None else next((a for a in at if _gain(paper, a["value"], metric) >= 0), None)
    return {"first": at[0], "best": best, "last": at[-1], "n_points": len(at), "flat_from": flat, "paper": paper, "reaches_paper": reaches,
            "finished": bool(curve.get("finished")), "epochs_done": curve.get("epochs_done"),
            "epochs_planned": curve.get("epochs_planned")}


def curve_sentence(curve: dict, split: str = "testA", metric: str = "f1", tolerance: float = 0.02,
                   paper_label: str = "H + L3") -> str:
    """:func:`read_curve` in one sentence for the book.

    Examples
    --------
    >>> pts = [{"epoch": e, "train_seconds": 1800 * e, "testA": {"f1": f}}
    ...        for e, f in ((1, 0.5), (2, 0.8), (3, 0.85), (5, 0.86), (8, 0.855))]
    >>> print(curve_sentence({"points": pts, "finished": True, "preset": "x", "run_id": "r"}))  # doctest: +NORMALIZE_WHITESPACE
    Test A F1 of `x` r: 0.500 after epoch 1, best 0.860 after epoch 5 (2.5 h); it flattens from epoch 3
    (0.850, 1.5 h): no later point is better by more than 0.010. It reaches the paper's 0.846 after epoch 3 (1.5 h).
    """
    r = read_curve(curve, split, metric, tolerance, paper_label)
    label = f"{_SPLIT_NAMES[split]} {_METRIC_NAMES[metric]}"
    name = f"`{curve.get('preset')}` {curve.get('run_id')}"
    if curve.get("stopped"):
        name += f" ({run_status(curve)})"
    if r is None:
        return f"{label} of {name}: no curve point yet."
    digits = _DIGITS[metric]
    f = lambda v: f"{v:.{digits}f}"  # noqa: E731
    h = lambda a: f"{a['hours']:.1f} h"  # noqa: E731
    so_far = "" if r["finished"] else " before it stopped" if curve.get("stopped") else " so far"
    flat = r["flat_from"]
    if r["n_points"] == 1:  # one point: nothing yet to say where it peaks or flattens
        text = f"{label} of {name}: {f(r['first']['value'])} after epoch {r['first']['epoch']} ({h(r['first'])}), its only point."
    else:
        text = (f"{label} of {name}: {f(r['first']['value'])} after epoch {r['first']['epoch']}, best{so_far} "
                f"{f(r['best']['value'])} after epoch {r['best']['epoch']} ({h(r['best'])}); ")
        if flat is None:
            text += (f"it is still improving{' at its last point' if r['finished'] else ''} (each point leaves a "
                     f"later one better by more than {tolerance:g}).")
        else:
            more = f" by more than {flat['gain_after']:.{digits}f}" if round(flat["gain_after"], digits) > 0 else ""
            text += (f"it flattens{so_far} from epoch {flat['epoch']} ({f(flat['value'])}, {h(flat)}): no later point "
                     f"is better{more}.")
        drop = -_gain(r["best"]["value"], r["last"]["value"], metric)
        if drop > tolerance:  # worse at the end than at its best, beyond the noise allowed
            text += (f" It has fallen since: {f(r['last']['value'])} after epoch {r['last']['epoch']} "
                     f"({h(r['last'])}), {drop:.{digits}f} worse than its best.")
    if r["paper"] is not None:
        if r["reaches_paper"] is not None:
            text += (f" It reaches the paper's {f(r['paper'])} after epoch {r['reaches_paper']['epoch']} "
                     f"({h(r['reaches_paper'])}).")
        else:
            short = abs(_gain(r["paper"], r["best"]["value"], metric))
            text += f" It has not reached the paper's {f(r['paper'])}{so_far}: its best is {short:.{digits}f} short."
    return text


def budget_table(curves, records=(), budgets_hours=(0.25, 0.5, 1, 2, 4, 8, 16), *, split: str = "testA",
                 metric: str = "f1", paper_label: str = "H + L3", four_epoch_preset: str = "cpu") -> Table:
    """What a budget of training hours buys: each run's figure when the budget runs out.

    A curve's cell is its last point within the budget: the network as it stood after that epoch
    (a cosine schedule cut short there would end better, a constant one the same). Past the hours
    a run has trained so far the cell reads "not reached yet", or, for a finished run, repeats
    its last point. The ``four_epoch_preset`` records of ``paper_label`` make one row: their mean
    over seeds, from the budget that covers their mean training hours.

    Returns
    -------
    Table
        One row per curve (and one for the 4-epoch records, where there are any): the run, the
        CPU and precision it trained on (:func:`trained_on`), then one column per budget with
        cells "value (epoch N)".
    """
    budgets = [float(b) for b in budgets_hours]
    if not budgets or any(b <= 0 for b in budgets):
        raise ValueError(f"budgets_hours must be positive hours. Received: budgets_hours={budgets_hours!r}")
    digits = _DIGITS[metric]
    rows = []
    for c in curves:
        pts = [p for p in c.get("points", []) if split in p]
        done_hours = sum(c.get("epoch_seconds") or []) / 3600
        cells = []
        for b in budgets:
            within = [p for p in pts if p["train_seconds"] / 3600 <= b]
            if not c.get("finished") and b > done_hours:
                cells.append("stopped before" if c.get("stopped") else "not reached yet")
            elif not within:
                cells.append("no point yet")
            else:
                p = within[-1]
                cells.append(f"{p[split][metric]:.{digits}f} (epoch {p['epoch']})")
        status = "" if c.get("finished") else f", {run_status(c)}"
        rows.append([f"{c.get('preset')} {c.get('run_id')}{status}", trained_on(c), *cells])
    fours = [r for r in records if r.get("preset") == four_epoch_preset and results.config_label(r["config"]) == paper_label
             and (r.get("training") or {}).get("seconds")]
    if fours:
        hours = float(np.mean([r["training"]["seconds"] for r in fours])) / 3600
        value = float(np.mean([r["metrics"][split]["pooled"][metric] for r in fours]))
        epochs = fours[0]["config"]["train"]["epochs"]
        kinds = sorted({"{cpu}; {precision}".format(**cpu_kind(r)) for r in fours})
        rows.append([f"{four_epoch_preset} preset, {len(fours)} seeds (mean {hours:.2f} h)", " / ".join(kinds),
                     *[f"{value:.{digits}f} ({epochs} epochs)" if b >= hours else "not enough" for b in budgets]])
    label = f"{_SPLIT_NAMES[split]} {_METRIC_NAMES[metric]}"
    return Table(["run", "trained on", *[f"{b:g} h" for b in budgets]], rows,
                 caption=f"{label} of {paper_label} when a budget of training hours runs out "
                         "(wall-clock hours on the CPU each run trained on)")


def equal_postprocessing_rows(sweeps, *, split="testA", opening_radius_px=0, label="H + L3") -> list[dict]:
    """Pooled F1 of networks under each smallest-object size, one row per protocol and epoch.

    A protocol's own post-processing sizes differ (the paper keeps objects from 200 px, the CPU
    presets from 1000 px), and a network early in a constant learning rate is not comparable
    with one whose schedule has decayed. Post-processing sweeps (:mod:`glandseg.report.sensitivity`)
    of epoch snapshots and of finished runs put them under the same sizes.

    Parameters
    ----------
    sweeps : list of dict
        Sweep records; those of an epoch snapshot carry ``epoch``, those of a finished run's
        selected network have ``epoch`` None (its row says "selected").
    split : {"testA", "testB", "val"}
    opening_radius_px : int
        Which opening radius of the sweeps to read.
    label : str
        Configuration (:func:`glandseg.results.config_label`).

    Returns
    -------
    rows : list of dict
        ``preset``, ``epoch`` (int or None), ``runs``, ``own_min_size_px``, ``f1`` (dict: size ->
        mean F1 over the runs), in the order of the sweeps.

    Examples
    --------
    >>> def sweep(preset, epoch, f1s):
    ...     rows = [{"opening_radius_px": 0, "min_size_px": m, "f1": f} for m, f in zip((200, 1000), f1s)]
    ...     return {"preset": preset, "epoch": epoch, "config": {"input": "hematoxylin", "loss": "L3"},
    ...             "own": {"min_size_px": 200}, "scores": {"testA": rows}}
    >>> rows = equal_postprocessing_rows([sweep("paper", 5, (0.5, 0.6)), sweep("cpu", None, (0.7, 0.8)),
    ...                                   sweep("cpu", None, (0.6, 0.7))])
    >>> [(r["preset"], r["epoch"], r["runs"], {m: round(f, 3) for m, f in r["f1"].items()}) for r in rows]
    [('paper', 5, 1, {200: 0.5, 1000: 0.6}), ('cpu', None, 2, {200: 0.65, 1000: 0.75})]
    """
    groups: dict[tuple, list] = {}
    for sw in sweeps:
        if results.config_label(sw["config"]) != label or split not in sw.get("scores", {}):
            continue
        groups.setdefault((sw.get("preset"), sw.get("epoch")), []).append(sw)
    rows = []
    for (preset, epoch), group in groups.items():
        by_size: dict[int, list] = {}
        for sw in group:
            for row in sw["scores"][split]:
                if row["opening_radius_px"] == opening_radius_px:
                    by_size.setdefault(int(row["min_size_px"]), []).append(float(row["f1"]))
        owns = {sw.get("own", {}).get("min_size_px") for sw in group}
        rows.append({"preset": preset, "epoch": epoch, "runs": len(group),
                     "own_min_size_px": owns.pop() if len(owns) == 1 else None,
                     "f1": {m: float(np.mean(v)) for m, v in sorted(by_size.items())}})
    return rows


def equal_postprocessing_table(rows, caption=None) -> Table:
    """:func:`equal_postprocessing_rows` as a table; each protocol's own size is marked with *."""
    sizes = sorted({m for r in rows for m in r["f1"]})
    body = []
    for r in rows:
        when = "selected network" if r["epoch"] is None else f"after epoch {r['epoch']}"
        cells = [(f"{r['f1'][m]:.3f}" + (" *" if m == r["own_min_size_px"] else "")) if m in r["f1"] else "—"
                 for m in sizes]
        body.append([r["preset"], when, r["runs"], *cells])
    return Table(["preset", "network", "runs", *[f"objects from {m} px" for m in sizes]],
                 body or [["not run yet", "", "", *[""] * len(sizes)]], caption=caption)


def protocol_steps(config: dict, epoch: int, n_images: int = 85) -> dict:
    """How much optimisation a protocol has done by the end of ``epoch``, from its configuration.

    Parameters
    ----------
    config : dict
        ``ExperimentConfig.to_dict()`` (or a record's ``config``).
    epoch : int
        Epochs finished.
    n_images : int
        Training images before the validation images are held out (GlaS: 85).

    Returns
    -------
    dict
        ``crops_per_epoch`` (13 variants x ``crops_per_variant`` per training image, in both
        augmentation modes), ``steps_per_epoch`` (batches, the last one partial), ``crop_px``
        (pixels of one crop), ``steps`` and ``megapixels`` seen by the end of ``epoch``, and
        ``learning_rate`` at that point (constant, or Keras's ``CosineDecay`` over all epochs).

    Examples
    --------
    >>> from glandseg.config import preset_config
    >>> p = protocol_steps(preset_config("cpu").to_dict(), 2)   # cosine over 4 epochs: half-way
    >>> p["crops_per_epoch"], p["steps_per_epoch"], round(p["learning_rate"], 6)
    (4160, 520, 0.001)
    """
    import math

    from glandseg.augment import PAPER_VARIANTS

    train, aug = config["train"], config["augment"]
    n_train = n_images - train["val_images"]
    crops = n_train * len(PAPER_VARIANTS) * aug["crops_per_variant"]
    steps = -(-crops // train["batch_size"])
    crop_px = aug["crop_size"][0] * aug["crop_size"][1]
    lr = train["learning_rate"]
    if train["lr_schedule"] == "cosine":
        lr = lr * 0.5 * (1 + math.cos(math.pi * min(epoch / train["epochs"], 1.0)))
    return {"crops_per_epoch": crops, "steps_per_epoch": steps, "crop_px": crop_px, "steps": steps * epoch,
            "megapixels": crops * epoch * crop_px / 1e6, "learning_rate": lr}
