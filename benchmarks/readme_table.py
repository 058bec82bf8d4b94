"""Write the README's performance tables from the newest benchmark records.

The block sits between ``<!-- bench:start -->`` and ``<!-- bench:end -->`` in README.md and is
only ever produced here, from ``benchmarks/results/<date>-<machine>.json``: the newest CPU
record of ``bench.py`` (the comparison with smp that the project is judged by), the newest GPU
record of ``bench.py --device cuda`` and the newest ``epoch_time.py`` record of the paper
preset. Records of ``--quick`` runs are ignored. Without a CPU record it says "not run yet".

    python benchmarks/readme_table.py          # rewrite README.md
    python benchmarks/readme_table.py --check  # exit 1 if README.md is out of date
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
START, END = "<!-- bench:start -->", "<!-- bench:end -->"
_RECORD = re.compile(r"^\d{4}-\d{2}-\d{2}-.+\.json$")


def device(record) -> str:
    """Where a bench.py record's models ran: "cpu" (records before --device existed) or "cuda"."""
    return record.get("settings", {}).get("device", "cpu")


def same_machine(a, b) -> bool:
    """Whether two bench.py records come from the same kind of machine: CPU model and core count
    (and, where both record them, CPU family/model numbers and the accelerator)."""
    ma, mb = a.get("machine", {}), b.get("machine", {})
    keys = ["cpu_model", "cpu_count", "accelerator"]
    same = all(ma.get(k) == mb.get(k) for k in keys)
    if same and ma.get("cpu") and mb.get("cpu"):
        same = all(ma["cpu"].get(k) == mb["cpu"].get(k) for k in ("family", "model_number", "flags"))
    return same


def latest_record(folder=REPO / "benchmarks" / "results", on="cpu", before=None):
    """Path of the newest full bench.py record run ``on`` "cpu" or "cuda" (by its start time,
    then name), or None; with ``before`` (a record's path), the newest one older than that
    from the same kind of machine (:func:`same_machine`)."""
    paths = []
    for p in Path(folder).glob("*.json"):
        if before is not None and p.name == Path(before).name:
            continue
        if not _RECORD.match(p.name) or p.stem.endswith("-quick"):
            continue
        record = json.loads(p.read_text())
        if "train_ratio_vs_smp" in record and not record.get("quick") and device(record) == on:
            paths.append((record.get("started_utc", ""), p.name, p))
    if before is not None:
        ref = json.loads(Path(before).read_text())
        limit = ref.get("started_utc", "")
        paths = [t for t in paths if t[0] < limit and same_machine(json.loads(t[2].read_text()), ref)]
    return max(paths)[2] if paths else None


def latest_epoch_record(folder=REPO / "benchmarks" / "results", preset="paper"):
    """Path of the newest ``epoch_time.py`` record of ``preset``, or None."""
    paths = [p for p in Path(folder).glob(f"*-epoch-{preset}.json") if _RECORD.match(p.name)]
    return max(paths, key=lambda p: p.name) if paths else None


def paper_crops_per_epoch() -> int:
    """Training crops in one epoch of the paper preset: (85 - validation images) x variants x crops."""
    from glandseg.augment import PAPER_VARIANTS
    from glandseg.config import ExperimentConfig
    from glandseg.data import SPLIT_SIZES

    config = ExperimentConfig.paper()
    return (SPLIT_SIZES["train"] - config.train.val_images) * len(PAPER_VARIANTS) * config.augment.crops_per_variant


def _fmt(x, digits=2):
    return "—" if x is None else f"{x:.{digits}f}"


#: Words of bench.py's variant names (``<precision>[-xla]``, ``channels_last[-bf16][-compile]``).
_VARIANT_WORDS = {"float32": "float32", "bfloat16": "mixed bfloat16", "xla": "XLA", "channels_last": "channels-last",
                  "bf16": "bfloat16 autocast", "compile": "torch.compile"}
