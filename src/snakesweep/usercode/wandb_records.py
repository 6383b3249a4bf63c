"""Decode the records of a wandb transaction log: history rows, summary changes and the exit.

Each record of the log (`snakesweep.usercode.wandb_log` finds them) is a serialized
``wandb.proto.wandb_internal_pb2.Record``. They are decoded by a small protobuf wire-format
reader of the few fields needed, not by ``wandb_internal_pb2``: importing that imports all of
``wandb`` (0.6-0.9 s measured here), while this module takes 5-10 ms beyond the standard
library. The field numbers are pinned in ``_F`` and checked against wandb's descriptors by the
tests.

What comes back, and what wandb itself does to it:

- keys: a nested dict logged as ``{"a": {"b": 1}}`` comes back as ``"a.b"``, the name wandb's
  history, summary and ``leet`` give it; a key logged with a dot (``{"a.b": 1}``) looks the same;
- values: ``json.loads`` of ``value_json``, so ``NaN``/``Infinity``/``-Infinity`` come back as
  floats; wandb-core re-encodes values, so ``1.0`` comes back as ``1``, an int beyond int64 as
  a float, and a NaN set on ``run.summary`` (not logged) as ``None``;
- the opt-in typed encoding (``x_history_value_encoding="json,typed"``) adds a typed value
  beside ``value_json``; wandb 0.31 refuses typed-only, so ``value_json`` is read whenever it is
  there and the typed value only stands in when it is missing;
- other records (config, console output, system stats, artifacts, ``define_metric``) are skipped.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from typing import Any

from snakesweep.usercode.protowire import fields, next_field, signed32, signed64

_DOUBLE = struct.Struct("<d")
_JSON = json.JSONDecoder()


class _F:
    """Protobuf field numbers from ``wandb_internal_pb2`` (0.31), checked by the tests."""

    RECORD_HISTORY, RECORD_SUMMARY, RECORD_RUN, RECORD_EXIT = 2, 3, 17, 18
    HISTORY_ITEM, HISTORY_STEP, STEP_NUM = 1, 2, 1
    SUMMARY_UPDATE, SUMMARY_REMOVE = 1, 2
    ITEM_KEY, ITEM_NESTED_KEY, ITEM_VALUE_JSON = 1, 2, 16
    # HistoryItem's opt-in typed value (``x_history_value_encoding="json,typed"``), a oneof.
    TYPED_NONE, TYPED_BOOL, TYPED_INT, TYPED_NUMBER, TYPED_TEXT, TYPED_JSON = 3, 4, 5, 6, 7, 8
    EXIT_CODE = 1
    RUN_START_TIME, TIMESTAMP_SECONDS, TIMESTAMP_NANOS = 17, 1, 2


@dataclass(frozen=True)
class Row:
    """One committed ``wandb.log`` step: key -> value, with ``_step``, ``_runtime`` and
    ``_timestamp``.

    Keys and values as the module docstring describes (``"a.b"`` for nested dicts, NaN as a
    float, ``1.0`` as ``1``); media objects come back as wandb's JSON dicts (``{"_type": ...}``).
    """

    values: dict[str, Any]


@dataclass(frozen=True)
class Summary:
    """A change to the run summary: keys set (``update``) and keys deleted (``remove``)."""

    update: dict[str, Any]
    remove: tuple[str, ...] = ()


@dataclass(frozen=True)
class Exit:
    """The run finished, with this exit code (``wandb.finish(exit_code=...)``)."""

    code: int


Event = Row | Summary | Exit


def decode_record(payload: bytes) -> Event | None:
    """Turn one ``Record`` into a Row, Summary or Exit; None for the record types not wanted.
    Raises ``ValueError`` for bytes that are no such record."""
    try:
        pos = 0
        while pos < len(payload):
            number, value, pos = next_field(payload, pos)
            if number == _F.RECORD_HISTORY:
                return _decode_history(value)
            if number == _F.RECORD_SUMMARY:
                return _decode_summary(value)
            if number == _F.RECORD_EXIT:
                return _decode_exit(value)
    except (ValueError, IndexError, UnicodeDecodeError, struct.error) as err:
        raise ValueError(f"undecodable record ({err})") from err
    return None


def run_start_ns(payload: bytes) -> int | None:
    """The start time, in ns, of a ``Record`` that is the run's record; None for any other."""
    for number, value in fields(payload):
        if number == _F.RECORD_RUN:
            return _run_start_ns(value)
    return None


def _decode_history(buf: bytes) -> Row:
    values, others = _decode_items(buf)
    for number, value in others:
        if number == _F.HISTORY_STEP:
            values.setdefault("_step", signed64(dict(fields(value)).get(_F.STEP_NUM, 0)))
    return Row(values)


def _decode_summary(buf: bytes) -> Summary:
    update, others = _decode_items(buf)
    remove = [_split_item(value)[0] for number, value in others if number == _F.SUMMARY_REMOVE]
    return Summary(update, tuple(remove))


def _decode_exit(buf: bytes) -> Exit:
    return Exit(signed32(dict(fields(buf)).get(_F.EXIT_CODE, 0)))


