"""`snakemake --report report.html` rendered by a real headless Chromium, driven as a user would:
open the "Sweep" category, view each sweep view, and check the browser decoded the image.

Chromium is Debian's package, installed here when the tests run as root with apt-get (as the
SLURM test installs SLURM), and skipped with the reason otherwise. The browser is driven over
the DevTools protocol on a pipe (`--remote-debugging-pipe`): no port, no extra Python package.
"""

import json
import os
import shutil
import subprocess
import time

import pytest
from workflow_helpers import snakemake

pytestmark = pytest.mark.slow

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
VIEWS = ("parallel_coordinates.png", "importance.png", "progress.png")


@pytest.fixture(scope="module")
def chromium():
    found = shutil.which("chromium")
    if found:
        return found
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        pytest.skip(
            "Chromium is not installed, and installing Debian's package needs root and apt-get"
        )
    install = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "chromium"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    if subprocess.run(install, env=env, capture_output=True, timeout=900).returncode:
        subprocess.run(["apt-get", "update", "-qq"], env=env, check=True, timeout=300)
        subprocess.run(install, env=env, check=True, capture_output=True, timeout=900)
    return shutil.which("chromium")


class Browser:
    """One headless Chromium tab, spoken to over the DevTools pipe (fd 3 in, fd 4 out)."""

    def __init__(self, chromium, profile, log):
        command = [
            chromium,
            *FLAGS,
            f"--user-data-dir={profile}",
            "--remote-debugging-pipe",
            "about:blank",
        ]
        self.process = subprocess.Popen(
            ["sh", "-c", 'exec "$@" 3<&0 4>&1 0</dev/null 1>/dev/null', "sh", *command],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
        )
        self.last_id, self.pending, self.session = 0, b"", None

    def call(self, method, **params):
        self.last_id += 1
        message = {"id": self.last_id, "method": method, "params": params}
        if self.session:
            message["sessionId"] = self.session
        self.process.stdin.write(json.dumps(message).encode() + b"\0")
        self.process.stdin.flush()
        while True:  # skip events until our reply
            while b"\0" not in self.pending:
                chunk = os.read(self.process.stdout.fileno(), 1 << 16)
                assert chunk, "chromium closed the DevTools pipe"
                self.pending += chunk
            raw, _, self.pending = self.pending.partition(b"\0")
            reply = json.loads(raw)
            if reply.get("id") == self.last_id:
                assert "error" not in reply, reply
                return reply["result"]

    def open(self, url):
        target = self.call("Target.createTarget", url=url)["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)[
            "sessionId"
        ]

    def js(self, expression):
        reply = self.call(
            "Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True
        )
        assert "exceptionDetails" not in reply, reply["exceptionDetails"]
        return reply["result"].get("value")

    def wait_for(self, expression, timeout=30):
        deadline = time.monotonic() + timeout
        while not self.js(expression):
            assert time.monotonic() < deadline, f"timed out waiting for {expression}"
            time.sleep(0.2)

    def close(self):
        self.process.kill()
        self.process.wait()


ROW = (
    "[...document.querySelectorAll('tr')]"
    ".find(r => r.cells[0] && r.cells[0].innerText.trim() === {path!r})"
)


def test_report_shows_the_sweep_views_and_the_leaderboard_in_a_real_browser(
    tiny_run, chromium, tmp_path
):
    work, config, _ = tiny_run
    result = snakemake(work, "--report", "report.html", "--configfile", str(config))
    assert result.returncode == 0, result.stdout[-3000:]
    browser = Browser(chromium, tmp_path / "profile", open(tmp_path / "chromium.log", "w"))
    try:
        browser.open((work / "report.html").as_uri())
        browser.wait_for(
            "[...document.querySelectorAll('nav a')].some(a => a.innerText.trim() === 'Sweep')"
        )
        browser.js(
            "[...document.querySelectorAll('nav a')]"
            ".find(a => a.innerText.trim() === 'Sweep').click()"
        )
        browser.wait_for(f"!!{ROW.format(path='results/leaderboard.csv')}")

        # the leaderboard: its row links the CSV itself; decode what the page holds
        href = browser.js(f"{ROW.format(path='results/leaderboard.csv')}.querySelector('a').href")
        header, payload = href.split(",", 1)
        assert header.startswith("data:text/csv")
        leaderboard = (work / "results/leaderboard.csv").read_text()
        assert browser.js(f"atob({payload!r})") == leaderboard

        for name in VIEWS:
            row = ROW.format(path=f"results/plots/{name}")
            browser.js(f"{row}.querySelector('a[iconname=eye]').click()")
            shown = (
                "[...document.querySelectorAll('img')]"
                f".find(i => i.src.includes('filename={name}'))"
            )
            browser.wait_for(f"(i => i && i.complete && i.naturalWidth > 0)({shown})")
            width, height = browser.js(f"(i => [i.naturalWidth, i.naturalHeight])({shown})")
            assert width >= 400 and height >= 200, (name, width, height)  # decoded, a real figure
        # each view's caption (one file, per-figure text) is shown with its result info
        caption = "Parallel coordinates: one vertical axis per swept parameter"
        browser.js(
            f"{ROW.format(path='results/plots/parallel_coordinates.png')}.querySelector('a[iconname=information-circle]').click()"
        )
        browser.wait_for(f"document.body.innerText.replace(/\\s+/g, ' ').includes({caption!r})")
    finally:
        browser.close()
