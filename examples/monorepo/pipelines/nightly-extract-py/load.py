"""load: load ${WORKSPACE:-/workspace}/results.csv from the extract task into a SQLite table
(lab_results in ${WORKSPACE:-/workspace}/warehouse.sqlite) and print counts per day.
SQLite stands in for a real warehouse; swap in your database driver and a `secrets:` entry.
Standard library only.
"""
import csv
import os
import sqlite3
from pathlib import Path

workspace = Path(os.environ.get("WORKSPACE", "/workspace"))
source = workspace / "results.csv"
database = workspace / "warehouse.sqlite"

with open(source, newline="") as handle:
    rows = [(r["sample_id"], r["collected"], r["lab"], r["test"], r["result"])
            for r in csv.DictReader(handle)]

with sqlite3.connect(database) as db:
    db.execute("""CREATE TABLE IF NOT EXISTS lab_results (
                    sample_id TEXT PRIMARY KEY, collected TEXT NOT NULL, lab TEXT NOT NULL,
                    test TEXT NOT NULL, result TEXT NOT NULL)""")
    # upsert, so a re-run of the same night loads the same rows once
    db.executemany("INSERT OR REPLACE INTO lab_results VALUES (?, ?, ?, ?, ?)", rows)
    total = db.execute("SELECT COUNT(*) FROM lab_results").fetchone()[0]
    by_day = db.execute("""SELECT collected, COUNT(*), SUM(result = 'positive')
                           FROM lab_results GROUP BY collected ORDER BY collected""").fetchall()
db.close()

print(f"load: {len(rows)} rows loaded, {total} in lab_results -> {database}")
for day, count, positive in by_day:
    print(f"load: {day}: {count} results, {positive} positive")