def _decode_items(buf: bytes) -> tuple[dict[str, Any], list[tuple[int, Any]]]:
    """Decode field 1 of a HistoryRecord/SummaryRecord, the items, into ``{dotted key: value}``.

    Returns the record's other fields too. This is the hot loop (a history row is a record of
    ~10-100 items), so the shape wandb-core writes, ``nested_key`` then ``value_json`` with
    one-byte lengths, is recognized inline; any other item goes through ``_split_item``. The
    ``value_json`` texts of one record are parsed by one ``json.loads`` of a JSON array.
    """
    keys: list[str] = []
    texts: list[bytes] = []
    typed: dict[int, Any] = {}
    others: list[tuple[int, Any]] = []
    add_key, add_text, starts = keys.append, texts.append, buf.startswith
    pos, size = 0, len(buf)
    while pos < size:
        if buf[pos] == 0x0A and buf[pos + 1] < 0x80:  # an item shorter than 128 bytes
            start, pos = pos + 2, pos + 2 + buf[pos + 1]
            if buf[start] == 0x12 and buf[start + 1] < 0x80:  # nested_key
                value = start + 2 + buf[start + 1]
                if starts(b"\x82\x01", value) and buf[value + 2] == pos - value - 3 and pos <= size:
                    add_key(buf[start + 2 : value].decode())
                    add_text(buf[value + 3 : pos])
                    continue
            item = buf[start:pos]
        else:
            number, item, pos = next_field(buf, pos)
            if number != 1:
                others.append((number, item))
                continue
        key, text, value = _split_item(item)
        keys.append(key)
        if text is None:
            typed[len(keys) - 1] = value
        else:
            texts.append(text)
    return dict(zip(keys, _json_values(texts, typed, len(keys)), strict=True)), others


def _json_values(texts: list[bytes], typed: dict[int, Any], count: int) -> list[Any]:
    """Parse the JSON texts, and put the typed values in their places among them."""
    try:
        decoded = _JSON.decode((b"[" + b",".join(texts) + b"]").decode()) if texts else []
    except ValueError:  # one bad text: decode them one by one
        decoded = [_json_value(text) for text in texts]
    if typed:
        parsed = iter(decoded)
        decoded = [typed[i] if i in typed else next(parsed) for i in range(count)]
    return decoded


def _split_item(item: bytes) -> tuple[str, bytes | None, Any]:
    """Split an item into (dotted key, ``value_json`` or None, typed value or None).

    The key is ``key``, or ``nested_key`` joined with "." as wandb's history, summary and
    ``leet`` show nested dicts. This inlines the common tags (one-byte lengths) for speed.

    ``value_json`` is always there from wandb 0.31: its opt-in typed encoding
    (``x_history_value_encoding="json,typed"``) adds a typed oneof beside it and refuses
    typed-only, so the typed value is only a fallback for a writer that omits the JSON.
    """
    nested: list[bytes] = []
    key = b""
    text: bytes | None = None
    typed: Any = None
    pos, size = 0, len(item)
    while pos < size:
        tag = item[pos]
        if tag == 0x12 and item[pos + 1] < 0x80:  # nested_key, with a one-byte length
            length = item[pos + 1]
            nested.append(item[pos + 2 : pos + 2 + length])
            pos += 2 + length
            continue
        if tag == 0x0A and item[pos + 1] < 0x80:  # key
            length = item[pos + 1]
            key = item[pos + 2 : pos + 2 + length]
            pos += 2 + length
            continue
        if tag == 0x82 and item[pos + 1] == 0x01 and item[pos + 2] < 0x80:  # value_json, short
            length = item[pos + 2]
            text = item[pos + 3 : pos + 3 + length]
            pos += 3 + length
            continue
        for number, value in fields(item[pos:]):  # anything else: the general decoder
            if number == _F.ITEM_NESTED_KEY:
                nested.append(value)
            elif number == _F.ITEM_KEY:
                key = value
            elif number == _F.ITEM_VALUE_JSON:
                text = value
            elif _F.TYPED_NONE <= number <= _F.TYPED_JSON:
                typed = _typed_value(number, value)
        break
    return _key(tuple(nested) if nested else (key,)), text, typed


_KEYS: dict[tuple[bytes, ...], str] = {}


def _key(parts: tuple[bytes, ...]) -> str:
    """Join and decode a key, memoized: the same few keys recur in every row."""
    key = _KEYS.get(parts)
    if key is None:
        if len(_KEYS) > 100_000:
            _KEYS.clear()
        key = _KEYS[parts] = ".".join(str(part, "utf-8") for part in parts)
    return key


def _json_value(text: bytes) -> Any:
    """``json.loads``, which maps wandb's ``NaN``/``Infinity``/``-Infinity`` to floats.

    Text that is not JSON (never seen from wandb) is returned as the string itself.
    """
    try:
        return json.loads(text)
    except ValueError:
        return str(text, "utf-8", "replace")


def _typed_value(number: int, value: Any) -> Any:
    if number == _F.TYPED_NONE:
        return None
    if number == _F.TYPED_BOOL:
        return bool(value)
    if number == _F.TYPED_INT:  # sint64, zigzag-encoded
        return (value >> 1) ^ -(value & 1)
    if number == _F.TYPED_NUMBER:
        return _DOUBLE.unpack(value)[0]
    if number == _F.TYPED_TEXT:
        return str(value, "utf-8")
    return _json_value(value)


def _run_start_ns(run: bytes) -> int:
    for number, value in fields(run):
        if number == _F.RUN_START_TIME:
            parts = dict(fields(value))
            return parts.get(_F.TIMESTAMP_SECONDS, 0) * 10**9 + parts.get(_F.TIMESTAMP_NANOS, 0)
    return 1 << 62
