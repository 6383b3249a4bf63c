"""How the local controller holds up as a sweep grows: N real agent processes share one store.

    python benchmarks/controller_scale.py --agents 64 --runs 1000 [--src DIR] [--repeat K]
        [--store file] [--store postgresql://user@host:port/db]

Each agent is a real process running `snakesweep.agent.loop.run_agent` against one store, with
a fake trainer whose epochs take `--epoch-seconds` (0 by default: contention at its worst). The
sweep is random search with `run_cap = --runs`, so every claim asks the engine for a suggestion.
Prints one line per repeat with the claim latency median, p99 and max in ms, and the wall time
from the moment every agent is ready (their start-up is printed apart). The same figures follow
for what a claim's latency leaves out: the wait to record each run's finish, and so the time an
agent spends between runs (the finish, then the next claim); and the fewest and most runs one
agent did (a fair lock gives every agent its share).

`--store` picks the store: `file` (the default), or a PostgreSQL server's URL (the password
from PGPASSFILE, as for a sweep); given more than once, the stores are measured side by side, in
turn, in one run. For a server on this machine, the line also gives the CPU its processes used
while the agents ran, as a share of all of this machine's cores.

`--src DIR` imports snakesweep from another checkout's `src/` (e.g. a `git worktree` of an older
commit), so that before and after can be measured side by side in one run on the same machine.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SWEEP = {
    "method": "random",
    "metric": {"name": "val_loss", "goal": "minimize"},
    "parameters": {
        "learning_rate": {"distribution": "log_uniform_values", "min": 1e-4, "max": 1e-1},
        "batch_size": {"values": [32, 64, 128]},
        "dropout": {"distribution": "uniform", "min": 0.0, "max": 0.5},
    },
}
PARALLELISM = (
    4  # declared parallelism: random search sees no results, so any value gives the same runs
)


def agent_main(store: str, agent: str, runs: int, epoch_seconds: float, go: str) -> None:
    """One agent process: claim, 'train' three epochs, finish; print the claim latencies.

    It starts claiming only once the file `go` exists: the benchmark creates it when every
    agent has imported the engine, so what is measured is the controller, not 64 Pythons
    importing scipy at once on a few cores (that start-up is reported on its own). For the same
    reason it leaves with `os._exit` once its results are out: the store is synced by then."""
    from snakesweep.agent.loop import run_agent
    from snakesweep.sweep.controller import LocalController

    timed = "next" if hasattr(LocalController, "next") else "claim"  # the method run_agent calls
    calls: list[tuple[str, float]] = []  # ("claim" or "finish", seconds), in order

    class Timed(LocalController):
        pass

    def timing(kind, inner):
        def call(self, *args, **kwargs):
            started = time.perf_counter()
            try:
                return inner(self, *args, **kwargs)
            finally:
                calls.append((kind, time.perf_counter() - started))

        return call

    setattr(Timed, timed, timing("claim", getattr(LocalController, timed)))
    Timed.finish = timing("finish", LocalController.finish)

    def train_one(claim, on_epoch):
        loss = 1.0
        for epoch in range(1, 4):
            time.sleep(epoch_seconds)
            loss = claim.config["learning_rate"] / epoch
            if on_epoch(epoch, {"val_loss": loss}):
                return {"state": "stopped", "summary": {"val_loss": loss}}
        return {"state": "finished", "summary": {"val_loss": loss}}

    controller = _controller(Timed, store, {**SWEEP, "run_cap": runs}, heartbeat_timeout=600)
    print("ready", flush=True)
    while not os.path.exists(go):
        time.sleep(0.01)
    run_agent(controller, agent, runs, train_one, heartbeat_interval=100.0, wait_seconds=0.05)
    print(json.dumps(calls), flush=True)
    # Leave without unloading the interpreter's 1,700 modules: 64 agents doing that at once took
    # 2 cores about 8 s, which slowed the last agents' claims and the wall time (not the controller)
    os._exit(0)


def _controller(cls, store: str, config: dict, heartbeat_timeout: float):
    """`cls` (a LocalController) as the code under test builds one: with its `Limits`, or, for
    an older `--src`, with the keyword arguments it took before."""
    from snakesweep.sweep import decide

    if not hasattr(decide, "Limits"):
        return cls(store, config, 0, parallelism=PARALLELISM, heartbeat_timeout=heartbeat_timeout)
    from snakesweep.settings import Config

    max_attempts = Config({}).agent().max_attempts  # the config schema's default
    return cls(store, config, 0, decide.Limits(PARALLELISM, heartbeat_timeout, max_attempts))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def server_cpu_seconds() -> float:
    """CPU seconds used by this machine's `postgres` processes, including the backends that
    have ended (the postmaster reaps them: its children's time)."""
    ticks, total = os.sysconf("SC_CLK_TCK"), 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        name, fields = text[text.index("(") + 1 : text.rindex(")")], text[text.rindex(")") + 2 :]
        if name == "postgres":
            total += sum(int(v) for v in fields.split()[11:15])
    return total / ticks


def store_for(store: str, tmp: str) -> str:
    """The location a sweep of this run keeps its events in: a new file, or a new sweep id on
    the server (its table created, as registering a sweep does)."""
    if store == "file":
        return str(Path(tmp) / "store.log")
    import uuid

    from snakesweep.record import stores

    location = stores.location_for(store, f"bench-{uuid.uuid4().hex[:12]}")
    stores.prepare(location)
    return location


def measure(
    agents: int, runs: int, epoch_seconds: float, src: str | None, store: str = "file"
) -> dict:
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    if src:
        env["PYTHONPATH"] = os.pathsep.join(
            filter(None, [str(Path(src).resolve()), env.get("PYTHONPATH")])
        )
    with tempfile.TemporaryDirectory() as tmp:
        location, go = store_for(store, tmp), Path(tmp) / "go"
        started = time.perf_counter()
        procs = [
            subprocess.Popen(
                [
                    sys.executable,
                    __file__,
                    "--agent",
                    location,
                    f"a{i}",
                    str(runs),
                    str(epoch_seconds),
                    str(go),
                ],
                stdout=subprocess.PIPE,
                text=True,
                env=env,
            )
            for i in range(agents)
        ]
        for proc in procs:
            if proc.stdout.readline().strip() != "ready":
                raise SystemExit("an agent failed to start; see its stderr above")
        startup = time.perf_counter() - started
        cpu = server_cpu_seconds()
        go.touch()
        started = time.perf_counter()
        outputs = [p.communicate()[0] for p in procs]
        wall = time.perf_counter() - started
        cpu = server_cpu_seconds() - cpu
        if any(p.returncode for p in procs):
            raise SystemExit("an agent failed; see its stderr above")
    result = summarize([json.loads(out.strip().splitlines()[-1]) for out in outputs], wall, startup)
    result["server_cpu"] = cpu / (wall * os.cpu_count()) if store != "file" else None
    return result


def summarize(agents: list[list], wall: float, startup: float) -> dict:
    """Claim latencies, and what they leave out: the wait to record a run's finish, and so the
    time an agent spends between runs (its finish, then its next claim)."""
    claims = [s for calls in agents for kind, s in calls if kind == "claim"]
    finishes = [s for calls in agents for kind, s in calls if kind == "finish"]
    between = [
        s + following
        for calls in agents
        for (kind, s), (next_kind, following) in zip(calls, calls[1:], strict=False)
        if (kind, next_kind) == ("finish", "claim")
    ]
    runs = [sum(kind == "finish" for kind, _ in calls) for calls in agents]
    return {
        "claim": stats(claims),
        "finish": stats(finishes),
        "between": stats(between),
        "claims": len(claims),
        "runs_per_agent": (min(runs), max(runs)),
        "wall_s": wall,
        "startup_s": startup,
    }


def stats(seconds: list[float]) -> str:
    return (
        f"median {1000 * statistics.median(seconds):.1f} ms, "
        f"p99 {1000 * percentile(seconds, 0.99):.1f} ms, "
        f"max {1000 * max(seconds):.1f} ms"
    )


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--agent":
        store, agent, runs, seconds, go = sys.argv[2:7]
        agent_main(store, agent, int(runs), float(seconds), go)
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=16)
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--epoch-seconds", type=float, default=0.0)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument(
        "--store",
        action="append",
        help="file (default), or a postgresql:// URL; more than one: measured side by side",
    )
    parser.add_argument(
        "--src", help="import snakesweep from this src/ folder instead of the installed one"
    )
    parser.add_argument(
        "--label",
        default=None,
        help="a name for this code in the output (default: --src or 'this')",
    )
    args = parser.parse_args()
    label = args.label or args.src or "this"
    for _, store in itertools.product(range(args.repeat), args.store or ["file"]):
        r = measure(args.agents, args.runs, args.epoch_seconds, args.src, store)
        kind = "file" if store == "file" else "postgresql"
        server = "" if r["server_cpu"] is None else f"; server CPU {100 * r['server_cpu']:.0f} %"
        print(
            f"{label}, {kind} store: {args.agents} agents x {args.runs} runs: "
            f"claim {r['claim']} ({r['claims']} claims); "
            f"wall {r['wall_s']:.1f} s (after {r['startup_s']:.1f} s for the agents to start); "
            f"finish {r['finish']}; between runs {r['between']}; "
            "runs per agent {}-{}".format(*r["runs_per_agent"])
            + server
            + f"; {r['claims'] / r['wall_s']:.0f} claims/s",
            flush=True,
        )


if __name__ == "__main__":
    main()
