"""Block decoding (``murmur._decode``): which pipelines take the block path, and that it folds
exactly what the general path would, one call per block."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from murmur import Batch, Count, PermanentError, Pipeline, Set, Sum, Window, parse_monoid
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


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"key": "user:{c.id}"}, {"user:a": 2, "user:7": 1}),
        ({"key": "=all"}, {"all": 4}),  # a constant key counts every record, even one without fields
        ({"keys": ["c.id", "=all", "c.id"]}, {"a": 2, "7": 1, "all": 3}),
    ],
)
def test_templates_constants_and_several_keys_take_the_block_path(spec: dict[str, Any], expected: Any) -> None:
    plan = FieldPlan.of(Pipeline("n", Count(), **spec), "append")
    assert plan is not None
    writes: dict[str, Any] = {}
    plan.fold(block(BLOCK), writes)
    assert writes == expected


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
        Pipeline("k", Sum(), key="v", value="v"),
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


SCALARS = st.one_of(
    st.text(max_size=3),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.none(),
)
FIELD = st.one_of(SCALARS, st.lists(SCALARS, max_size=2), st.dictionaries(st.text(max_size=2), SCALARS, max_size=2))
DOC = st.fixed_dictionaries({}, optional={"k": FIELD, "v": FIELD, "x": FIELD})
# (A number out of the float range in a field the pipeline does not read is not decoded on the
# block path, so a count still counts its line, where the general path refuses the whole
# document: the one intended difference, left out here.)
LINE = st.one_of(
    DOC.map(lambda d: json.dumps(d).encode()),
    st.sampled_from([b"{oops", b"", b"  ", b"[1]", b"5", b'{"k":"a","v":NaN}', b'{"k":[1,{}]}']),
)


KEYS: list[dict[str, Any]] = [
    {"key": "k"},
    {"keys": ["k", "x"]},
    {"key": "id:{k}"},
    {"key": "=all"},
    {"keys": ["k", "{x}-{k}", "=all"]},
]


@settings(max_examples=400, deadline=None, derandomize=True)
@given(
    lines=st.lists(LINE, max_size=25),
    kind=st.sampled_from(["sum", "count", "min", "max"]),
    key=st.sampled_from(KEYS),
)
def test_the_block_path_folds_exactly_what_the_general_path_would(
    lines: list[bytes], kind: str, key: dict[str, Any]
) -> None:
    monoid = parse_monoid(kind)
    pipeline = Pipeline("p", monoid, value=None if kind == "count" else "v", **key)
    plan = FieldPlan.of(pipeline, "append")
    assert plan is not None
    fast: dict[str, Any] = {}
    count, bad = plan.fold(block(b"\n".join(lines)), fast)
    # the general path, one line at a time: untyped decode, Pipeline.extract, monoid.combine
    slow: dict[str, Any] = {}
    refused: list[int] = []
    for index, raw in enumerate(lines):
        if not raw.strip():
            continue
        try:
            keys, element = pipeline.extract(msgspec.json.decode(raw), None)
            for state_key in keys:
                name = state_key.entity
                slow[name] = monoid.combine(slow[name], element) if name in slow else element
        except (msgspec.MsgspecError, PermanentError, TypeError):
            refused.append(index)
    assert count == sum(1 for raw in lines if raw.strip())
    assert [index for index, _, _ in bad] == refused
    assert fast == slow
    assert {k: type(v) for k, v in fast.items()} == {k: type(v) for k, v in slow.items()}
