"""The records of a wandb transaction log, decoded without wandb: the protobuf field numbers
checked against wandb's own descriptors, and records that wandb's own protobuf classes write,
decoded to rows, summary changes and the exit (or skipped, or refused)."""

from __future__ import annotations

import math

import pytest

from snakesweep.usercode.wandb_records import (
    _F,
    Exit,
    Row,
    Summary,
    decode_record,
    run_start_ns,
)


def pb():
    from wandb.proto import wandb_internal_pb2  # imports all of wandb: about a second

    return wandb_internal_pb2


def test_field_numbers_are_wandbs():
    m = pb()
    fields = {
        (m.Record, "history"): _F.RECORD_HISTORY,
        (m.Record, "summary"): _F.RECORD_SUMMARY,
        (m.Record, "run"): _F.RECORD_RUN,
        (m.Record, "exit"): _F.RECORD_EXIT,
        (m.HistoryRecord, "item"): _F.HISTORY_ITEM,
        (m.HistoryRecord, "step"): _F.HISTORY_STEP,
        (m.HistoryStep, "num"): _F.STEP_NUM,
        (m.SummaryRecord, "update"): _F.SUMMARY_UPDATE,
        (m.SummaryRecord, "remove"): _F.SUMMARY_REMOVE,
        (m.RunExitRecord, "exit_code"): _F.EXIT_CODE,
        (m.RunRecord, "start_time"): _F.RUN_START_TIME,
    }
    for item in (m.HistoryItem, m.SummaryItem):
        fields.update({(item, "key"): _F.ITEM_KEY, (item, "nested_key"): _F.ITEM_NESTED_KEY})
        fields[(item, "value_json")] = _F.ITEM_VALUE_JSON
    typed = ["none", "boolean", "integer", "number", "text", "json"]
    for name, number in zip(typed, range(_F.TYPED_NONE, _F.TYPED_JSON + 1), strict=False):
        fields[(m.HistoryItem, name)] = number
    assert [f.name for f in m.HistoryItem.DESCRIPTOR.oneofs_by_name["value"].fields] == typed
    for (message, name), number in fields.items():
        assert message.DESCRIPTOR.fields_by_name[name].number == number, (message, name)
    assert m.HistoryItem.DESCRIPTOR.fields_by_name["integer"].type == 18  # sint64: zigzag


def test_typed_values_stand_in_when_value_json_is_missing():
    m = pb()
    history = m.HistoryRecord()
    for key, field, value in [
        ("i", "integer", -5),
        ("x", "number", math.inf),
        ("t", "text", "ü"),
        ("b", "boolean", True),
        ("j", "json", '{"a": [1, NaN]}'),
    ]:
        item = history.item.add(nested_key=[key, "v"])
        setattr(item, field, value)
    history.item.add(key="n").none = 0
    history.item.add(key="both", value_json="1.5", integer=7)  # value_json wins, as wandb reads it
    history.step.num = 9
    ended = m.Record(exit=m.RunExitRecord(exit_code=-2))
    row = decode_record(m.Record(history=history).SerializeToString())
    end = decode_record(ended.SerializeToString())
    assert row.values.pop("j.v")["a"][0] == 1 and end == Exit(-2)
    assert row.values == {
        "i.v": -5,
        "x.v": math.inf,
        "t.v": "ü",
        "b.v": True,
        "n": None,
        "both": 1.5,
        "_step": 9,
    }


def test_a_logged_row_with_nested_keys_and_its_step():
    m = pb()
    history = m.HistoryRecord()
    history.item.add(key="loss", value_json="0.25")
    history.item.add(nested_key=["group", "acc"], value_json="NaN")
    history.item.add(key="_step", value_json="4")
    history.step.num = 9  # the item wins, as wandb's history shows it
    row = decode_record(m.Record(history=history).SerializeToString())
    assert isinstance(row, Row) and row.values["_step"] == 4
    assert row.values["loss"] == 0.25 and math.isnan(row.values["group.acc"])
    stepless = m.HistoryRecord()
    stepless.item.add(key="loss", value_json="1")
    stepless.step.num = 2
    assert decode_record(m.Record(history=stepless).SerializeToString()) == Row(
        {"loss": 1, "_step": 2}
    )


def test_summary_changes_and_the_exit_code():
    m = pb()
    summary = m.SummaryRecord()
    summary.update.add(key="best", value_json="0.5")
    summary.update.add(nested_key=["a", "b"], value_json='"x"')
    summary.remove.add(nested_key=["gone", "k"])
    summary.remove.add(key="old")
    assert decode_record(m.Record(summary=summary).SerializeToString()) == Summary(
        {"best": 0.5, "a.b": "x"}, ("gone.k", "old")
    )
    for code in (0, 3, -9):  # an int32: a negative one is sign-extended on the wire
        ended = m.Record(exit=m.RunExitRecord(exit_code=code)).SerializeToString()
        assert decode_record(ended) == Exit(code)


def test_other_records_are_skipped_and_the_run_record_gives_its_start():
    m = pb()
    run = m.RunRecord(run_id="abc")
    run.start_time.FromNanoseconds(1_700_000_000_123_456_789)
    assert decode_record(m.Record(run=run).SerializeToString()) is None
    assert run_start_ns(m.Record(run=run).SerializeToString()) == 1_700_000_000_123_456_789
    header = m.Record(header=m.HeaderRecord()).SerializeToString()
    assert decode_record(header) is None and run_start_ns(header) is None
    assert decode_record(b"") is None


@pytest.mark.parametrize(
    "payload",
    [
        b"\x12\x05ab",  # a history record that claims 5 bytes and has 2
        b"\x12",  # a tag and nothing after it
        b"\x13\x00",  # a group (wire type 3), which wandb never writes
        b"\x12\x03\x0a\x05a",  # an item that overruns its record
    ],
    ids=["truncated", "tag-only", "group", "item-overrun"],
)
def test_bytes_that_are_no_record_raise_value_error(payload):
    with pytest.raises(ValueError, match="undecodable record"):
        decode_record(payload)
