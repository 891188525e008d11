"""The migrator driver (templates/migrator.sh.j2) against a real PostgreSQL 15 cluster.

The rendered script runs as a subprocess under dash (Debian's /bin/sh) and under busybox
ash with only busybox applets and psql on PATH (what the alpine image offers), exactly as
the migrator service runs it: ``sh -c <script>`` with inputs in the environment.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

pytest.register_assert_rewrite("pg_server")

from pg_server import PgServer, skip_or_fail  # noqa: E402

from clockwork_compose._migrator import (  # noqa: E402
    LOCK_KEY,
    MIGRATIONS_TABLE,
    NO_TRANSACTION_MARKER,
    render_migrator_script,
)

pytest_plugins = ["pg_server"]

PREFIX = "clockwork-migrate"
BUSYBOX_APPLETS = ("sh", "cat", "grep", "mktemp", "rm", "sha256sum", "sleep")
SHELLS = ("dash", "busybox")
COUNTED_COMMANDS = ("psql", "pg_isready", "sha256sum", "grep", "mktemp", "rm", "cat", "sleep", "sort", "ls", "sed")


@dataclass
class Run:
    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err

    def applied(self) -> list[str]:
        return re.findall(rf"^{PREFIX}: applied (.*)$", self.out, re.MULTILINE)


@pytest.fixture(scope="session")
def script() -> str:
    return render_migrator_script()


@pytest.fixture(scope="session")
def busybox_bin(tmp_path_factory: pytest.TempPathFactory) -> Path | None:
    """A folder of busybox applet links: with psql, the only commands on PATH (like alpine)."""
    busybox = shutil.which("busybox")
    if busybox is None:
        return None
    folder = tmp_path_factory.mktemp("busybox-bin")
    for applet in BUSYBOX_APPLETS:
        (folder / applet).symlink_to(busybox)
    return folder


Driver = Callable[..., Run]


@pytest.fixture(params=SHELLS)
def shell(request: pytest.FixtureRequest, busybox_bin: Path | None) -> str:
    if request.param == "dash" and shutil.which("dash") is None:
        skip_or_fail("no dash (apt-get install -y dash)")
    if request.param == "busybox" and busybox_bin is None:
        skip_or_fail("no busybox (apt-get install -y busybox)")
    return str(request.param)


def _command(
    shell: str, script: str, busybox_bin: Path | None, env: dict[str, str]
) -> tuple[list[str], dict[str, str]]:
    if shell == "busybox":
        assert busybox_bin is not None
        pg_bin = Path(env["PATH"].split(os.pathsep)[0])
        return [str(busybox_bin / "sh"), "-c", script], {**env, "PATH": f"{busybox_bin}{os.pathsep}{pg_bin}"}
    return ["dash", "-c", script], env


@pytest.fixture
def start_driver(
    pg_server: PgServer, script: str, busybox_bin: Path | None, tmp_path: Path
) -> Callable[..., subprocess.Popen[str]]:
    """Start the driver without waiting: (shell, database, schema=, migrations=, user=, password=)."""

    def start(
        shell: str,
        database: str,
        schema: str | Path | None = None,
        migrations: str | Path | None = None,
        user: str | None = None,
        password: str | None = None,
        cwd: Path | None = None,
    ) -> subprocess.Popen[str]:
        env = pg_server.env(database, user, password)
        if schema is not None:
            env["CLOCKWORK_SCHEMA_FILE"] = str(schema)
        if migrations is not None:
            env["CLOCKWORK_MIGRATIONS_DIR"] = str(migrations)
        argv, env = _command(shell, script, busybox_bin, env)
        return subprocess.Popen(
            argv, cwd=cwd or tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )

    return start


@pytest.fixture
def driver(start_driver: Callable[..., subprocess.Popen[str]], shell: str) -> Driver:
    """Run the driver to completion with this test's shell."""

    def run(database: str, **kwargs: object) -> Run:
        proc = start_driver(shell, database, **kwargs)
        out, err = proc.communicate(timeout=120)
        return Run(proc.returncode, out, err)

    return run


