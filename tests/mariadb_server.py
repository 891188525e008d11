"""pytest plugin: a throwaway MariaDB server on the host, for the MariaDB migrator driver tests.

Load it from a test module with ``pytest_plugins = ["mariadb_server"]``. The session fixture
``mariadb_server`` runs ``mariadb-install-db`` into a fresh temporary directory (the server
runs as the ``mysql`` system user when the tests run as root), starts ``mariadbd`` on
127.0.0.1, port 18201 (the next free one up to 18209 when taken), with no binary log and
a small buffer pool, and stops it and removes its files at the end. ``mariadb_database`` gives
each test a fresh database and a user ``app`` (password login over TCP) that owns it.

Without the server (``apt-get install -y mariadb-server``) the tests using it are skipped,
or fail when ``CLOCKWORK_E2E=required`` (CI). ``CLOCKWORK_MARIADBD`` overrides the server's
path.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from pg_server import skip_or_fail

SERVER = Path(os.environ.get("CLOCKWORK_MARIADBD", "/usr/sbin/mariadbd"))
PORTS = range(18201, 18210)
ACCOUNT = "mysql"
USER = "app"


def _tool(name: str) -> str | None:
    return shutil.which(name) or next((str(p) for p in (Path("/usr/bin") / name,) if p.is_file()), None)


@dataclass(frozen=True)
class MariaDBServer:
    host: str
    port: int
    client: str

    def sql(self, query: str, database: str | None = None, user: str = "root", password: str = "") -> str:
        """Run SQL with the client (batch, no column names); its output."""
        argv = [self.client, "--no-defaults", "--protocol=tcp", "-h", self.host, "-P", str(self.port), "-u", user]
        argv += ["--batch", "--skip-column-names", *([f"--database={database}"] if database else [])]
        env = {**os.environ, "MYSQL_PWD": password}
        proc = subprocess.run(argv, input=query, capture_output=True, text=True, env=env, timeout=60, check=False)
        if proc.returncode != 0:
            raise AssertionError(f"mariadb failed ({proc.returncode}): {proc.stderr}\nSQL: {query}")
        return proc.stdout

    def rows(self, query: str, database: str) -> list[tuple[str, ...]]:
        return [tuple(line.split("\t")) for line in self.sql(query, database).splitlines()]


@dataclass(frozen=True)
class Database:
    name: str
    user: str
    password: str


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def _start(home: Path, account: pwd.struct_passwd | None) -> tuple[subprocess.Popen[bytes], MariaDBServer]:
    install, client = _tool("mariadb-install-db"), _tool("mariadb")
    if install is None or client is None:
        raise RuntimeError("mariadb-install-db or mariadb is missing (apt-get install -y mariadb-server)")
    user = ["--user=" + account.pw_name] if account is not None else []
    data = home / "data"
    proc = subprocess.run(
        [install, "--no-defaults", *user, f"--datadir={data}", "--auth-root-authentication-method=normal"]
        + ["--skip-test-db"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"mariadb-install-db exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    port = next((p for p in PORTS if _port_free(p)), None)
    if port is None:
        raise RuntimeError(f"no free port in {PORTS.start}-{PORTS.stop - 1} for the throwaway MariaDB server")
    server = subprocess.Popen(
        [str(SERVER), "--no-defaults", *user, f"--datadir={data}", f"--socket={home / 'sock'}", f"--port={port}"]
        + ["--bind-address=127.0.0.1", f"--pid-file={home / 'pid'}", f"--log-error={home / 'error.log'}"]
        + ["--skip-log-bin", "--innodb-buffer-pool-size=16M", "--skip-name-resolve"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    found = MariaDBServer("127.0.0.1", port, client)
    for _ in range(120):
        if server.poll() is not None:
            break
        try:
            found.sql("SELECT 1")
            return server, found
        except AssertionError:
            time.sleep(0.25)
    server.kill()
    log = home / "error.log"
    tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
    raise RuntimeError(f"the throwaway MariaDB server did not start:\n{tail}")


@pytest.fixture(scope="session")
def mariadb_server() -> Iterator[MariaDBServer]:
    """A MariaDB server for the whole session; stopped and removed afterwards."""
    if not SERVER.is_file() or _tool("mariadb-install-db") is None:
        skip_or_fail(f"no MariaDB server at {SERVER} (apt-get install -y mariadb-server)")
    account = pwd.getpwnam(ACCOUNT) if os.geteuid() == 0 else None
    home = Path(tempfile.mkdtemp(prefix="clockwork-test-mariadb-"))
    if account is not None:
        os.chown(home, account.pw_uid, account.pw_gid)
    server, found = _start(home, account)
    try:
        yield found
    finally:
        server.terminate()  # mariadbd shuts down cleanly on SIGTERM
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=30)
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def mariadb_database(mariadb_server: MariaDBServer) -> Iterator[Database]:
    """A fresh, randomly named database and a user that may do anything in it, dropped after."""
    name = f"t_{secrets.token_hex(6)}"
    password = "pw-" + secrets.token_hex(8)
    mariadb_server.sql(
        f"CREATE DATABASE {name}; CREATE USER IF NOT EXISTS '{USER}'@'127.0.0.1' IDENTIFIED BY '{password}';"
        f"ALTER USER '{USER}'@'127.0.0.1' IDENTIFIED BY '{password}'; GRANT ALL ON {name}.* TO '{USER}'@'127.0.0.1';"
    )
    try:
        yield Database(name, USER, password)
    finally:
        mariadb_server.sql(f"DROP DATABASE IF EXISTS {name}")
