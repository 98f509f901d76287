"""Rolling 7-day mean of daily hospital admissions, per hospital.

Reads data/admissions.csv shipped beside this script (SYNTHETIC data: columns date, hospital,
admissions) and writes ${WORKSPACE:-/workspace}/rolling.csv with the columns
date, hospital, admissions, rolling_mean_7d. The mean covers the 7 calendar days ending on the
date and is left empty until a hospital has all 7 days. Standard library only.
"""
import csv
import datetime as dt
import os
import sys
from collections import defaultdict
from pathlib import Path

WINDOW = 7


def read_admissions(path):
    """Return {hospital: {date: admissions}}, refusing duplicates and bad values."""
    by_hospital = defaultdict(dict)
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        missing = {"date", "hospital", "admissions"} - set(reader.fieldnames or ())
        if missing:
            sys.exit(f"{path}: missing column(s) {', '.join(sorted(missing))}")
        for line, row in enumerate(reader, start=2):
            try:
                day = dt.date.fromisoformat(row["date"])
                count = int(row["admissions"])
            except ValueError as err:
                sys.exit(f"{path}:{line}: {err}")
            if count < 0:
                sys.exit(f"{path}:{line}: admissions must not be negative")
            if day in by_hospital[row["hospital"]]:
                sys.exit(f"{path}:{line}: duplicate row for {row['hospital']} on {day}")
            by_hospital[row["hospital"]][day] = count
    return by_hospital


def rolling(by_hospital):
    """Return [(date, hospital, admissions, mean or None)] sorted by date, hospital."""
    out = []
    for hospital, days in by_hospital.items():
        for day, count in days.items():
            window = [days.get(day - dt.timedelta(days=k)) for k in range(WINDOW)]
            mean = None if None in window else sum(window) / WINDOW
            out.append((day, hospital, count, mean))
    return sorted(out)


def main():
    source = Path(__file__).resolve().parent / "data" / "admissions.csv"
    workspace = Path(os.environ.get("WORKSPACE", "/workspace"))
    workspace.mkdir(parents=True, exist_ok=True)
    target = workspace / "rolling.csv"

    rows = rolling(read_admissions(source))
    with open(target, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["date", "hospital", "admissions", "rolling_mean_7d"])
        for day, hospital, count, mean in rows:
            writer.writerow([day.isoformat(), hospital, count, "" if mean is None else f"{mean:.2f}"])

    print(f"etl: {len(rows)} rows, {len({r[1] for r in rows})} hospitals -> {target}")
    last = max(r[0] for r in rows)
    for day, hospital, _, mean in rows:
        if day == last and mean is not None:
            print(f"etl: {hospital}: 7-day mean {mean:.2f} admissions/day on {day}")


if __name__ == "__main__":
    main()
