"""A throwaway PostgreSQL cluster on the host, on a free port that is not 5432 (the example's)."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ._proc import BenchError, run

BIN = Path("/usr/lib/postgresql/15/bin")
USER = "bench"


@dataclass(frozen=True)
class Cluster:
    port: int

    def env(self, database: str) -> dict[str, str]:
        """libpq's variables for one database of this cluster, over TCP like a container would."""
        return {
            "PGHOST": "127.0.0.1",
            "PGPORT": str(self.port),
            "PGUSER": USER,
            "PGPASSWORD": "unused-trust-auth",  # pragma: allowlist secret
            "PGDATABASE": database,
        }

    def sql(self, database: str, statement: str) -> str:
        argv = ["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", statement]
        return run(argv, env=self.env(database)).stdout.strip()

    def create_database(self, name: str) -> None:
        self.sql("postgres", f'CREATE DATABASE "{name}"')


def missing() -> str | None:
    """Why no cluster can be started here, or None."""
    if not (BIN / "initdb").is_file():
        return f"no {BIN}/initdb (apt-get install -y postgresql-15)"
    if shutil.which("psql") is None:
        return "no psql on PATH (apt-get install -y postgresql-client-15)"
    if os.geteuid() == 0 and not _server_user():
        return "running as root and no 'postgres' user to run the server as"
    return None


def _server_user() -> str | None:
    """initdb refuses root: run the server as ``postgres`` when we are root."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam("postgres").pw_name
    except KeyError:
        return None


def _free_port() -> int:
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port != 5432:
            return port


@contextmanager
def cluster() -> Iterator[Cluster]:
    """Start a cluster with trust auth for ``bench``; always stop it and remove its files."""
    user = _server_user()
    as_user = ["runuser", "-u", user, "--"] if user else []
    home = Path(tempfile.mkdtemp(prefix="clockwork-bench-pg-"))
    data, sockets = home / "data", home / "sockets"
    sockets.mkdir()
    if user:
        entry = pwd.getpwnam(user)
        for path in (home, sockets):
            os.chown(path, entry.pw_uid, entry.pw_gid)
    port = _free_port()
    started = False
    try:
        run([*as_user, str(BIN / "initdb"), "-D", str(data), "-U", USER, "-A", "trust", "-E", "UTF8", "--no-sync"])
        options = f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1"
        log = home / "server.log"
        run([*as_user, str(BIN / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options, "-w", "start"], timeout=60)
        started = True
        yield Cluster(port)
    except BenchError as exc:
        raise BenchError(f"throwaway PostgreSQL cluster: {exc}") from None
    finally:
        if started:
            run([*as_user, str(BIN / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"], check=False, timeout=60)
        shutil.rmtree(home, ignore_errors=True)
