"""Writes ROWS recommendation rows as CSV, JSON Lines and Parquet into DIR,
the way a data team's tools would (Python's csv and json, pyarrow), for
measuring `server load --from` (bench/ingest/measure.sh).

    python3 bench/ingest/write_files.py DIR ROWS [USERS]
"""

import csv
import json
import sys

import pyarrow as pa
import pyarrow.parquet as pq

out, rows = sys.argv[1], int(sys.argv[2])
users = int(sys.argv[3]) if len(sys.argv) > 3 else 10
GENRES = ["Fantasy", "Mystery", "Science Fiction", "Romance", "History", "Poetry"]
FIELDS = ["user_id", "title", "author", "isbn13", "year", "genre", "score"]


def row(i):
    user = i % users
    return {
        "user_id": user,
        "title": f"The Quiet Archive of Volume {i}",
        "author": f"Author Number {i % 9973}",
        "isbn13": "978-1-86197-876-9" if i % 4 == 0 else "",
        "year": 1900 + i % 125,
        "genre": GENRES[i % len(GENRES)],
        "score": round(1 - (i % 1000) / 1000, 3),
    }


CHUNK = 200_000
with open(f"{out}/books.csv", "w", newline="", encoding="utf-8") as c, open(
    f"{out}/books.jsonl", "w", encoding="utf-8"
) as j:
    writer = csv.DictWriter(c, fieldnames=FIELDS)
    writer.writeheader()
    parquet = None
    for start in range(0, rows, CHUNK):
        chunk = [row(i) for i in range(start, min(rows, start + CHUNK))]
        writer.writerows(chunk)
        j.writelines(json.dumps(r) + "\n" for r in chunk)
        table = pa.Table.from_pylist(chunk)
        if parquet is None:
            parquet = pq.ParquetWriter(f"{out}/books.parquet", table.schema)
        parquet.write_table(table, row_group_size=100_000)
    parquet.close()
