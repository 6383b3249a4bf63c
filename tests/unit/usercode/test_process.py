"""A run's processes as one group that ends with the run: ended with its whole group, SIGKILL
for a group that ignores SIGTERM, leftovers in sessions of their own, and a run that dies with
the process that started it; each on plain processes."""

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from snakesweep.usercode import process


def _sleeper(*extra) -> subprocess.Popen:
    """A process group: a shell that started a sleeping child, both ignoring nothing."""
    return subprocess.Popen(["bash", "-c", "sleep 60 & sleep 60", *extra], start_new_session=True)


def test_ending_a_run_ends_its_whole_group(tmp_path):
    run = _sleeper()
    time.sleep(0.2)
    started = time.monotonic()
    process.end_run(run.pid, run.poll, grace=2.0)
    assert not process.group_alive(run.pid) and run.poll() is not None
    assert time.monotonic() - started < 5


def test_a_group_that_ignores_sigterm_gets_sigkill():
    run = subprocess.Popen(
        ["bash", "-c", "trap '' TERM INT; sleep 60 & wait"], start_new_session=True
    )
    time.sleep(0.2)
    process.end_run(run.pid, run.poll, grace=0.5)
    assert not process.group_alive(run.pid) and run.poll() == -signal.SIGKILL


def test_leftovers_in_a_session_of_their_own_are_ended():
    assert process.become_subreaper()
    before = process.descendants()
    run = subprocess.Popen(["bash", "-c", "setsid sleep 60 & exit 0"], start_new_session=True)
    run.wait()
    time.sleep(0.2)
    (escaped,) = process.descendants() - before  # adopted by this process, outside the group
    assert process.end_leftovers(before, grace=2.0) == {escaped}
    assert escaped not in process.descendants()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_a_run_dies_with_the_process_that_started_it(tmp_path):
    pid_file = tmp_path / "pid"
    starter = subprocess.Popen(
        [
            sys.executable,
            "-c",
            (
                "import subprocess, sys, time\n"
                "from snakesweep.usercode.process import die_with_parent\n"
                "p = subprocess.Popen(\n"
                "    ['sleep', '60'], preexec_fn=die_with_parent, start_new_session=True\n"
                ")\n"
                f"open({str(pid_file)!r}, 'w').write(str(p.pid)); time.sleep(60)"
            ),
        ]
    )
    deadline = time.monotonic() + 20
    while not (pid_file.exists() and pid_file.read_text()) and time.monotonic() < deadline:
        time.sleep(0.05)
    run = int(pid_file.read_text())
    starter.kill()
    starter.wait()
    deadline = time.monotonic() + 5
    while _alive(run) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(run)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"
