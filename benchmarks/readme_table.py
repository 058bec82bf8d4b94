"""Write the README's performance table from the newest benchmark record.

The table sits between ``<!-- bench:start -->`` and ``<!-- bench:end -->`` in README.md and is
only ever produced here, from ``benchmarks/results/<date>-<machine>.json`` (records of
``--quick`` runs are ignored). Without a record it says "not run yet".

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


def latest_record(folder=REPO / "benchmarks" / "results"):
    """Path of the newest full benchmark record (by date in the name, then name), or None."""
    paths = []
    for p in Path(folder).glob("*.json"):
        if not _RECORD.match(p.name) or p.stem.endswith("-quick"):
            continue
        record = json.loads(p.read_text())
        if "train_ratio_vs_smp" in record and not record.get("quick"):
            paths.append(p)
    return max(paths, key=lambda p: p.name) if paths else None


def _fmt(x, digits=2):
    return "—" if x is None else f"{x:.{digits}f}"


def _setting(r):
    framework = r["framework"].replace("glandseg/keras-", "glandseg, Keras ").replace("smp/torch", "smp Linknet, PyTorch")
    return framework + ("" if r["variant"] == "plain" else f" ({r['variant'].replace('_', '-')})")


def render(record, name="") -> str:
    """The README block (markdown) for one record: throughput per setting, then the ratios."""
    if record is None:
        return f"{START}\nNo benchmark record yet: not run yet (`make bench`).\n{END}"
    rows = [r for r in record["results"] if "train" in r and "error" not in r]
    s = record["settings"]
    head = ["setting"] + [f"train b{b} (crops/s)" for b in (4, 8)] + [f"infer b{b} (images/s)" for b in (1, 4)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [_fmt(r["train"].get(str(b), {}).get("median")) for b in (4, 8)]
        cells += [_fmt(r["infer"].get(str(b), {}).get("median")) for b in (1, 4)]
        lines.append("| " + " | ".join([_setting(r)] + cells) + " |")
    pipeline = next((r for r in record["results"] if r.get("framework") == "glandseg pipeline" and "error" not in r), None)
    m = record["machine"]
    text = [
        START,
        f"Measured by `make bench` on {m['cpu_model']} ({m['cpu_count']} cores, {s['threads']} threads each), "
        f"{s['precision']}, training on {s['train_crop']} crops, inference on {s['infer_size']} images; "
        f"median of {s['repeats']} repeats; commit {str(record.get('git_commit'))[:10]}, "
        f"record `benchmarks/results/{name}`.",
        "",
        *lines,
        "",
        f"glandseg / smp (each at its best setting, smaller ratio over the batch sizes): training "
        f"**{_fmt(record['train_ratio_vs_smp'])}x**, inference **{_fmt(record['infer_ratio_vs_smp'])}x**.",
    ]
    if pipeline:
        text.append(
            f"The input pipeline ({pipeline['data']} data) delivers "
            f"{_fmt(pipeline['batches_crops_per_s']['median'], 0)} crops/s of {pipeline['crop']}, "
            f"against the model's training rate above."
        )
    text.append(END)
    return "\n".join(text)


def update(readme: Path, folder=REPO / "benchmarks" / "results") -> str:
    """README text with the block replaced (the block must already be there)."""
    text = readme.read_text()
    if START not in text or END not in text:
        raise ValueError(f"{readme} has no {START} ... {END} block")
    path = latest_record(folder)
    block = render(json.loads(path.read_text()) if path else None, path.name if path else "")
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
