"""A PostgreSQL server for the tests: an existing one, or a throw-away cluster of our own.

- `SNAKESWEEP_TEST_POSTGRES` (a URL without a password) or libpq's `PGHOST`/`PGSERVICE` name an
  existing server: the tests use it as they find it (a password comes from libpq's own
  environment), and create only their own tables' rows, under sweep ids of their own.
- Otherwise Debian's `postgresql` package (installed here with apt-get where it is missing and
  we are root) gives `initdb` and `pg_ctl`: a cluster in a temporary folder, on a free loopback
  port, with password authentication over TCP and the password in a passfile (`PGPASSFILE`),
  stopped and removed afterwards. `initdb` refuses to run as root, so as root the cluster runs
  as Debian's `postgres` user.
- Where neither can be had, the tests that need a server are skipped, with the reason.
"""

from __future__ import annotations

import dataclasses
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

PASSWORD = "planted-Secret-4f9c2e"  # planted: the tests check it appears nowhere
ROLE = "sweeper"


@dataclasses.dataclass
class Server:
    url: str  # without a password
    env: dict  # what a process needs besides the URL (PGPASSFILE)
    restart: object  # () -> None, or None for a server that is not ours
    password: str | None  # the planted one, for a server of our own


def _binaries() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found and os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(
            ["apt-get", "install", "-y", "-q", "postgresql"],
            capture_output=True,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
            timeout=600,
        )
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def existing() -> Server | None:
    url = os.environ.get("SNAKESWEEP_TEST_POSTGRES")
    if url or os.environ.get("PGHOST") or os.environ.get("PGSERVICE"):
        return Server(url or "postgresql://", {}, None, None)
    return None


class OwnCluster:
    """initdb + pg_ctl in a temporary folder; `start()` gives a Server, `stop()` removes it."""

    def __init__(self, bin_dir: Path, max_connections: int = 400):
        self.bin, self.max_connections = bin_dir, max_connections
        self.root = Path(tempfile.mkdtemp(prefix="snakesweep-pg-"))
        self.data, self.port = self.root / "data", _free_port()
        self.user = "postgres" if os.geteuid() == 0 else None

    def _run(self, *command: str) -> None:
        prefix = ["runuser", "-u", self.user, "--"] if self.user else []
        subprocess.run([*prefix, *command], check=True, capture_output=True, timeout=120)

    def start(self) -> Server:
        pwfile = self.root / "pw"
        pwfile.write_text(PASSWORD + "\n")
        if self.user:
            uid = pwd.getpwnam(self.user).pw_uid
            for path in (self.root, pwfile):
                os.chown(path, uid, -1)
        os.chmod(self.root, 0o700)
        self._run(
            str(self.bin / "initdb"),
            "-D",
            str(self.data),
            "-U",
            ROLE,
            "--auth=scram-sha-256",
            f"--pwfile={pwfile}",
        )
        pwfile.unlink()
        self._ctl("start", "-w", "-l", str(self.root / "server.log"))
        passfile = Path(tempfile.mkdtemp(prefix="snakesweep-pgpass-")) / "pgpass"
        passfile.write_text(f"127.0.0.1:{self.port}:*:{ROLE}:{PASSWORD}\n")
        passfile.chmod(0o600)
        self.passfile = passfile
        url = f"postgresql://{ROLE}@127.0.0.1:{self.port}/postgres"
        return Server(url, {"PGPASSFILE": str(passfile)}, self.restart, PASSWORD)

    def _ctl(self, action: str, *more: str) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories="
        options += f" -c max_connections={self.max_connections}"
        self._run(str(self.bin / "pg_ctl"), action, "-D", str(self.data), "-o", options, *more)

    def restart(self) -> None:
        """`pg_ctl restart -m fast`: every connection is dropped."""
        self._ctl("restart", "-w", "-m", "fast", "-l", str(self.root / "server.log"))

    def stop(self) -> None:
        try:
            self._ctl("stop", "-m", "immediate")
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(self.root, ignore_errors=True)
        shutil.rmtree(self.passfile.parent, ignore_errors=True)
