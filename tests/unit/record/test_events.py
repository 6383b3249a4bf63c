"""The events of a sweep's log: each constructor's kind and fields, as the store writes them and
the folded state reads them back."""

import pytest

from snakesweep.record import events
from snakesweep.record.events import Kind, kind_of
from snakesweep.record.store import decode_all, encode

CONFIG, ENGINE_CONFIG = {"lr": 0.1}, {"lr": {"value": 0.1}}


def test_every_constructor_makes_its_kind():
    made = {
        Kind.CLAIM: events.claim("r", 0, CONFIG, ENGINE_CONFIG, "a", 1),
        Kind.HEARTBEAT: events.heartbeat("r"),
        Kind.METRIC: events.metric("r", 1, 0.5, 1.0),
        Kind.STOP: events.stop("r", 1),
        Kind.FINISH: events.finish("r", {"state": "finished"}, 2.0),
        Kind.CRASHED: events.crashed("r", "no heartbeat"),
        Kind.RETRY: events.retry("r", 3.0),
        Kind.INTERRUPTED: events.interrupted("r", "ended by SIGTERM", 4.0),
    }
    assert set(made) == set(Kind)
    for kind, event in made.items():
        assert kind_of(event) == kind and event["run"] == "r"
        (back,) = decode_all(encode(event))  # a plain dict: what the store writes, read back
        assert back == event and kind_of(back) == kind


def test_an_event_of_no_known_kind_is_none():
    assert kind_of({"run": "r", "time": 0.0}) is None


def test_a_finish_keeps_what_the_run_wrote_and_leaves_out_what_it_did_not():
    plain = events.finish("r", {"state": "failed", "summary": None, "reason": "boom"}, 5.0)
    assert (plain["state"], plain["summary"], plain["reason"], plain["time"]) == (
        "failed",
        {},
        "boom",
        5.0,
    )
    assert "onnx_sha256" not in plain and "artifacts" not in plain
    outcome = {"state": "finished", "summary": {"m": 1}, "onnx_sha256": "ab" * 32, "artifacts": {}}
    full = events.finish("r", outcome, 6.0)
    assert full["onnx_sha256"] == "ab" * 32 and full["artifacts"] == {}  # none written: recorded


@pytest.mark.parametrize(
    ("event", "timed"),
    [
        (events.claim("r", 0, CONFIG, ENGINE_CONFIG, "a", 1), False),
        (events.heartbeat("r"), False),
        (events.stop("r", 1), False),
        (events.crashed("r", "x"), False),
        (events.metric("r", 1, "nan", 4.0), True),
        (events.retry("r", 4.0), True),
    ],
)
def test_only_a_metric_finish_or_retry_is_made_with_its_time(event, timed):
    """A metric, finish or retry is stamped when it happens; the controller stamps the rest as
    it appends them."""
    assert ("time" in event) == timed
