"""Block decoding (``murmur._decode``): which pipelines take the block path, and that it folds
exactly what the general path would, one call per block."""

from __future__ import annotations

from typing import Any

import pytest

from murmur import Batch, Count, Pipeline, Set, Sum, Window
from murmur._decode import FieldPlan

BLOCK = (
    b'{"c":{"id":"a","z":1},"o":{"amt":2}}\n'
    b"\n"
    b'{"c":{"id":7},"o":{"amt":3.5},"extra":[1,2,3]}\n'
    b'{"c":5,"o":{"amt":1}}\n'
    b'{"c":{"id":"a"},"o":{"amt":100000000000000000000000000000}}'
)


def block(data: bytes) -> Batch:
    return Batch(data.count(b"\n") + 1, None, records=[], block=data)


def test_nested_field_paths_fold_per_rendered_key_and_name_the_bad_line() -> None:
    plan = FieldPlan.of(Pipeline("x", Sum(), key="c.id", value="o.amt"), "append")
    assert plan is not None
    writes: dict[str, Any] = {}
    count, bad = plan.fold(block(BLOCK), writes)
    assert writes == {"a": 2 + 10**29, "7": 3.5}
    assert count == 4  # the blank line is not a record
    ((index, error, value),) = bad
    assert index == 3 and "missing field 'c.id'" in str(error) and value == {"c": 5, "o": {"amt": 1}}


def test_a_count_reads_only_the_key() -> None:
    plan = FieldPlan.of(Pipeline("n", Count(), key="c.id"), "append")
    assert plan is not None
    writes: dict[str, Any] = {}
    assert plan.fold(block(BLOCK), writes)[0] == 4
    assert writes == {"a": 2, "7": 1}


def test_payload_batches_fold_like_blocks_and_skip_tombstones() -> None:
    plan = FieldPlan.of(Pipeline("x", Sum(), key="k", value="v"), "append")
    assert plan is not None
    writes: dict[str, Any] = {}
    payloads = [b'{"k":"a","v":1}', None, b'{"k":"a","v":2}', b'{"k":"a","v":false}']
    count, bad = plan.fold(Batch(4, None, records=[], payloads=payloads), writes)
    assert (count, writes, [i for i, _, _ in bad]) == (3, {"a": 3}, [3])


@pytest.mark.parametrize(
    "pipeline",
    [
        Pipeline("t", Sum(), key="user:{id}", value="v"),
        Pipeline("c", Sum(), key="=all", value="v"),
        Pipeline("m", Sum(), keys=["a", "b"], value="v"),
        Pipeline("f", Sum(), key=lambda v: v["k"], value="v"),
        Pipeline("i", Sum(), key="items.0", value="v"),
        Pipeline("w", Sum(), key="k", value="v", window=Window.parse("day")),
        Pipeline("d", Sum(), key="k", value="v", decode=dict),
        Pipeline("s", Set(), key="k", value="v"),
    ],
    ids=lambda p: p.name,
)
def test_other_pipelines_take_the_general_path(pipeline: Pipeline) -> None:
    assert FieldPlan.of(pipeline, "append") is None


def test_changelog_mode_takes_the_general_path() -> None:
    assert FieldPlan.of(Pipeline("x", Sum(), key="k", value="v"), "changelog") is None