def write(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def records(pg: PgServer, db: str) -> list[tuple[str, ...]]:
    return pg.rows(f"SELECT version, checksum, applied_at FROM {MIGRATIONS_TABLE} ORDER BY applied_at, version", db)


def versions(pg: PgServer, db: str) -> list[str]:
    return [row[0] for row in records(pg, db)]


def table_exists(pg: PgServer, db: str, name: str) -> bool:
    return pg.value("SELECT to_regclass(:'name') IS NOT NULL", db, {"name": name}) == "t"


@pytest.fixture
def migrations(tmp_path: Path) -> Path:
    return tmp_path / "migrations"


# --- order, recording, output ---------------------------------------------------------


def test_schema_first_then_migrations_in_byte_order(
    driver: Driver, pg_server: PgServer, database: str, tmp_path: Path, migrations: Path
) -> None:
    schema = write(tmp_path, {"schema.sql": "CREATE TABLE IF NOT EXISTS log (id serial PRIMARY KEY, name text);\n"})
    names = ["10_b.sql", "1_a.sql", "B_upper.sql", "_under.sql", "a_lower.sql", "é_accent.sql"]
    # the last file has no final semicolon: psql still runs that statement at the end of the file
    write(migrations, {name: f"INSERT INTO log (name) VALUES ('{name}')" for name in names})
    write(migrations, {"README.md": "not a migration", "notes.sql.bak": "SELECT 1/0;"})

    result = driver(database, schema=schema / "schema.sql", migrations=migrations)

    assert result.code == 0, result.text
    expected = sorted(names, key=lambda n: n.encode())
    assert expected[:3] == ["10_b.sql", "1_a.sql", "B_upper.sql"]  # byte order, not a locale's
    assert [row[0] for row in pg_server.rows("SELECT name FROM log ORDER BY id", database)] == expected
    assert versions(pg_server, database) == ["schema:schema.sql", *expected]
    assert result.applied() == ["schema:schema.sql", *expected]
    assert f"{PREFIX}: done: 7 applied, 0 skipped" in result.out
    checksums = {row[0]: row[1] for row in records(pg_server, database)}
    assert all(re.fullmatch(r"[0-9a-f]{64}", value) for value in checksums.values())


def test_rerun_is_a_no_op(driver: Driver, pg_server: PgServer, database: str, tmp_path: Path, migrations: Path) -> None:
    schema = write(
        tmp_path, {"schema.sql": "CREATE TABLE IF NOT EXISTS runs (id serial);\nINSERT INTO runs DEFAULT VALUES;\n"}
    )
    write(migrations, {"001_a.sql": "CREATE TABLE a (x int);\n", "002_b.sql": "INSERT INTO a VALUES (1);\n"})

    first = driver(database, schema=schema / "schema.sql", migrations=migrations)
    before = records(pg_server, database)
    second = driver(database, schema=schema / "schema.sql", migrations=migrations)

    assert first.code == 0 and second.code == 0, first.text + second.text
    assert records(pg_server, database) == before  # same rows, same checksums, same applied_at
    assert pg_server.value("SELECT count(*) FROM runs", database) == "1"
    assert pg_server.value("SELECT count(*) FROM a", database) == "1"
    assert second.applied() == []
    assert f"{PREFIX}: skipped 3 already applied file(s)" in second.out
    assert f"{PREFIX}: done: 0 applied, 3 skipped" in second.out


# --- transactions -----------------------------------------------------------------------


def test_failing_file_rolls_back_and_earlier_files_stay(
    driver: Driver, pg_server: PgServer, database: str, migrations: Path
) -> None:
    write(
        migrations,
        {
            "001_t.sql": "CREATE TABLE t (x int);\nINSERT INTO t VALUES (1);\n",
            "002_bad.sql": (
                "CREATE TABLE partial (x int);\nINSERT INTO t VALUES (2);\nSELECT 1/0;\nINSERT INTO t VALUES (3);\n"
            ),
            "003_after.sql": "CREATE TABLE after_bad (x int);\n",
        },
    )

    result = driver(database, migrations=migrations)

    assert result.code != 0
    assert f"{PREFIX}: FAILED 002_bad.sql" in result.err
    assert "division by zero" in result.err
    assert "002_bad.sql" in result.err.split(f"{PREFIX}: FAILED")[0]  # psql's error names the file too
    assert result.applied() == ["001_t.sql"]
    assert versions(pg_server, database) == ["001_t.sql"]
    assert pg_server.rows("SELECT x FROM t ORDER BY x", database) == [("1",)]
    assert not table_exists(pg_server, database, "partial")
    assert not table_exists(pg_server, database, "after_bad")

    (migrations / "002_bad.sql").write_text("INSERT INTO t VALUES (2);\n", encoding="utf-8")
    fixed = driver(database, migrations=migrations)
    assert fixed.code == 0, fixed.text
    assert fixed.applied() == ["002_bad.sql", "003_after.sql"]
    assert pg_server.rows("SELECT x FROM t ORDER BY x", database) == [("1",), ("2",)]


def test_no_transaction_marker_runs_create_index_concurrently(
    driver: Driver, pg_server: PgServer, database: str, migrations: Path
) -> None:
    concurrently = "CREATE INDEX CONCURRENTLY t_x_idx ON t (x);\n"
    write(migrations, {"001_t.sql": "CREATE TABLE t (x int);\n", "002_idx.sql": concurrently})

    refused = driver(database, migrations=migrations)  # without the marker it runs in a transaction
    assert refused.code != 0
    assert "cannot run inside a transaction block" in refused.err
    assert f"{PREFIX}: FAILED 002_idx.sql" in refused.err

    # the marker line may end with blanks or a CR (a file saved with CRLF line ends)
    (migrations / "002_idx.sql").write_bytes(f"{NO_TRANSACTION_MARKER} \r\n{concurrently}".encode())
    result = driver(database, migrations=migrations)
    assert result.code == 0, result.text
    assert result.applied() == ["002_idx.sql"]
    assert pg_server.value("SELECT indisvalid FROM pg_index WHERE indexrelid = 't_x_idx'::regclass", database) == "t"
    assert versions(pg_server, database) == ["001_t.sql", "002_idx.sql"]


def test_session_settings_do_not_leak_into_the_next_file(
    driver: Driver, pg_server: PgServer, database: str, migrations: Path
) -> None:
    write(
        migrations,
        {
            "001_a.sql": "SET search_path = nowhere;\nSET default_transaction_read_only = on;\n",
            "002_b.sql": "CREATE TABLE b (x int);\n",
        },
    )
    result = driver(database, migrations=migrations)
    assert result.code == 0, result.text
    assert table_exists(pg_server, database, "public.b")
    assert versions(pg_server, database) == ["001_a.sql", "002_b.sql"]


# --- checksums ----------------------------------------------------------------------------


def test_changed_migration_is_refused_before_anything_runs(
    driver: Driver, pg_server: PgServer, database: str, migrations: Path
) -> None:
    write(migrations, {"001_a.sql": "CREATE TABLE a (x int);\n", "002_b.sql": "CREATE TABLE b (x int);\n"})
    assert driver(database, migrations=migrations).code == 0
    before = records(pg_server, database)

    write(migrations, {"002_b.sql": "CREATE TABLE b (x int, y int);\n", "003_c.sql": "CREATE TABLE c (x int);\n"})
    result = driver(database, migrations=migrations)

    assert result.code != 0
    assert f"{PREFIX}: FAILED 002_b.sql" in result.err
    assert re.search(r"002_b\.sql: recorded sha256 [0-9a-f]{64}, file now has [0-9a-f]{64}", result.err)
    assert result.applied() == []
    assert not table_exists(pg_server, database, "c")
    assert records(pg_server, database) == before


def test_schema_is_reapplied_only_when_it_changes(
    driver: Driver, pg_server: PgServer, database: str, tmp_path: Path, migrations: Path
) -> None:
    schema = tmp_path / "schema.sql"
    schema.write_text("CREATE TABLE IF NOT EXISTS runs (id serial);\nINSERT INTO runs DEFAULT VALUES;\n")
    write(migrations, {"001_m.sql": "CREATE TABLE m_runs (id serial);\nINSERT INTO m_runs DEFAULT VALUES;\n"})

    assert driver(database, schema=schema, migrations=migrations).code == 0
    assert driver(database, schema=schema, migrations=migrations).applied() == []
    assert pg_server.value("SELECT count(*) FROM runs", database) == "1"
    old = dict((row[0], row[1]) for row in records(pg_server, database))

    schema.write_text(schema.read_text() + "ALTER TABLE runs ADD COLUMN IF NOT EXISTS note text;\n")
    changed = driver(database, schema=schema, migrations=migrations)

    assert changed.code == 0, changed.text
    assert changed.applied() == ["schema:schema.sql"]
    assert pg_server.value("SELECT count(*) FROM runs", database) == "2"
    assert pg_server.value("SELECT count(*) FROM m_runs", database) == "1"
    new = dict((row[0], row[1]) for row in records(pg_server, database))
    assert new["schema:schema.sql"] != old["schema:schema.sql"]
    assert new["001_m.sql"] == old["001_m.sql"]
    assert len(new) == 2
    assert driver(database, schema=schema, migrations=migrations).applied() == []


# --- concurrency --------------------------------------------------------------------------


def test_concurrent_runs_apply_each_migration_once(
    start_driver: Callable[..., subprocess.Popen[str]],
    busybox_bin: Path | None,
    pg_server: PgServer,
    database: str,
    migrations: Path,
) -> None:
    if busybox_bin is None:
        skip_or_fail("no busybox (apt-get install -y busybox)")
    write(
        migrations,
        {
            "001_counter.sql": "CREATE TABLE counter (id serial);\n",
            "002_slow.sql": "INSERT INTO counter DEFAULT VALUES;\nSELECT pg_sleep(0.5);\n",
        },
    )
    for round_ in range(2):  # a fresh database, then a new migration on top
        if round_ == 1:
            write(migrations, {"003_more.sql": "INSERT INTO counter DEFAULT VALUES;\nSELECT pg_sleep(0.5);\n"})
        procs = [start_driver(shell, database, migrations=migrations) for shell in SHELLS]
        outputs = [p.communicate(timeout=120) for p in procs]
        results = [Run(p.returncode, out, err) for p, (out, err) in zip(procs, outputs, strict=True)]
        for result in results:
            assert result.code == 0, result.text
        applied = [name for result in results for name in result.applied()]
        expected = ["001_counter.sql", "002_slow.sql"] if round_ == 0 else ["003_more.sql"]
        assert sorted(applied) == expected
        assert pg_server.value("SELECT count(*) FROM counter", database) == str(round_ + 1)
        assert versions(pg_server, database) == ["001_counter.sql", "002_slow.sql", "003_more.sql"][: round_ + 2]
    lock = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = (:key::bigint >> 32)::oid"
    assert pg_server.value(lock, database, {"key": str(LOCK_KEY)}) == "0"  # released with the session


# --- hostile input -------------------------------------------------------------------------


def test_hostile_names_are_data_not_code(
    start_driver: Callable[..., subprocess.Popen[str]], shell: str, pg_server: PgServer, tmp_path: Path
) -> None:
    token = secrets.token_hex(4)
    pwned = Path(f"/tmp/pwned-{token}")
    role = f"o'neil_{token}"
    password = "p@ss:w/rd#1 $x'\""  # pragma: allowlist secret
    db = f'a"b {token}'
    pg_server.create_role(role, password)
    pg_server.create_database(db, owner=role)
    folder = tmp_path / f"mig $(touch {pwned}) `touch {pwned}`; x"
    names = [
        "001_it's;rm -rf.sql",
        f"002 $(touch pwned-{token}) x.sql",
        "003_x'); DROP TABLE clockwork_migrations; --.sql",
        '004_"quoted" `touch bq` \\back\\slash.sql',
        "005_:name :'name' %s.sql",
        "006_-n -e.sql",
    ]
    write(folder, {name: f"INSERT INTO seen (name) VALUES ($q${name}$q$);\n" for name in names})
    schema = write(tmp_path / "s $(id)", {"schema; $(touch x).sql": "CREATE TABLE IF NOT EXISTS seen (name text);\n"})
    try:
        proc = start_driver(
            shell,
            db,
            schema=schema / "schema; $(touch x).sql",
            migrations=folder,
            user=role,
            password=password,
            cwd=tmp_path,
        )
        out, err = proc.communicate(timeout=120)
        result = Run(proc.returncode, out, err)
        assert result.code == 0, result.text
        assert result.applied() == ["schema:schema; $(touch x).sql", *names]
        got = pg_server.rows("SELECT version, current_user FROM clockwork_migrations ORDER BY version", db)
        assert sorted(row[0] for row in got) == sorted(["schema:schema; $(touch x).sql", *names])
        assert [row[0] for row in pg_server.rows("SELECT name FROM seen", db)] == names
        assert pg_server.value("SELECT tableowner FROM pg_tables WHERE tablename = 'clockwork_migrations'", db) == role
        assert not pwned.exists()
        leftovers = {p.name for p in tmp_path.rglob("*")} & {f"pwned-{token}", "x", "bq"}
        assert not leftovers
    finally:
        pg_server.drop_database(db)
        pg_server.psql('DROP ROLE :"name";', variables={"name": role})


def test_newline_in_a_file_name_is_refused(
    driver: Driver, pg_server: PgServer, database: str, migrations: Path
) -> None:
    write(migrations, {"001_ok.sql": "CREATE TABLE ok (x int);\n", "002_two\nlines.sql": "SELECT 1;\n"})
    result = driver(database, migrations=migrations)
    assert result.code != 0
    assert "newline" in result.err
    assert "002_two" in result.err
    assert not table_exists(pg_server, database, "ok")
    assert not table_exists(pg_server, database, MIGRATIONS_TABLE)


# --- missing and empty inputs ----------------------------------------------------------------


def test_missing_schema_file_is_an_error_naming_it(
    driver: Driver, pg_server: PgServer, database: str, tmp_path: Path, migrations: Path
) -> None:
    write(migrations, {"001_a.sql": "CREATE TABLE a (x int);\n"})
    result = driver(database, schema=tmp_path / "nope" / "schema.sql", migrations=migrations)
    assert result.code != 0
    assert f"schema file not found: {tmp_path / 'nope' / 'schema.sql'}" in result.err
    assert not table_exists(pg_server, database, "a")


def test_empty_or_missing_folder_is_fine(driver: Driver, pg_server: PgServer, database: str, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    for kwargs in ({"migrations": empty}, {"migrations": tmp_path / "missing"}, {}):
        result = driver(database, **kwargs)
        assert result.code == 0, result.text
        assert f"{PREFIX}: nothing to apply" in result.out
    schema = write(tmp_path, {"schema.sql": "CREATE TABLE IF NOT EXISTS s (x int);\n"})
    result = driver(database, schema=schema / "schema.sql", migrations=tmp_path / "missing")
    assert result.code == 0, result.text
    assert result.applied() == ["schema:schema.sql"]


def test_relative_paths_resolve_from_the_working_directory(
    driver: Driver, pg_server: PgServer, database: str, tmp_path: Path
) -> None:
    write(tmp_path / "db", {"schema.sql": "CREATE TABLE s (x int);\n"})
    write(tmp_path / "db" / "migrations", {"001_a.sql": "INSERT INTO s VALUES (1);\n"})
    result = driver(database, schema="db/schema.sql", migrations="db/migrations/", cwd=tmp_path)
    assert result.code == 0, result.text
    assert result.applied() == ["schema:schema.sql", "001_a.sql"]


def test_wrong_password_fails_before_any_file(
    start_driver: Callable[..., subprocess.Popen[str]], database: str, migrations: Path
) -> None:
    write(migrations, {"001_a.sql": "CREATE TABLE a (x int);\n"})
    proc = start_driver("dash", database, migrations=migrations, password="wrong")  # pragma: allowlist secret
    out, err = proc.communicate(timeout=60)
    assert proc.returncode != 0
    assert "password authentication failed" in err
    assert f"{PREFIX}: FAILED before applying any file" in err


def test_unreachable_server_is_retried_briefly_then_reported(
    script: str, pg_server: PgServer, migrations: Path
) -> None:
    write(migrations, {"001_a.sql": "CREATE TABLE a (x int);\n"})
    env = {**pg_server.env("postgres"), "PGPORT": str(_unused_port()), "CLOCKWORK_MIGRATIONS_DIR": str(migrations)}
    started = time.monotonic()
    proc = subprocess.run(["dash", "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert "not accepting connections yet (attempt 1 of" in proc.stderr
    assert f"{PREFIX}: FAILED before applying any file" in proc.stderr
    assert 2 < time.monotonic() - started < 30


def _unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- cost ------------------------------------------------------------------------------------


@pytest.fixture
def counting_path(tmp_path: Path, pg_server: PgServer) -> Iterator[tuple[Path, Path]]:
    """A PATH folder whose commands log their name, then exec the real one."""
    folder = tmp_path / "counting-bin"
    folder.mkdir()
    log = tmp_path / "calls.log"
    for name in (
        "psql",
        "pg_isready",
        "sha256sum",
        "grep",
        "mktemp",
        "rm",
        "cat",
        "sleep",
        "sort",
        "ls",
        "basename",
        "sed",
    ):
        real = shutil.which(name, path=f"{pg_server.bin_dir}{os.pathsep}/usr/bin{os.pathsep}/bin")
        if real is None:
            continue
        shim = folder / name
        shim.write_text(f'#!/bin/sh\necho {name} >> "{log}"\nexec "{real}" "$@"\n', encoding="utf-8")
        shim.chmod(0o755)
    yield folder, log


def test_process_count_does_not_grow_with_the_number_of_files(
    pg_server: PgServer, script: str, counting_path: tuple[Path, Path], tmp_path: Path
) -> None:
    folder, log = counting_path
    calls = []
    for count in (3, 60):
        db = pg_server.create_database()
        try:
            mig = write(
                tmp_path / f"m{count}", {f"{i:03d}_t.sql": f"CREATE TABLE t{i} (x int);\n" for i in range(count)}
            )
            log.write_text("")
            env = {**pg_server.env(db), "CLOCKWORK_MIGRATIONS_DIR": str(mig), "PATH": str(folder)}
            started = time.monotonic()
            proc = subprocess.run(["/bin/dash", "-c", script], env=env, capture_output=True, text=True, timeout=120)
            assert proc.returncode == 0, proc.stdout + proc.stderr
            assert len(re.findall(rf"^{PREFIX}: applied", proc.stdout, re.MULTILINE)) == count
            assert time.monotonic() - started < 60
            calls.append(sorted(log.read_text().split()))
        finally:
            pg_server.drop_database(db)
    assert calls[0] == calls[1]
    assert calls[0].count("psql") == 1
    assert calls[0].count("sha256sum") == 1
    assert len(calls[0]) <= 8, calls[0]
