"""The built-in adapters, registered through the same hook as any third-party plugin.

Factories import their modules lazily, so listing plugins stays cheap.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from murmur.plugins import AdapterContext, AdapterSpec, Option, hookimpl

_SQLITE_OPTIONS = (
    Option(
        "path",
        "path",
        "murmur.db",
        "SQLite database file (created if missing)",
        env="MURMUR_SQLITE_PATH",
        must_exist=False,
    ),
    Option("busy_timeout", "duration", "30s", "how long to wait for another writer's lock"),
    Option(
        "synchronous",
        "str",
        "full",
        "SQLite synchronous mode (full: durable on power loss)",
        choices=("normal", "full", "extra"),
    ),
)


def _jsonl(options: Mapping[str, Any], context: AdapterContext) -> Any:
    from murmur.adapters.jsonl import JsonLinesSource

    return JsonLinesSource(options["path"], batch_size=options["batch_size"] or None, block_size=options["block_size"])


def _sqlite(kind: str) -> Callable[[Mapping[str, Any], AdapterContext], Any]:
    def factory(options: Mapping[str, Any], context: AdapterContext) -> Any:
        from murmur.adapters.sqlite import SqliteDeduper, SqliteStore

        cls = SqliteStore if kind == "store" else SqliteDeduper
        return cls(options["path"], busy_timeout=options["busy_timeout"], synchronous=options["synchronous"])

    return factory


def _memory_store(options: Mapping[str, Any], context: AdapterContext) -> Any:
    from murmur.adapters.memory import MemoryStore

    return MemoryStore()


def _jsonl_sink(options: Mapping[str, Any], context: AdapterContext) -> Any:
    from murmur.adapters.deadletters import JsonLinesDeadLetters

    return JsonLinesDeadLetters(options["path"], pipeline=context.pipeline)


def _memory_dedup(options: Mapping[str, Any], context: AdapterContext) -> Any:
    from murmur.adapters.memory import MemoryDeduper

    return MemoryDeduper()


@hookimpl
def murmur_register(register: Callable[[AdapterSpec], None]) -> None:
    register(
        AdapterSpec(
            "jsonl",
            "source",
            "JSON Lines from a file, a glob, .gz files, or - (stdin)",
            _jsonl,
            options=(
                Option(
                    "path", "path", None, "file, glob (logs/*.jsonl.gz) or - for stdin", required=True, must_exist=False
                ),
                Option("batch_size", "int", 0, "at most this many lines per batch (0: whole blocks)"),
                Option("block_size", "int", 2 << 20, "bytes read per block, cut at a newline"),
            ),
            guarantees=("resumable", "splittable across files", "malformed lines dead-lettered"),
        )
    )
    register(
        AdapterSpec(
            "sqlite",
            "store",
            "embedded SQLite state store (the default)",
            _sqlite("store"),
            options=_SQLITE_OPTIONS,
            guarantees=(
                "transactional claim+apply",
                "exactly-once with the sqlite deduper on the same file",
                "windowed keys with expiry",
            ),
        )
    )
    register(
        AdapterSpec(
            "sqlite",
            "dedup",
            "event-id claims in a SQLite file (absorbed by the sqlite store on the same file)",
            _sqlite("dedup"),
            options=_SQLITE_OPTIONS,
            guarantees=("leases", "multi-process safe"),
        )
    )
    register(
        AdapterSpec(
            "memory",
            "store",
            "in-memory state, gone when the process ends (tests and dry runs)",
            _memory_store,
            guarantees=("transactional", "not durable"),
        )
    )
    register(
        AdapterSpec(
            "jsonl",
            "sink",
            "dead letters appended to a JSON Lines file, created on the first one (the default)",
            _jsonl_sink,
            options=(
                Option(
                    "path",
                    "path",
                    "murmur-dead-letters.jsonl",
                    "the file (--dead-letters FILE sets it too)",
                    must_exist=False,
                ),
            ),
            guarantees=("flushed on every letter", "fsynced on close"),
        )
    )
    register(
        AdapterSpec(
            "memory",
            "dedup",
            "in-memory event-id claims (tests and dry runs)",
            _memory_dedup,
            guarantees=("not durable",),
        )
    )