#: Variants of the records before precisions were explicit (issue 23).
_OLD_VARIANTS = {"plain-interop1": "1 inter-op thread", "xla": "xla"}


def _setting(r):
    framework = r["framework"].replace("glandseg/keras-", "glandseg, Keras ").replace("smp/torch", "smp Linknet, PyTorch")
    v = r["variant"]
    if v in _OLD_VARIANTS or v == "plain":
        variant = _OLD_VARIANTS.get(v, v)
    else:
        variant = ", ".join(_VARIANT_WORDS.get(word, word.replace("_", "-")) for word in v.split("-"))
    return framework + ("" if variant == "plain" else f" ({variant})")


#: The (part, batch) whose GFLOP/s and fraction of peak get a column: the presets' training
#: batch and the inference batch of a prediction.
FLOPS_COLUMNS = (("train", 8), ("infer", 4))


def _has_flops(record) -> bool:
    return any("gflops" in f for r in record["results"] for part in ("train", "infer")
               for f in r.get(part, {}).values() if isinstance(f, dict))


def _flops_cell(figure):
    if not figure or figure.get("gflops") is None:
        return "—"
    share = figure.get("fraction_of_peak")
    return f"{figure['gflops']:.0f}" + ("" if share is None else f" ({share * 100:.0f}%)")


def _table(record) -> list:
    rows = [r for r in record["results"] if "train" in r and "error" not in r]
    flops = _has_flops(record)
    head = ["setting"] + [f"train b{b} (crops/s)" for b in (4, 8)] + [f"infer b{b} (images/s)" for b in (1, 4)]
    if flops:
        head += [f"{part} b{b} GFLOP/s (% of peak)" for part, b in FLOPS_COLUMNS]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [_fmt(r["train"].get(str(b), {}).get("median")) for b in (4, 8)]
        cells += [_fmt(r["infer"].get(str(b), {}).get("median")) for b in (1, 4)]
        if flops:
            cells += [_flops_cell(r.get(part, {}).get(str(b))) for part, b in FLOPS_COLUMNS]
        lines.append("| " + " | ".join([_setting(r)] + cells) + " |")
    return lines


def _failures(record) -> list:
    """One line per model setting that failed (e.g. ``torch.compile`` without a C++ compiler)."""
    failed = [r for r in record["results"] if "error" in r and r.get("framework", "").startswith(("glandseg/", "smp/"))]
    if not failed:
        return []
    return ["Not measured (the run's error): " + "; ".join(
        f"{_setting(r)}: {(r['error'] or ['?'])[0] if isinstance(r['error'], list) else r['error']}" for r in failed) + "."]


def _cpu_words(machine) -> str:
    """The CPU as the header names it: model, then (where recorded) family/model and ISA flags
    and the cores, e.g. "AMD EPYC 9B14 (family 25, model 17; avx2, avx512f, avx512_bf16; 2 cores"."""
    cpu = machine.get("cpu")
    if not cpu:
        return f"{machine['cpu_model']} ({machine['cpu_count']} cores"
    flags = ", ".join(cpu.get("flags") or []) or "none of avx2/avx512/amx"
    return (f"{cpu.get('model') or machine['cpu_model']} (family {cpu.get('family')}, model {cpu.get('model_number')}; "
            f"{flags}; {machine['cpu_count']} cores")


def _peak_line(record, where="this CPU") -> list:
    """The measured matmul peaks and how the GFLOP/s columns are counted, for records that have them."""
    peak = record.get("peak_gflops")
    if not peak or not _has_flops(record):
        return []
    source = (record.get("peak") or {}).get("peak_source", {})
    parts = [f"{name} **{peak[key]:.0f} GFLOP/s** ({source.get(key, '?')})" for key, name in
             (("float32", "float32"), ("bfloat16", "bfloat16")) if peak.get(key)]
    if not peak.get("bfloat16"):
        parts.append("bfloat16 not measured (not native here)")
    flops = record.get("flops") or {}
    per_item = flops.get("per_item") or {}
    sizes = f"{record['settings']['train_crop']} crop / {record['settings']['infer_size']} image"
    counted = "; ".join(f"{side} {item['train'] / flops.get('train_step_forwards', 3) / 1e9:.2f} / "
                        f"{item['infer'] / 1e9:.2f} GFLOP" for side, item in per_item.items() if item)
    return [f"Matmul peak of {where}, measured in the same run (square matmuls, same threads): " + ", ".join(parts)
            + f". GFLOP/s = items/s x convolution FLOPs per item, counted from the models' layers (forward pass per "
              f"{sizes}: {counted}); a training crop counts three forward passes (forward, and the two backward "
              f"products); % of the matmul peak of the row's precision."]


