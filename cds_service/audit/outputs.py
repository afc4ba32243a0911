"""The partitions' results merged into the files of the output folder, streamed: each partition
wrote its rows in (patient, encounter) order, and a k-way merge keeps that order overall, so the
output is the same whatever the engine, the number of workers or of partitions."""

from __future__ import annotations

import csv
import heapq
from collections.abc import Iterator
from pathlib import Path

import orjson

from .evaluate import FINDING_COLUMNS

_PARQUET_BATCH = 10_000


def _keyed_lines(path: Path) -> Iterator[tuple[bytes, bytes]]:
    with path.open("rb") as lines:
        for line in lines:
            key, _, value = line.rstrip(b"\n").partition(b"\t")
            yield key, value


def _merged(paths: list[Path]) -> Iterator[bytes]:
    for _, value in heapq.merge(*(_keyed_lines(p) for p in paths if p.exists()),
                                key=lambda pair: pair[0]):
        yield value


def write_cards(paths: list[Path], target: Path) -> None:
    with target.open("wb") as out:
        for value in _merged(paths):
            out.write(value + b"\n")


def write_findings(paths: list[Path], csv_target: Path, parquet_target: Path) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema([(name, pa.string()) for name in FINDING_COLUMNS])
    rows = 0
    batch: list[list[str]] = []
    with csv_target.open("w", newline="", encoding="utf-8") as csv_file, pq.ParquetWriter(
            parquet_target, schema) as parquet:
        writer = csv.writer(csv_file)
        writer.writerow(FINDING_COLUMNS)

        def flush() -> None:
            columns = list(zip(*batch, strict=True))
            parquet.write_batch(pa.RecordBatch.from_arrays(
                [pa.array(column, pa.string()) for column in columns], schema=schema))
            batch.clear()

        for value in _merged(paths):
            row = orjson.loads(value)
            writer.writerow(row)
            batch.append(row)
            rows += 1
            if len(batch) >= _PARQUET_BATCH:
                flush()
        if batch:
            flush()
    return rows


def write_errors(paths: list[Path], files: list[str], target: Path) -> None:
    def rows(path: Path) -> Iterator[list]:
        with path.open("rb") as lines:
            for line in lines:
                yield orjson.loads(line)

    with target.open("wb") as out:
        for file_index, line, kind, text in heapq.merge(*(rows(p) for p in paths if p.exists())):
            out.write(orjson.dumps({"file": files[file_index], "line": line, "kind": kind,
                                    "problem": text}) + b"\n")
