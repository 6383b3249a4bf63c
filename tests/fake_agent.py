"""A real agent process with a fast fake trainer, for the controller's multi-process tests.

usage: python fake_agent.py STORE SWEEP_JSON AGENT MAX_RUNS SECONDS_PER_EPOCH [HEARTBEAT_TIMEOUT]
SWEEP_JSON holds {"config": <sweep config>, "seed": N[, "parallelism": W]}.
Prints one JSON line: the agent's summary, with the latency of every request for work in
seconds (a claim, or an answer to wait).
A config with learning_rate 0.666 raises inside the trainer, like a buggy run would.
"""

import json
import sys
import time

from controller_helpers import PARALLELISM, limits

from snakesweep.agent.loop import run_agent
from snakesweep.sweep.controller import LocalController


def fake_train(seconds_per_epoch):
    def train_one(claim, on_epoch):
        if claim.config.get("learning_rate") == 0.666:
            raise RuntimeError("the trainer blew up")
        score = sum(float(v) for v in claim.config.values() if isinstance(v, (int, float)))
        loss = 1.0
        for epoch in range(1, 4):
            time.sleep(seconds_per_epoch)
            loss = 1.0 / (epoch + score)
            if on_epoch(epoch, {"val_loss": loss}):
                return {"state": "stopped", "summary": {"val_loss": loss}}
        return {"state": "finished", "summary": {"val_loss": loss}}

    return train_one


class TimedController(LocalController):
    latencies: list

    def next(self, agent):
        started = time.perf_counter()
        try:
            return super().next(agent)
        finally:
            self.latencies.append(time.perf_counter() - started)


def main(store, sweep_json, agent, max_runs, seconds, timeout="30"):
    sweep = json.loads(open(sweep_json).read())
    controller = TimedController(
        store,
        sweep["config"],
        sweep["seed"],
        limits(
            heartbeat_timeout=float(timeout),
            parallelism=sweep.get("parallelism", PARALLELISM),
        ),
    )
    controller.latencies = []
    summary = run_agent(
        controller,
        agent,
        int(max_runs),
        fake_train(float(seconds)),
        heartbeat_interval=0.2,
        wait_seconds=0.2,
    )
    summary["claim_seconds"] = controller.latencies
    print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:])
