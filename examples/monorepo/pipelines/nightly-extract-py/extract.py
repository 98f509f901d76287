"""extract: read the raw lab results shipped in data/results_raw.csv (SYNTHETIC data), keep the
rows with a valid result, and write ${WORKSPACE:-/workspace}/results.csv for the load task.
Standard library only.
"""
import csv
import datetime as dt
import os
from pathlib import Path

VALID = {"positive", "negative"}

source = Path(__file__).resolve().parent / "data" / "results_raw.csv"
workspace = Path(os.environ.get("WORKSPACE", "/workspace"))
workspace.mkdir(parents=True, exist_ok=True)
target = workspace / "results.csv"

kept, rejected = [], []
with open(source, newline="") as handle:
    for row in csv.DictReader(handle):
        result = row["result"].strip().lower()
        try:
            dt.date.fromisoformat(row["collected"])
        except ValueError:
            rejected.append(row["sample_id"])
            continue
        if result not in VALID:
            rejected.append(row["sample_id"])
            continue
        kept.append({**row, "result": result})

with open(target, "w", newline="") as handle:
    writer = csv.DictWriter(handle, fieldnames=["sample_id", "collected", "lab", "test", "result"])
    writer.writeheader()
    writer.writerows(kept)

print(f"extract: {len(kept) + len(rejected)} rows read, {len(kept)} kept, "
      f"{len(rejected)} rejected ({', '.join(rejected) or 'none'}) -> {target}")
