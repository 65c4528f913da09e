"""The seams between commands against a real server (issue 13): live without a token file, empty collections."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import Coll
from test_cli import PIPELINE, murmur, recount, seed, source_opts, stored_totals


def test_live_without_a_token_file_starts_from_the_stored_handoff(coll: Coll, tmp_path: Path) -> None:
    """The gap case: bootstrap (no --handoff-out), an insert, then live without --from-handoff."""
    seed(coll, 200)
    db = tmp_path / "state.db"
    store = ["--store", "sqlite", "-T", f"path={db}"]
    boot = murmur("run", "--source", "mongo", *source_opts(coll), *store, *PIPELINE, "--json")
    assert json.loads(boot.stdout)["applied"] == 200
    coll.handle.insert_one({"_id": 5000, "customer": "c1", "amount": 1000})
    live = murmur(
        "run", "--source", "mongo-changes", *source_opts(coll), *store, *PIPELINE, "--until-idle", "2", "--json"
    )
    summary = json.loads(live.stdout)
    assert summary["applied"] == 1  # the insert is counted
    assert summary["live_start"].startswith("live: mongo-changes starts after the handoff the bootstrap of 'orders'")
    assert "live: mongo-changes starts after the handoff" in live.stderr
    assert stored_totals(db) == recount(coll)
    # The next live run continues from its own stored position, and says so.
    coll.handle.insert_one({"_id": 5001, "customer": "c2", "amount": 7})
    again = murmur("run", "--source", "mongo-changes", *source_opts(coll), *store, *PIPELINE, "--until-idle", "2")
    assert "live: mongo-changes continues from its stored position" in again.stderr
    assert stored_totals(db) == recount(coll)


def test_live_without_any_bootstrap_says_where_it_starts(coll: Coll, tmp_path: Path) -> None:
    seed(coll, 5)
    db = tmp_path / "state.db"
    live = murmur(
        "run", "--source", "mongo-changes", *source_opts(coll), "--store", "sqlite", "-T", f"path={db}", *PIPELINE,
        "--until-idle", "1",
    )  # fmt: skip
    assert (
        "live: mongo-changes starts at the current end of the change stream (changes from now on): pipeline"
        " 'orders' has no bootstrap handoff" in live.stderr
    )
    assert f"no records from the change stream of collection {coll.namespace}" in live.stderr


def test_an_empty_or_missing_collection_is_a_warning(coll: Coll, tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    result = murmur(
        "run", "--source", "mongo", *source_opts(coll), "--store", "sqlite", "-T", f"path={db}", *PIPELINE, "--json"
    )
    warning = f"collection {coll.namespace} is empty or does not exist"
    assert f"murmur: warning: {warning}" in result.stderr
    assert json.loads(result.stdout)["warnings"] == [warning]