def _pipeline(record):
    return next((r for r in record["results"] if r.get("framework") == "glandseg pipeline" and "error" not in r), None)


def _ratios(record) -> str:
    return (f"glandseg / smp (each at its best setting, smaller ratio over the batch sizes): training "
            f"**{_fmt(record['train_ratio_vs_smp'])}x**, inference **{_fmt(record['infer_ratio_vs_smp'])}x**.")


def _interop_note(record, threads) -> str:
    """Records since the inter-op setting was measured say it; the first one forced TF to 1, the
    second kept that setting as a row ("plain-interop1")."""
    if any(isinstance(r.get("threads"), dict) for r in record["results"]):
        other = any(r.get("variant") == "plain-interop1" for r in record["results"])
        return f" and {threads} inter-op threads" + (" unless a row says otherwise" if other else "")
    return ""


def peer_spread(record, previous):
    """Largest relative change of smp's throughput figures between two records of one machine, or None.

    The peer's code did not change between the records, so this is the run-to-run variation
    that a ratio near 1 has to be read against.
    """
    if previous is None:
        return None
    changes = []
    for r in record["results"]:
        if not r.get("framework", "").startswith("smp/") or "error" in r:
            continue
        old = next((o for o in previous["results"] if o.get("framework") == r["framework"]
                    and o.get("variant") == r["variant"] and "error" not in o), None)
        for part in ("train", "infer") if old else ():
            for b, v in r.get(part, {}).items():
                if b in old.get(part, {}):
                    changes.append(abs(v["median"] / old[part][b]["median"] - 1))
    return max(changes) if changes else None


def paper_hours_from_rate(record, crops_per_epoch, epochs=100):
    """Hours of ``epochs`` paper epochs at the best measured batch-8 training rate of ``record``
    (model steps only: augmentation, validation and checkpoints add to it), or None."""
    rates = [r["train"]["8"]["median"] for r in record["results"]
             if r.get("framework", "").startswith("glandseg/") and "8" in r.get("train", {}) and "error" not in r]
    return epochs * crops_per_epoch / max(rates) / 3600 if rates else None


