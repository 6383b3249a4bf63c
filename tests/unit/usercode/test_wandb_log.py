"""The transaction-log reader (its framing: header, blocks, chunks) against real offline runs that
wandb itself writes, read whole, a byte at a time as they grow, live while the program still
logs, and next to wandb-core's own decoder (`leet inspect`). One run is generated per module (a
few seconds) and shared. The records inside are tested on their own in test_wandb_records.py."""

from __future__ import annotations

import bisect
import json
import math
import os
import random
import shutil
import struct
import subprocess
import sys
import time
import zlib
from importlib.util import find_spec
from pathlib import Path

import pytest

from snakesweep.usercode.wandb_log import (
    BLOCK_SIZE,
    HEADER,
    TransactionLog,
    TransactionLogError,
    find_logs,
)
from snakesweep.usercode.wandb_records import Exit, Row, Summary

ROWS = 400
BLOB = 80_000  # one logged string this long makes records of first, middle and last chunks

PROGRAM = """
import json, math, pathlib, sys, time, wandb
root, rows, pause, release = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
run = wandb.init(mode="offline", dir=root, project="wandb-log-test", config={"lr": 0.01})
logged = []
for i in range(rows):
    row = {"loss": 1 / (i + 1), "epoch": i, "acc": i / rows, "name": f"row-{i}", "flag": i % 2 == 0,
           "nested": {"a": i, "b": {"c": i * 0.5}}, "train/loss": -i, "whole": float(i)}
    if i % 7 == 0:
        row["nan"] = math.nan
    if i % 11 == 0:
        row.update(inf=math.inf, ninf=-math.inf)
    if i == rows // 2:
        row["blob"] = "x" * BLOB_LENGTH
    wandb.log(row)
    logged.append(row)
    time.sleep(pause)
run.summary["best"] = 0.5
run.summary["nested_summary"] = {"k": 1, "nan": math.nan}
run.summary["gone"] = 1
del run.summary["gone"]
flush = run.settings.x_transaction_log_flush_interval
pathlib.Path(root, "logged.json").write_text(json.dumps({"rows": logged, "flush": flush}))
waited = time.monotonic()
while release != "-" and not pathlib.Path(release).exists() and time.monotonic() - waited < 120:
    time.sleep(0.05)
wandb.finish(exit_code=3)
""".replace("BLOB_LENGTH", str(BLOB))


