"""``murmur get`` without keys: list a pipeline's keys and values, page by page.

Pages come from the store's optional ``scan(pipeline, monoid, prefix=, after=, limit=)`` (SQLite:
by key; DynamoDB: a Query on the pipeline's key-index partition, never a Scan of the table), so
memory stays bounded however many keys there are; only ``--top K`` keeps K rows. A windowed
pipeline lists one row per key and bucket (the bucket's start time), ``--window 7d`` the buckets of
the last 7 days only.
"""

from __future__ import annotations

import csv
import heapq
import io
import itertools
from collections.abc import Iterator
from typing import Any

import typer

from murmur._errors import ConfigError
from murmur._read import Reader, _span
from murmur._retrying import unwrap
from murmur._unit import StateKey
from murmur.cli._output import dumps, jsonable, plain

__all__ = ["FORMATS", "Row", "list_rows", "print_rows", "select"]

FORMATS = ("tsv", "csv", "json")
PAGE = 1000

#: (key, bucket start as ISO text or None, value)
Row = tuple[str, str | None, Any]


def _pages(reader: Reader, prefix: str | None, page: int) -> Iterator[list[tuple[StateKey, Any]]]:
    scan = getattr(reader.store, "scan", None)
    if not callable(scan) or not callable(getattr(unwrap(reader.store), "scan", None)):
        raise ConfigError(
            f"store {reader.store.name!r} cannot list keys; name the keys to read (murmur get --name N KEY...)",
            option="store",
        )
    after: str | None = None
    while True:
        found, after = scan(reader.pipeline, reader.monoid, prefix=prefix, after=after, limit=page)
        if found:
            yield found
        if after is None:
            return


def list_rows(reader: Reader, *, prefix: str | None = None, last: str | None = None, page: int = PAGE) -> Iterator[Row]:
    """Every live key (and bucket, for a windowed pipeline) of the pipeline, with its value."""
    window = reader.window
    if window is None and last is not None:
        reader.buckets(last=last)  # raises the "no time window" error
    wanted: set[int] | None = None
    if window is not None:
        wanted = set(window.last(_span(last), reader.now())) if last is not None else None
    now = reader.clock()
    for found in _pages(reader, prefix, page):
        for key, state in found:
            if window is None:
                yield key.entity, None, reader.result(state)
                continue
            if wanted is not None and key.bucket not in wanted:
                continue
            expiry = window.expiry(key.bucket)
            if expiry is not None and expiry <= now:
                continue
            yield key.entity, window.bucket_start(key.bucket).isoformat(), reader.result(state)


def _rank(row: Row) -> Any:
    value = row[2]
    if isinstance(value, bool) or not isinstance(value, int | float):
        from decimal import Decimal

        if not isinstance(value, Decimal):
            raise ConfigError(
                f"--top: ranks numeric values; key {row[0]!r} holds {type(value).__name__} {plain(value)!r:.60}",
                option="top",
            )
    return value


def select(rows: Iterator[Row], *, top: int | None, limit: int | None) -> Iterator[Row]:
    """``--top K``: the K largest values, largest first; ``--limit N``: the first N rows."""
    if top is not None:
        if top < 1:
            raise ConfigError(f"--top: expected at least 1, got {top}", option="top")
        chosen = heapq.nlargest(top, rows, key=_rank)
        rows = iter(chosen)
    if limit is not None:
        if limit < 1:
            raise ConfigError(f"--limit: expected at least 1, got {limit}", option="limit")
        rows = itertools.islice(rows, limit)
    return rows


def print_rows(rows: Iterator[Row], *, fmt: str, windowed: bool) -> int:
    """Print rows as they come (JSON: one object at the end); returns how many were printed."""
    n = 0
    if fmt == "json":
        if windowed:
            doc: Any = [{"key": k, "bucket": b, "value": jsonable(v)} for k, b, v in rows]
            n = len(doc)
        else:
            doc = {k: jsonable(v) for k, _, v in rows}
            n = len(doc)
        typer.echo(dumps(doc))
        return n
    header = ["key", "bucket", "value"] if windowed else ["key", "value"]
    if fmt == "csv":
        head = io.StringIO()
        csv.writer(head, lineterminator="\n").writerow(header)
        typer.echo(head.getvalue(), nl=False)
    while chunk := list(itertools.islice(rows, PAGE)):  # a page at a time, never the whole store
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n") if fmt == "csv" else None  # tsv: no quoting
        for k, b, v in chunk:
            fields = [k, b, plain(v)] if windowed else [k, plain(v)]
            if writer is not None:
                writer.writerow(fields)
            else:
                buf.write("\t".join(str(f) for f in fields) + "\n")
        typer.echo(buf.getvalue(), nl=False)
        n += len(chunk)
    return n
