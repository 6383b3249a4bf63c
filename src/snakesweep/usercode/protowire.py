"""The protobuf wire format, read by hand: the few primitives the wandb record decoder needs
(`snakesweep.usercode.wandb_records`), without importing protobuf or wandb's generated code."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


def varint(buf: bytes, pos: int) -> tuple[int, int]:
    """Decode the protobuf varint at ``pos``; return it and the position after it."""
    result = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7


def fields(buf: bytes) -> Iterator[tuple[int, Any]]:
    """``(field number, value)`` for each field of a protobuf message (see ``next_field``)."""
    pos, size = 0, len(buf)
    while pos < size:
        number, value, pos = next_field(buf, pos)
        yield number, value


def next_field(buf: bytes, pos: int) -> tuple[int, Any, int]:
    """Decode the protobuf field at ``pos``: its number, its value and the position after it.

    A varint comes as an int, a fixed64/fixed32 as its raw bytes, a length-delimited field as
    bytes. Groups (wire types 3 and 4) appear nowhere in wandb's records.
    """
    tag, pos = varint(buf, pos)
    wire = tag & 7
    if wire == 2:
        length, pos = varint(buf, pos)
        if pos + length > len(buf):
            raise ValueError("truncated field")
        return tag >> 3, buf[pos : pos + length], pos + length
    if wire == 0:
        value, pos = varint(buf, pos)
        return tag >> 3, value, pos
    if wire in (1, 5):
        width = 8 if wire == 1 else 4
        if pos + width > len(buf):
            raise ValueError("truncated field")
        return tag >> 3, buf[pos : pos + width], pos + width
    raise ValueError(f"unsupported wire type {wire}")


def signed64(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def signed32(value: int) -> int:
    """An int32 field: negative values are sign-extended to 64 bits on the wire."""
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value >= 1 << 31 else value
