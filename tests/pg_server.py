"""pytest plugin: a throwaway PostgreSQL 15 cluster on the host, for the migrator driver tests.

Load it from a test module with ``pytest_plugins = ["pg_server"]``. The session fixture
``pg_server`` runs ``initdb`` into a fresh temporary directory (as the ``postgres`` system
user when the tests run as root: initdb refuses root), starts the server with password
(scram-sha-256) authentication over TCP on 127.0.0.1, on a free port that is never 5432
(the example publishes that one), and stops it and removes its files at the end.

Without the server binaries (``apt-get install -y postgresql-15``) the tests using it are
skipped, or fail when ``CLOCKWORK_E2E=required``. ``CLOCKWORK_PG_BIN`` overrides the
binaries' folder.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

PG_BIN = Path(os.environ.get("CLOCKWORK_PG_BIN", "/usr/lib/postgresql/15/bin"))
SERVER_USER = "postgres"
SUPERUSER = "clockwork_test"
RESERVED_PORT = 5432
_FIELD_SEP = "\x1f"


def e2e_required() -> bool:
    """True when skipping is not allowed (CI sets CLOCKWORK_E2E=required)."""
    return os.environ.get("CLOCKWORK_E2E", "").strip().lower() == "required"


def skip_or_fail(reason: str) -> None:
    """Skip the test, or fail it when CLOCKWORK_E2E=required."""
    if e2e_required():
        pytest.fail(f"{reason} (CLOCKWORK_E2E=required forbids skipping)", pytrace=False)
    pytest.skip(reason)


def _clean_env() -> dict[str, str]:
    """The current environment without libpq variables that could point elsewhere."""
    return {key: value for key, value in os.environ.items() if not key.startswith("PG")}


@dataclass(frozen=True)
class PgServer:
    """A running cluster: connection facts plus small psql helpers (all over TCP)."""

    bin_dir: Path
    host: str
    port: int
    superuser: str
    password: str

    def env(self, database: str, user: str | None = None, password: str | None = None) -> dict[str, str]:
        """A full environment for libpq clients (PG* variables, psql first on PATH)."""
        env = _clean_env()
        env.update(
            PGHOST=self.host,
            PGPORT=str(self.port),
            PGUSER=user if user is not None else self.superuser,
            PGPASSWORD=password if password is not None else self.password,
            PGDATABASE=database,
            PGCONNECT_TIMEOUT="10",
            PATH=f"{self.bin_dir}{os.pathsep}{env.get('PATH', '/usr/bin:/bin')}",
        )
        return env

    def psql(
        self,
        sql: str,
        database: str = "postgres",
        variables: Mapping[str, str] | None = None,
        user: str | None = None,
        password: str | None = None,
    ) -> str:
        """Run SQL (read from stdin, so ``:'var'`` works) and return unaligned tuples-only output."""
        argv = [str(self.bin_dir / "psql"), "-X", "-q", "-A", "-t", "-F", _FIELD_SEP, "-v", "ON_ERROR_STOP=1"]
        for name, value in (variables or {}).items():
            argv += ["-v", f"{name}={value}"]
        proc = subprocess.run(
            argv,
            input=sql,
            capture_output=True,
            text=True,
            env=self.env(database, user, password),
            timeout=60,
            check=False,
        )
        if proc.returncode != 0:
            raise AssertionError(f"psql failed ({proc.returncode}) on {database!r}: {proc.stderr}\nSQL: {sql}")
        return proc.stdout

    def rows(self, sql: str, database: str, variables: Mapping[str, str] | None = None) -> list[tuple[str, ...]]:
        """The result rows of one query, each a tuple of text fields."""
        out = self.psql(sql, database, variables)
        return [tuple(line.split(_FIELD_SEP)) for line in out.splitlines() if line]

    def value(self, sql: str, database: str, variables: Mapping[str, str] | None = None) -> str:
        """The single value of a one-row, one-column query."""
        rows = self.rows(sql, database, variables)
        assert len(rows) == 1 and len(rows[0]) == 1, f"expected one value, got {rows!r}"
        return rows[0][0]

    def create_role(self, name: str, password: str) -> None:
        self.psql(
            "CREATE ROLE :\"name\" LOGIN PASSWORD :'password';",
            variables={"name": name, "password": password},
        )

    def create_database(self, name: str | None = None, owner: str | None = None) -> str:
        """Create a database (a random name unless given) and return its name."""
        name = name or f"t_{secrets.token_hex(6)}"
        self.psql(
            'CREATE DATABASE :"name" OWNER :"owner";',
            variables={"name": name, "owner": owner or self.superuser},
        )
        return name

    def drop_database(self, name: str) -> None:
        self.psql('DROP DATABASE IF EXISTS :"name" WITH (FORCE);', variables={"name": name})


def _free_port() -> int:
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if port != RESERVED_PORT:
            return port


def _server_account() -> pwd.struct_passwd | None:
    """The account to run the server as: ``postgres`` (created if missing) when we are root."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(SERVER_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", SERVER_USER],
            check=True,
            capture_output=True,
        )
        return pwd.getpwnam(SERVER_USER)