def wandb_env(root: Path) -> dict[str, str]:
    """Offline, no network, every file wandb writes (cache, config, home) inside `root`, and the
    log flushed every 0.2 s as the agent sets it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_")}
    env.update(
        HOME=str(root / "home"),
        XDG_CACHE_HOME=str(root / "home" / ".cache"),
        XDG_CONFIG_HOME=str(root / "home" / ".config"),
        TMPDIR=str(root),
        WANDB_MODE="offline",
        WANDB_SILENT="true",
        WANDB_CACHE_DIR=str(root / "cache"),
        WANDB_CONFIG_DIR=str(root / "config"),
        WANDB_DATA_DIR=str(root / "data"),
        WANDB_ARTIFACT_DIR=str(root / "artifacts"),
        WANDB__TRANSACTION_LOG_FLUSH_INTERVAL="0.2",
    )
    return env


def start_program(
    root: Path, rows: int, pause: float = 0.0, release: str = "-", source: str = PROGRAM
):
    root.mkdir(parents=True, exist_ok=True)
    (root / "home").mkdir(exist_ok=True)
    script = root / "program.py"
    script.write_text(source)
    argv = [sys.executable, str(script), str(root), str(rows), str(pause), release]
    pipe = subprocess.PIPE
    return subprocess.Popen(
        argv, env=wandb_env(root), cwd=root, stdout=pipe, stderr=pipe, text=True
    )


def finish(proc: subprocess.Popen) -> None:
    out, err = proc.communicate(timeout=180)
    assert proc.returncode == 0, err[-3000:]


@pytest.fixture(scope="module")
def offline_run(tmp_path_factory):
    """(log path, what the program logged) for one finished offline run of ROWS rows."""
    root = tmp_path_factory.mktemp("wandb-run")
    finish(start_program(root, ROWS))
    logs = find_logs(root)
    assert len(logs) == 1 and logs[0].parent.name.startswith("offline-run-")
    logged = json.loads((root / "logged.json").read_text())
    assert logged["flush"] == 0.2  # the env var reached wandb's x_transaction_log_flush_interval
    return logs[0], logged["rows"]


@pytest.fixture(scope="module")
def full_events(offline_run):
    return TransactionLog(offline_run[0]).read()


# ---- helpers: an independent chunk walker and writer, and NaN-aware equality ----


def chunks(data: bytes) -> list[tuple[int, int, int]]:
    """(offset, type, payload length) of every chunk of a whole, valid log."""
    out, pos = [], len(HEADER)
    while pos + 7 <= len(data):
        if BLOCK_SIZE - pos % BLOCK_SIZE < 7:
            pos += BLOCK_SIZE - pos % BLOCK_SIZE
            continue
        crc, length, kind = struct.unpack_from("<IHB", data, pos)
        assert crc == zlib.crc32(data[pos + 6 : pos + 7 + length]), f"bad crc at {pos}"
        out.append((pos, kind, length))
        pos += 7 + length
    assert pos == len(data)
    return out


def records(data: bytes) -> list[tuple[int, bytes]]:
    """(end offset, payload) of every record of a whole, valid log."""
    out, parts = [], []
    for pos, kind, length in chunks(data):
        parts.append(data[pos + 7 : pos + 7 + length])
        if kind in (1, 4):
            out.append((pos + 7 + length, b"".join(parts)))
            parts = []
    return out


def write_log(path: Path, payloads: list[bytes]) -> None:
    """Write records the way wandb-core's leveldb writer does (header inside the first block)."""
    out = bytearray(HEADER)
    for payload in payloads:
        first = True
        while True:
            room = BLOCK_SIZE - len(out) % BLOCK_SIZE
            if room < 7:
                out += bytes(room)
                continue
            piece, payload = payload[: room - 7], payload[room - 7 :]
            kind = (1 if not payload else 2) if first else (4 if not payload else 3)
            out += struct.pack("<IHB", zlib.crc32(bytes([kind]) + piece), len(piece), kind) + piece
            first = False
            if not payload:
                break
    path.write_bytes(bytes(out))