def render(record, name="", *, gpu=None, gpu_name="", epoch=None, epoch_name="", crops_per_epoch=None,
           previous=None, previous_name="") -> str:
    """The README block (markdown): the CPU record's throughput per setting and ratios, then
    (where recorded) the GPU record and the paper preset's measured epoch time."""
    if record is None:
        return f"{START}\nNo benchmark record yet: not run yet (`make bench`).\n{END}"
    s, m = record["settings"], record["machine"]
    text = [
        START,
        f"Measured by `make bench` on {_cpu_words(m)}, {s['threads']} threads each"
        f"{_interop_note(record, s['threads'])}), "
        f"{s['precision']}, training on {s['train_crop']} crops, inference on {s['infer_size']} images; "
        f"median of {s['repeats']} repeats; commit {str(record.get('git_commit'))[:10]}, "
        f"record `benchmarks/results/{name}`.",
        "",
        *_table(record),
        "",
        *_peak_line(record),
        *_failures(record),
        _ratios(record),
    ]
    spread = peer_spread(record, previous)
    if spread is not None:
        text.append(
            f"Read ratios near 1 against the run-to-run variation: smp's figures differ by up to "
            f"{spread * 100:.0f}% from the previous record on this machine (`benchmarks/results/{previous_name}`)."
        )
    pipeline = _pipeline(record)
    if pipeline:
        text.append(
            f"The input pipeline ({pipeline['data']} data) delivers "
            f"{_fmt(pipeline['batches_crops_per_s']['median'], 0)} crops/s of {pipeline['crop']}, "
            f"against the model's training rate above."
        )
    hours = paper_hours_from_rate(record, crops_per_epoch) if crops_per_epoch else None
    if hours is not None:
        text.append(
            f"At the best batch-8 rate above, the `paper` preset (100 epochs of {crops_per_epoch} crops) would "
            f"train for about **{hours:.0f} h** on this CPU (model steps alone; an estimate, not a run)."
        )
    if gpu is not None:
        g, gs = gpu["machine"], gpu["settings"]
        text += [
            "",
            f"On a lent GPU, {g.get('accelerator')} ({g['cpu_count']} CPU cores), by `benchmarks/gpu.sh` "
            f"(`bench.py --device cuda`), {gs['precision']}, same sizes, median of {gs['repeats']} repeats; "
            f"record `benchmarks/results/{gpu_name}`:",
            "",
            *_table(gpu),
            "",
            *_peak_line(gpu, where="the GPU"),
            *_failures(gpu),
            _ratios(gpu),
        ]
    if epoch is not None:
        rows = [e for e in epoch["settings"] if "error" not in e]
        where = epoch["machine"].get("accelerator") or epoch["machine"]["cpu_model"]
        n = epoch["preset_epochs"]
        text += [
            "",
            f"The `paper` preset's training on {where}, Keras {epoch['versions']['backend']}, timed inside "
            f"`glandseg.train.train` over {epoch['epochs_measured']} epochs of "
            f"{rows[0]['steps_per_epoch'] if rows else '?'} steps on {epoch['data']} data of GlaS's size "
            f"(`benchmarks/epoch_time.py`, record `benchmarks/results/{epoch_name}`; the paper: about 7 h on a Titan X):",
            "",
            f"| precision | loader threads | first epoch (s) | steady epoch (s) | {n} epochs (h) |",
            "|---|---|---|---|---|",
            *[f"| {e['precision']} | {e['loader_threads']} | {e['first_epoch_s']:.1f} | {e['steady_epoch_s']:.1f} "
              f"| {e['estimated_training_h']:.2f} |" for e in rows],
        ]
    text.append(END)
    return "\n".join(text)


def update(readme: Path, folder=REPO / "benchmarks" / "results") -> str:
    """README text with the block replaced (the block must already be there)."""
    text = readme.read_text()
    if START not in text or END not in text:
        raise ValueError(f"{readme} has no {START} ... {END} block")
    path, gpu, epoch = latest_record(folder), latest_record(folder, on="cuda"), latest_epoch_record(folder)
    previous = latest_record(folder, before=path) if path else None
    block = render(
        json.loads(path.read_text()) if path else None, path.name if path else "",
        gpu=json.loads(gpu.read_text()) if gpu else None, gpu_name=gpu.name if gpu else "",
        epoch=json.loads(epoch.read_text()) if epoch else None, epoch_name=epoch.name if epoch else "",
        crops_per_epoch=paper_crops_per_epoch(),
        previous=json.loads(previous.read_text()) if previous else None, previous_name=previous.name if previous else "",
    )
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    return head + block + tail


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--readme", type=Path, default=REPO / "README.md")
    ap.add_argument("--check", action="store_true", help="only check that the README is up to date")
    args = ap.parse_args(argv)
    new = update(args.readme)
    if args.check:
        if new != args.readme.read_text():
            print(f"{args.readme}: the performance table is out of date; run benchmarks/readme_table.py", file=sys.stderr)
            return 1
        return 0
    args.readme.write_text(new)
    print(f"{args.readme}: performance table written")
    return 0


if __name__ == "__main__":
    sys.exit(main())