def _run(argv: list[str], account: pwd.struct_passwd | None, timeout: float = 120) -> None:
    if account is not None:
        argv = ["runuser", "-u", account.pw_name, "--", *argv]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")


def _start(home: Path, account: pwd.struct_passwd | None) -> PgServer:
    password = "pw-" + secrets.token_hex(12)
    data = home / "data"
    sockets = home / "sockets"
    sockets.mkdir()
    pwfile = home / "pwfile"
    pwfile.write_text(password + "\n", encoding="utf-8")
    pwfile.chmod(0o600)
    if account is not None:
        for path in (home, sockets, pwfile):
            os.chown(path, account.pw_uid, account.pw_gid)
    _run(
        [
            str(PG_BIN / "initdb"),
            "-D",
            str(data),
            "-U",
            SUPERUSER,
            f"--pwfile={pwfile}",
            "--auth-host=scram-sha-256",
            "--auth-local=scram-sha-256",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        ],
        account,
    )
    last_error: Exception | None = None
    for _ in range(3):  # the free port may be taken between probing and binding
        port = _free_port()
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={sockets} "
            "-c fsync=off -c full_page_writes=off -c max_connections=50"
        )
        try:
            _run(
                [str(PG_BIN / "pg_ctl"), "-D", str(data), "-l", str(home / "server.log"), "-o", options, "-w", "start"],
                account,
            )
        except RuntimeError as exc:
            last_error = exc
            continue
        return PgServer(PG_BIN, "127.0.0.1", port, SUPERUSER, password)
    log = home / "server.log"
    tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
    raise RuntimeError(f"cannot start the throwaway PostgreSQL server: {last_error}\n{tail}")


def _stop(home: Path, account: pwd.struct_passwd | None) -> None:
    if (home / "data" / "postmaster.pid").exists():
        try:
            _run([str(PG_BIN / "pg_ctl"), "-D", str(home / "data"), "-m", "fast", "-w", "stop"], account, timeout=60)
        except (RuntimeError, subprocess.TimeoutExpired):
            _run([str(PG_BIN / "pg_ctl"), "-D", str(home / "data"), "-m", "immediate", "stop"], account, timeout=60)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """A PostgreSQL 15 cluster for the whole session; stopped and removed afterwards."""
    if not (PG_BIN / "initdb").is_file() or not (PG_BIN / "pg_ctl").is_file():
        skip_or_fail(f"no PostgreSQL server binaries in {PG_BIN} (apt-get install -y postgresql-15)")
    account = _server_account()
    home = Path(tempfile.mkdtemp(prefix="clockwork-test-pg-"))
    try:
        yield _start(home, account)
    finally:
        try:
            _stop(home, account)
        finally:
            shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def database(pg_server: PgServer) -> Iterator[str]:
    """A fresh, randomly named database, dropped after the test."""
    name = pg_server.create_database()
    try:
        yield name
    finally:
        pg_server.drop_database(name)