def same(a, b) -> bool:
    """Equality where NaN equals NaN and 1 equals 1.0 (wandb-core writes 1.0 as 1)."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=False))
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    return a == b


def same_events(got: list, want: list) -> bool:
    return len(got) == len(want) and all(
        type(a) is type(b) and same(a.__dict__, b.__dict__) for a, b in zip(got, want, strict=False)
    )


def flatten(row: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in row.items():
        if isinstance(value, dict):
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[prefix + key] = value
    return out


def pb():
    from wandb.proto import wandb_internal_pb2  # imports all of wandb: about a second

    return wandb_internal_pb2


# ---- the format, as wandb's own code has it ----


def test_the_run_crosses_blocks_and_splits_records(offline_run):
    data = offline_run[0].read_bytes()
    assert data[:7] == HEADER == b":W&B" + struct.pack("<HB", 0xBEE1, 0)
    kinds = {kind for _, kind, _ in chunks(data)}  # every CRC checked with zlib.crc32 (IEEE)
    assert kinds == {1, 2, 3, 4} and len(data) > 8 * BLOCK_SIZE


# ---- what comes back ----


def test_rows_are_what_the_program_logged(offline_run, full_events):
    rows = [dict(event.values) for event in full_events if isinstance(event, Row)]
    logged = offline_run[1]
    assert len(rows) == len(logged) == ROWS
    for step, (got, sent) in enumerate(zip(rows, logged, strict=False)):
        assert isinstance(got.pop("_runtime"), float) and isinstance(got.pop("_timestamp"), float)
        want = flatten(sent) | {"_step": step}
        assert same(got, want), (step, got, want)
    assert rows[0]["nested.b.c"] == 0 and rows[1]["train/loss"] == -1
    assert (
        math.isnan(rows[0]["nan"]) and rows[0]["inf"] == math.inf and rows[0]["ninf"] == -math.inf
    )
    assert rows[ROWS // 2]["blob"] == "x" * BLOB


def test_summary_updates_removes_and_the_exit(full_events):
    summary: dict = {}
    for event in full_events:
        if isinstance(event, Summary):
            summary.update(event.update)
            for key in event.remove:
                summary.pop(key)
    assert summary["best"] == 0.5 and "gone" not in summary
    # wandb-core re-encodes a value set on run.summary, and writes its NaN as null (a logged NaN
    # stays NaN)
    assert summary["nested_summary"] == {"k": 1, "nan": None} and math.isnan(summary["nan"])
    assert summary["nested.b.c"] == (ROWS - 1) * 0.5 and summary["_step"] == ROWS - 1
    assert full_events[-1] == Exit(3) and sum(isinstance(e, Exit) for e in full_events) == 1
    assert Summary({}, ("gone",)) in full_events


def test_leet_inspect_decodes_the_same(offline_run, full_events, tmp_path):
    core = Path(find_spec("wandb").submodule_search_locations[0], "bin", "wandb-core")
    argv = [
        str(core),
        "leet",
        "inspect",
        "--json",
        "--no-observability",
        "--run-file",
        str(offline_run[0]),
    ]
    try:
        done = subprocess.run(
            argv, env=wandb_env(tmp_path), capture_output=True, text=True, timeout=60
        )
    except OSError as err:
        pytest.skip(f"no wandb-core binary: {err}")
    if done.returncode != 0:
        pytest.skip(f"leet inspect does not work here: {done.stderr[-500:]}")
    leet = []
    for line in done.stdout.splitlines():
        record = json.loads(line)
        if record["type"] == "history":
            leet.append(Row(record["history"]["item"]))
        elif record["type"] == "summary":
            body = record["summary"]
            removed = tuple(
                ".".join(r.get("nested_key") or [r["key"]]) for r in body.get("remove", [])
            )
            leet.append(Summary(body.get("update", {}), removed))
        elif record["type"] == "exit":
            leet.append(Exit(record["exit"].get("exit_code", 0)))
    assert len(leet) == len(full_events)
    for theirs, ours in zip(leet, full_events, strict=False):
        assert type(theirs) is type(ours)
        if isinstance(ours, Exit):
            assert theirs == ours
        else:  # leet spells non-finite floats as JSON strings
            assert same(
                json.loads(json.dumps(to_leet(ours))), json.loads(json.dumps(theirs.__dict__))
            )


def to_leet(event) -> dict:
    """An event's fields as `leet inspect --json` writes them: non-finite floats as strings."""

    def spell(value):
        if isinstance(value, float) and not math.isfinite(value):
            return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
        if isinstance(value, dict):
            return {k: spell(v) for k, v in value.items()}
        return [spell(v) for v in value] if isinstance(value, list) else value

    return spell(event.__dict__)


# ---- reading a file that grows, or that is cut anywhere ----


def cut_points(data: bytes) -> list[int]:
    """Offsets inside and around every chunk header and payload, every block boundary, and random
    ones."""
    points = set()
    for pos, _, length in chunks(data):
        points.update(pos + d for d in (1, 3, 6, 7, 8))
        points.update((pos + 7 + length // 2, pos + 6 + length))
    for block in range(BLOCK_SIZE, len(data), BLOCK_SIZE):
        points.update(range(block - 8, block + 9))
    points.update(random.Random(0).sample(range(len(data)), 200))
    return sorted(p for p in points if 0 < p < len(data)) + [len(data)]


def wanted_ends(data: bytes) -> list[int]:
    """End offsets of the records the reader returns (history, summary, exit), from wandb's
    protobufs."""
    record = pb().Record()
    ends = []
    for end, payload in records(data):
        record.ParseFromString(payload)
        if record.WhichOneof("record_type") in ("history", "summary", "exit"):
            ends.append(end)
    return ends


def test_a_growing_file_reads_whole_records_exactly_once(offline_run, full_events, tmp_path):
    data = offline_run[0].read_bytes()
    ends = wanted_ends(data)
    grown = tmp_path / "run-grown.wandb"
    log, seen = TransactionLog(grown), []
    assert log.read() == []  # not there yet
    written = 0
    with open(grown, "wb") as out:
        for point in cut_points(data):
            out.write(data[written:point])
            out.flush()
            written = point
            seen += log.read()
            assert len(seen) == bisect.bisect_right(ends, point), point
    assert same_events(seen, full_events) and log.offset == len(data)


def test_any_prefix_reads_as_the_records_it_holds(offline_run, full_events, tmp_path):
    data = offline_run[0].read_bytes()
    ends = wanted_ends(data)
    around_blocks = [
        block + d for block in (BLOCK_SIZE, 2 * BLOCK_SIZE) for d in (-8, -7, -6, -1, 0, 1, 7, 8)
    ]
    mid_chunk = [pos + d for pos, _, length in chunks(data)[40:44] for d in (3, 7 + length // 2)]
    for point in around_blocks + mid_chunk + random.Random(1).sample(range(len(data)), 6):
        cut = tmp_path / f"run-{point}.wandb"
        cut.write_bytes(data[:point])
        got = TransactionLog(cut).read()
        assert same_events(got, full_events[: bisect.bisect_right(ends, point)]), point


# ---- files that are not, or are no longer, a log ----


def test_missing_file_then_created(offline_run, tmp_path):
    log = TransactionLog(tmp_path / "wandb" / "run-x.wandb")
    assert log.read() == [] and log.read() == []
    (tmp_path / "wandb").mkdir()
    (tmp_path / "wandb" / "run-x.wandb").write_bytes(b"")
    assert log.read() == []
    (tmp_path / "wandb" / "run-x.wandb").write_bytes(HEADER[:3])
    assert log.read() == []
    shutil.copy(offline_run[0], tmp_path / "wandb" / "run-x.wandb")  # same inode, grown
    assert len(log.read()) > ROWS and log.read() == []


@pytest.mark.parametrize(
    "content, message",
    [
        (b"hello, world", "not a wandb transaction log"),
        (b"PK\x03", "not a wandb"),
        (HEADER[:6] + b"\x01", "version 1"),
    ],
)
def test_foreign_files_are_named_in_the_error(tmp_path, content, message):
    path = tmp_path / "run-x.wandb"
    path.write_bytes(content)
    with pytest.raises(TransactionLogError, match=message) as raised:
        TransactionLog(path).read()
    assert str(path) in str(raised.value)


def test_shrunk_replaced_or_deleted_files_raise(offline_run, tmp_path):
    data = offline_run[0].read_bytes()
    path = tmp_path / "run-x.wandb"
    path.write_bytes(data)
    log = TransactionLog(path)
    assert log.read()
    with open(path, "r+b") as f:
        f.truncate(len(data) // 2)
    with pytest.raises(TransactionLogError, match="shrank"):
        log.read()
    log = TransactionLog(path)
    log.read()
    (tmp_path / "other").write_bytes(data)
    os.replace(tmp_path / "other", path)
    with pytest.raises(TransactionLogError, match="replaced"):
        log.read()
    path.unlink()
    with pytest.raises(TransactionLogError, match="deleted"):
        log.read()


def test_a_bad_checksum_waits_at_the_end_and_raises_further_back(
    offline_run, full_events, tmp_path
):
    data = bytearray(offline_run[0].read_bytes())
    tail = [pos for pos, _, length in chunks(bytes(data)) if length > 8][-1]
    near_end = bytearray(data)
    near_end[tail + 8] ^= 0xFF  # a write in flight, or torn: the reader stops before it
    path = tmp_path / "run-a.wandb"
    path.write_bytes(bytes(near_end))
    got = TransactionLog(path).read()
    assert 0 < len(got) < len(full_events) and same_events(got, full_events[: len(got)])
    early = bytearray(data)
    early[len(HEADER) + 10] ^= 0xFF
    path = tmp_path / "run-b.wandb"
    path.write_bytes(bytes(early))
    with pytest.raises(TransactionLogError, match=f"corrupt chunk at offset {len(HEADER)}"):
        TransactionLog(path).read()


def test_a_record_that_does_not_decode_names_the_file(tmp_path):
    path = tmp_path / "run-x.wandb"
    write_log(path, [b"\x12\x05ab"])  # a history record that claims 5 bytes and has 2
    with pytest.raises(TransactionLogError, match="undecodable record") as raised:
        TransactionLog(path).read()
    assert str(path) in str(raised.value)


# ---- finding the logs ----


def test_find_logs_lists_offline_and_online_runs_oldest_first(tmp_path):
    m = pb()

    def run_log(folder: str, started: float) -> Path:
        run = m.RunRecord(run_id=folder[-3:])
        run.start_time.FromNanoseconds(int(started * 1e9))
        (tmp_path / folder).mkdir(parents=True)
        path = tmp_path / folder / f"run-{folder[-3:]}.wandb"
        write_log(
            path,
            [
                m.Record(header=m.HeaderRecord()).SerializeToString(),
                m.Record(run=run).SerializeToString(),
            ],
        )
        return path

    later = run_log("wandb/offline-run-20260101_000001-aaa", 2.5)
    sooner = run_log("wandb/offline-run-20260101_000001-bbb", 2.1)  # same second, started first
    online = run_log("wandb/run-20260101_000000-ccc", 1.0)
    last = run_log(".wandb/offline-run-20260101_000002-ddd", 3.0)
    (tmp_path / "wandb" / "latest-run").symlink_to(tmp_path / "wandb" / "run-20260101_000000-ccc")
    (tmp_path / "wandb" / "offline-run-20260101_000001-aaa" / "files").mkdir()
    (tmp_path / "wandb" / "debug.log").write_text("")
    assert find_logs(tmp_path) == [online, sooner, later, last]
    assert find_logs(tmp_path / "nowhere") == []


@pytest.mark.slow
def test_two_inits_in_one_process_are_found_in_order(tmp_path):
    source = """
import sys, wandb
for n in (1, 2):
    run = wandb.init(mode="offline", dir=sys.argv[1], project="p")
    wandb.log({"which": n})
    run.finish(exit_code=n)
"""
    finish(start_program(tmp_path, 0, source=source))
    logs = find_logs(tmp_path)
    assert len(logs) == 2
    assert [
        [e.values["which"] for e in TransactionLog(p).read() if isinstance(e, Row)] for p in logs
    ] == [[1], [2]]


# ---- live, and fast ----


@pytest.mark.slow
def test_a_live_read_sees_rows_while_the_program_runs(tmp_path, measurement):
    release = tmp_path / "release"
    proc = start_program(tmp_path, 8, pause=0.3, release=str(release))
    try:
        events, log, started = [], None, time.monotonic()
        while sum(isinstance(e, Row) for e in events) < 3:
            assert proc.poll() is None, proc.communicate()[1][-3000:]
            assert time.monotonic() - started < 120, "no rows seen"
            logs = find_logs(tmp_path)
            if logs and log is None:
                log = TransactionLog(logs[0])
            events += log.read() if log else []
            time.sleep(0.1)
        assert proc.poll() is None  # rows arrived before the program ended
        measurement(
            f"wandb_log: 3 live rows read {time.monotonic() - started:.2f} s "
            "after the program started"
        )
        release.touch()
        finish(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
    events += log.read()
    logged = json.loads((tmp_path / "logged.json").read_text())["rows"]
    rows = [e.values for e in events if isinstance(e, Row)]
    assert [r["epoch"] for r in rows] == [r["epoch"] for r in logged] == list(range(8))
    assert events[-1] == Exit(3)


def test_reads_are_fast(offline_run, measurement):
    path = offline_run[0]
    megabytes = path.stat().st_size / 1e6
    full = min(timed(lambda: TransactionLog(path).read()) for _ in range(3))
    log = TransactionLog(path)
    log.read()
    polls = 2000
    empty = timed(lambda: [log.read() for _ in range(polls)]) / polls
    measurement(
        f"wandb_log: full read {full / megabytes * 1000:.0f} ms per MB; "
        f"empty poll {empty * 1e6:.1f} us"
    )
    assert full / megabytes < 1.0 and empty < 1e-3  # loose: shared CI machines are slow


def timed(call) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start
