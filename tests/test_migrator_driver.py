"""The migrator driver (templates/migrator.sh.j2) against a real PostgreSQL 15 cluster.

The rendered script runs as a subprocess under dash (Debian's /bin/sh) and under busybox
ash with only busybox applets and psql on PATH (what the alpine image offers), exactly as
the migrator service runs it: ``sh -c <script> clockwork-migrate <plan argument>...``, with
the plan's files under ``CLOCKWORK_ROOT`` (``/clockwork`` in the container). The plans are
written here by hand, in the format of clockwork_compose/_migrations.py's docstring.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

pytest.register_assert_rewrite("pg_server")

from pg_server import PgServer, skip_or_fail  # noqa: E402

from clockwork_compose._engines.postgres import HISTORY_TABLE as MIGRATIONS_TABLE  # noqa: E402
from clockwork_compose._engines.postgres import LOCK_KEY  # noqa: E402
from clockwork_compose._migrator import (  # noqa: E402
    LOG_PREFIX,
    ROOT_ENV,
    render_migrator_script,
)

pytest_plugins = ["pg_server"]

PREFIX = "clockwork-migrate"
BUSYBOX_APPLETS = ("sh", "cat", "grep", "mktemp", "rm", "sha256sum", "sleep", "sed", "awk", "mkdir")
SHELLS = ("dash", "busybox")
IN_PROGRESS_WARNING = "there is already a transaction in progress"


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

    def adopted(self) -> list[str]:
        return re.findall(rf"^{PREFIX}: adopted (\S+)", self.out, re.MULTILINE)

    def errors(self) -> list[str]:
        return re.findall(rf"^{PREFIX}: ERROR: (.*)$", self.err, re.MULTILINE)


# --- plans -----------------------------------------------------------------------------------


def checksum_of(text: bytes) -> str:
    """A stand-in for the build's normalised checksum: any hex digest other than the raw sha256."""
    return hashlib.sha256(b"normalised\0" + text).hexdigest()


@dataclass
class S:
    """One step: a file under the root and how the plan runs it."""

    path: str
    kind: str = "versioned"
    tx: str = "tx"
    version: str | None = None
    adopt_key: str | None = None
    lines: tuple[int, int] | None = None
    checksum: str | None = None  # default: checksum_of(the file as it is now)

    def argument(self, root: Path) -> str:
        data = (root / self.path).read_bytes()
        version = self.version or (f"schema:{Path(self.path).name}" if self.kind == "schema" else Path(self.path).name)
        lines = "-" if self.lines is None else f"{self.lines[0]}-{self.lines[1]}"
        fields = (
            self.kind,
            self.tx,
            version,
            self.adopt_key or "-",
            hashlib.sha256(data).hexdigest(),
            self.checksum or checksum_of(data),
            lines,
            self.path,
        )
        return "step " + " ".join(fields)


def plan(root: Path, *steps: S, head: Sequence[str] = ()) -> list[str]:
    return [*head, *(step.argument(root) for step in steps)]


def files(root: Path, folder: str = "migrations", **contents: str) -> None:
    """Write files: ``files(root, a_sql="...")`` writes root/migrations/a.sql (``_sql`` -> ``.sql``)."""
    for key, text in contents.items():
        write(root, f"{folder}/{key.removesuffix('_sql')}.sql", text)


def write(root: Path, path: str, text: str) -> Path:
    target = root / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    return target


def m(name: str, **kwargs: object) -> S:
    return S(f"migrations/{name}", **kwargs)  # type: ignore[arg-type]


# --- running the driver ------------------------------------------------------------------


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


@pytest.fixture(params=SHELLS)
def shell(request: pytest.FixtureRequest, busybox_bin: Path | None) -> str:
    if request.param == "dash" and shutil.which("dash") is None:
        skip_or_fail("no dash (apt-get install -y dash)")
    if request.param == "busybox" and busybox_bin is None:
        skip_or_fail("no busybox (apt-get install -y busybox)")
    return str(request.param)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    folder = tmp_path / "clockwork"
    (folder / "migrations").mkdir(parents=True)
    return folder


Start = Callable[..., "subprocess.Popen[str]"]
Driver = Callable[..., Run]


@pytest.fixture
def start_driver(pg_server: PgServer, script: str, busybox_bin: Path | None, tmp_path: Path) -> Start:
    """Start the driver without waiting: (shell, database, arguments, root, user=, password=, env=)."""

    def start(
        shell: str,
        database: str,
        arguments: Sequence[str],
        root: Path,
        user: str | None = None,
        password: str | None = None,
        env: dict[str, str] | None = None,
    ) -> subprocess.Popen[str]:
        environment = {**pg_server.env(database, user, password), ROOT_ENV: str(root), **(env or {})}
        if shell == "busybox":
            assert busybox_bin is not None
            environment["PATH"] = f"{busybox_bin}{os.pathsep}{pg_server.bin_dir}"
            argv = [str(busybox_bin / "sh"), "-c", script, LOG_PREFIX, *arguments]
        else:
            argv = ["dash", "-c", script, LOG_PREFIX, *arguments]
        return subprocess.Popen(
            argv, cwd=tmp_path, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )

    return start


@pytest.fixture
def driver(start_driver: Start, shell: str, root: Path) -> Driver:
    """Run the driver to completion with this test's shell: driver(database, arguments)."""

    def run(database: str, arguments: Sequence[str], **kwargs: object) -> Run:
        proc = start_driver(shell, database, arguments, kwargs.pop("root", root), **kwargs)
        out, err = proc.communicate(timeout=120)
        return Run(proc.returncode, out, err)

    return run


def records(pg: PgServer, db: str) -> list[tuple[str, ...]]:
    return pg.rows(f"SELECT version, checksum, applied_at FROM {MIGRATIONS_TABLE} ORDER BY applied_at, version", db)


def versions(pg: PgServer, db: str) -> list[str]:
    return [row[0] for row in records(pg, db)]


def table_exists(pg: PgServer, db: str, name: str) -> bool:
    return pg.value("SELECT to_regclass(:'name') IS NOT NULL", db, {"name": name}) == "t"


def log_rows(pg: PgServer, db: str) -> list[str]:
    return [row[0] for row in pg.rows("SELECT name FROM log ORDER BY id", db)]


LOG = "CREATE TABLE log (id serial PRIMARY KEY, name text);\n"


# --- order, recording, output ---------------------------------------------------------


def test_plan_order_is_run_and_recorded_not_byte_order(
    driver: Driver, pg_server: PgServer, database: str, root: Path
) -> None:
    write(root, "schema/schema.sql", LOG)
    names = ["2_b.sql", "10_c.sql", "1_a.sql"]  # the plan's order, whatever bytes say
    # the last file has no final semicolon: psql still runs that statement at the end of the file
    for name in names:
        write(root, f"migrations/{name}", f"INSERT INTO log (name) VALUES ('{name}')")
    write(root, "migrations/9_not_in_plan.sql", "SELECT 1/0;\n")
    arguments = plan(root, S("schema/schema.sql", kind="schema"), *(m(n) for n in names))

    result = driver(database, arguments)

    assert result.code == 0, result.text
    assert log_rows(pg_server, database) == names
    assert result.applied() == ["schema:schema.sql", *names]
    assert versions(pg_server, database) == ["schema:schema.sql", *names]
    assert f"{PREFIX}: done: 4 applied, 0 adopted, 0 already applied, 4 in the plan" in result.out
    recorded = {row[0]: row[1] for row in records(pg_server, database)}
    assert recorded["1_a.sql"] == checksum_of((root / "migrations/1_a.sql").read_bytes())
    assert result.err == ""


def test_rerun_is_a_no_op(driver: Driver, pg_server: PgServer, database: str, root: Path) -> None:
    write(root, "schema/schema.sql", "CREATE TABLE runs (id serial);\nINSERT INTO runs DEFAULT VALUES;\n")
    files(root, **{"001_a_sql": "CREATE TABLE a (x int);\n", "002_b_sql": "INSERT INTO a VALUES (1);\n"})
    arguments = plan(root, S("schema/schema.sql", kind="schema"), m("001_a.sql"), m("002_b.sql"))

    first = driver(database, arguments)
    before = records(pg_server, database)
    second = driver(database, arguments)

    assert first.code == 0 and second.code == 0, first.text + second.text
    assert records(pg_server, database) == before  # same rows, same checksums, same applied_at
    assert pg_server.value("SELECT count(*) FROM runs", database) == "1"
    assert pg_server.value("SELECT count(*) FROM a", database) == "1"
    assert second.applied() == []
    assert f"{PREFIX}: skipped 3 already applied file(s)" in second.out
    assert f"{PREFIX}: done: 0 applied, 0 adopted, 3 already applied, 3 in the plan" in second.out


def test_an_empty_plan_is_nothing_to_do(driver: Driver, database: str) -> None:
    result = driver(database, [])
    assert result.code == 0, result.text
    assert f"{PREFIX}: nothing to apply" in result.out


def test_an_empty_plan_after_applied_files_is_refused_and_names_them(
    driver: Driver, pg_server: PgServer, database: str, root: Path
) -> None:
    """Every migration file deleted (the folder is empty, the plan too): the database still
    records them as applied, and the driver refuses, naming each, instead of passing."""
    write(root, "schema/schema.sql", "CREATE TABLE runs (id int);\n")
    files(root, **{"001_a_sql": "CREATE TABLE a (x int);\n"})
    assert driver(database, plan(root, S("schema/schema.sql", kind="schema"), m("001_a.sql"))).code == 0

    result = driver(database, [])
    assert result.code == 1, result.text
    assert result.errors() == [
        "applied migration 001_a.sql is missing from the migrations folder: restore it "
        "(clockwork never undoes an applied migration)",
        "applied schema file schema.sql is missing: restore it (clockwork never undoes an applied file)",
    ]
    assert f"{PREFIX}: nothing was applied: 2 problem(s) above" in result.err
    assert sorted(versions(pg_server, database)) == ["001_a.sql", "schema:schema.sql"]


# --- transaction modes -------------------------------------------------------------------


def test_tx_failure_rolls_the_file_back_and_earlier_files_stay(
    driver: Driver, pg_server: PgServer, database: str, root: Path
) -> None:
    files(
        root,
        **{
            "001_t_sql": "CREATE TABLE t (x int);\nINSERT INTO t VALUES (1);\n",
            "002_bad_sql": "CREATE TABLE partial (x int);\nINSERT INTO t VALUES (2);\nSELECT 1/0;\n",
            "003_after_sql": "CREATE TABLE after_bad (x int);\n",
        },
    )
    steps = [m("001_t.sql"), m("002_bad.sql"), m("003_after.sql")]

    result = driver(database, plan(root, *steps))

    assert result.code == 1
    assert "division by zero" in result.err
    assert "002_bad.sql" in result.err.split(f"{PREFIX}: FAILED")[0]  # psql's error names the file
    assert f"{PREFIX}: FAILED 002_bad.sql (psql exit status 3, error above): rolled back" in result.err
    assert result.applied() == ["001_t.sql"]
    assert versions(pg_server, database) == ["001_t.sql"]
    assert pg_server.rows("SELECT x FROM t ORDER BY x", database) == [("1",)]
    assert not table_exists(pg_server, database, "partial")
    assert not table_exists(pg_server, database, "after_bad")

    files(root, **{"002_bad_sql": "INSERT INTO t VALUES (2);\n"})
    fixed = driver(database, plan(root, *steps))
    assert fixed.code == 0, fixed.text
    assert fixed.applied() == ["002_bad.sql", "003_after.sql"]
    assert pg_server.rows("SELECT x FROM t ORDER BY x", database) == [("1",), ("2",)]


def test_own_transaction_file_commits_its_record_with_it(
    driver: Driver, pg_server: PgServer, database: str, root: Path
) -> None:
    files(
        root,
        **{
            "001_own_sql": "-- sqitch style\nBEGIN;\nCREATE TABLE own (x int);\nINSERT INTO own VALUES (1);\nCOMMIT;\n",
            "002_own_bad_sql": (
                "BEGIN;\nCREATE TABLE own_bad (x int);\nINSERT INTO own VALUES (2);\nSELECT 1/0;\nCOMMIT;\n"
            ),
        },
    )
    result = driver(database, plan(root, m("001_own.sql", tx="own"), m("002_own_bad.sql", tx="own")))

    assert result.code == 1
    assert result.applied() == ["001_own.sql"]
    assert IN_PROGRESS_WARNING not in result.text  # the file's BEGIN, inside the driver's transaction
    assert f"{PREFIX}: FAILED 002_own_bad.sql (psql exit status 3, error above): rolled back" in result.err
    assert versions(pg_server, database) == ["001_own.sql"]
    assert pg_server.rows("SELECT x FROM own", database) == [("1",)]
    assert not table_exists(pg_server, database, "own_bad")


def test_own_transaction_file_without_its_commit_keeps_nothing(
    driver: Driver, pg_server: PgServer, database: str, root: Path
) -> None:
    files(root, **{"001_open_sql": "BEGIN;\nCREATE TABLE left_open (x int);\n"})
    result = driver(database, plan(root, m("001_open.sql", tx="own")))
    assert result.code == 1
    assert "no COMMIT at its end" in result.err
    assert f"{PREFIX}: FAILED 001_open.sql" in result.err
    assert not table_exists(pg_server, database, "left_open")
    assert versions(pg_server, database) == []


def test_no_transaction_mode_runs_create_index_concurrently(
    driver: Driver, pg_server: PgServer, database: str, root: Path
) -> None:
    files(
        root,
        **{
            "001_t_sql": "CREATE TABLE t (x int);\n",
            "002_idx_sql": "CREATE INDEX CONCURRENTLY t_x_idx ON t (x);\n",
            "003_half_sql": "CREATE TABLE half (x int);\nSELECT 1/0;\n",
        },
    )
    refused = driver(database, plan(root, m("001_t.sql"), m("002_idx.sql")))  # in a transaction it cannot run
    assert refused.code == 1
    assert "cannot run inside a transaction block" in refused.err

    result = driver(database, plan(root, m("001_t.sql"), m("002_idx.sql", tx="none"), m("003_half.sql", tx="none")))
    assert result.code == 1
    assert result.applied() == ["002_idx.sql"]
    assert pg_server.value("SELECT indisvalid FROM pg_index WHERE indexrelid = 't_x_idx'::regclass", database) == "t"
    assert f"{PREFIX}: FAILED 003_half.sql" in result.err
    assert "outside a transaction" in result.err and "re-run whole" in result.err
    assert table_exists(pg_server, database, "half")  # what ran before the error stays, unrecorded
    assert versions(pg_server, database) == ["001_t.sql", "002_idx.sql"]


def test_session_settings_do_not_leak_into_the_next_file(
    driver: Driver, pg_server: PgServer, database: str, root: Path
) -> None:
    files(
        root,
        **{
            "001_a_sql": "SET search_path = nowhere;\nSET default_transaction_read_only = on;\n",
            "002_b_sql": "CREATE TABLE b (x int);\n",
        },
    )
    result = driver(database, plan(root, m("001_a.sql"), m("002_b.sql")))
    assert result.code == 0, result.text
    assert table_exists(pg_server, database, "public.b")


# --- sections, folders, variables ------------------------------------------------------------


def test_only_the_given_lines_of_a_file_run(driver: Driver, pg_server: PgServer, database: str, root: Path) -> None:
    dbmate = "-- migrate:up\nCREATE TABLE users (id int);\n\n-- migrate:down\nDROP TABLE users;\n"
    goose = (
        "-- +goose Up\n-- +goose StatementBegin\nCREATE FUNCTION f() RETURNS int AS $$\nBEGIN\n  RETURN 1;\nEND\n"
        "$$ LANGUAGE plpgsql;\n-- +goose StatementEnd\n\n-- +goose Down\nDROP FUNCTION f();\n"
    )
    files(root, **{"20200101000000_users_sql": dbmate, "00002_f_sql": goose})
    arguments = plan(root, m("20200101000000_users.sql", lines=(1, 3)), m("00002_f.sql", lines=(1, 9)))

    result = driver(database, arguments)

    assert result.code == 0, result.text
    assert table_exists(pg_server, database, "users")
    assert pg_server.value("SELECT f()", database) == "1"
    assert driver(database, arguments).applied() == []


def test_psql_runs_from_the_plans_folder_so_relative_includes_resolve(
    driver: Driver, pg_server: PgServer, database: str, root: Path
) -> None:
    # a sqitch project: deploy scripts load files relative to the plan's folder
    write(root, "migrations/sqitch/sqitch.plan", "%project=x\n")
    write(root, "migrations/sqitch/lib/table.sql", "CREATE TABLE from_lib (x text);\n")
    write(root, "migrations/sqitch/value.txt", "from-a-file\n")
    write(root, "migrations/sqitch/deploy/common.sql", "INSERT INTO from_lib VALUES ('from-ir');\n")
    write(
        root,
        "migrations/sqitch/deploy/one.sql",
        "BEGIN;\n\\i lib/table.sql\n\\ir common.sql\n\\set v `cat value.txt`\n"
        "INSERT INTO from_lib VALUES (:'v');\nCOMMIT;\n",
    )
    arguments = plan(root, m("sqitch/deploy/one.sql", tx="own", version="one"), head=["set cwd migrations/sqitch"])

    result = driver(database, arguments)

    assert result.code == 0, result.text
    assert sorted(pg_server.rows("SELECT x FROM from_lib", database)) == [("from-a-file",), ("from-ir",)]
    assert result.applied() == ["one"]


def test_declared_variables_reach_the_files(driver: Driver, pg_server: PgServer, database: str, root: Path) -> None:
    files(
        root,
        **{
            "001_v_sql": 'CREATE SCHEMA :"SCHEMA_NAME";\nCREATE TABLE :"SCHEMA_NAME".t (s text);\n'
            "INSERT INTO :\"SCHEMA_NAME\".t VALUES (:'greeting'), (:'secret');\n"
        },
    )
    arguments = plan(
        root,
        m("001_v.sql"),
        head=["var SCHEMA_NAME app data", "var greeting it's $(not run) :x", "varenv secret APP_SECRET"],
    )
    result = driver(database, arguments, env={"APP_SECRET": "s3cr3t 'q'"})
    assert result.code == 0, result.text
    assert sorted(pg_server.rows('SELECT s FROM "app data".t', database)) == [("it's $(not run) :x",), ("s3cr3t 'q'",)]

    missing = driver(database, plan(root, m("001_v.sql"), head=["varenv secret NOT_SET_ANYWHERE"]))
    assert missing.code == 1
    assert "variable secret: no value in the environment variable NOT_SET_ANYWHERE" in missing.err


@pytest.mark.parametrize("name", ["ON_ERROR_STOP", "clockwork_root", "a-b", "AUTOCOMMIT"])
def test_variables_that_would_change_psql_are_refused(driver: Driver, database: str, root: Path, name: str) -> None:
    files(root, **{"001_a_sql": "CREATE TABLE a (x int);\n"})
    result = driver(database, plan(root, m("001_a.sql"), head=[f"var {name} 0"]))
    assert result.code == 1
    assert f"variable name not allowed (run clockwork build): {name}" in result.err


# --- refusals: nothing runs, the data is untouched -------------------------------------------


@pytest.fixture
def applied(driver: Driver, pg_server: PgServer, database: str, root: Path) -> list[tuple[str, ...]]:
    """A database with schema.sql, 001 and 002 applied; returns its records."""
    write(root, "schema/schema.sql", LOG)
    files(
        root,
        **{
            "001_a_sql": "INSERT INTO log (name) VALUES ('001');\n",
            "002_b_sql": "INSERT INTO log (name) VALUES ('002');\n",
            "003_c_sql": "INSERT INTO log (name) VALUES ('003');\n",
            "000_early_sql": "INSERT INTO log (name) VALUES ('000');\n",
        },
    )
    result = driver(database, plan(root, S("schema/schema.sql", kind="schema"), m("001_a.sql"), m("002_b.sql")))
    assert result.code == 0, result.text
    return records(pg_server, database)


def assert_refused(result: Run, pg: PgServer, db: str, before: list[tuple[str, ...]], *messages: str) -> None:
    assert result.code == 1, result.text
    assert result.errors()[: len(messages)] == list(messages)
    assert re.search(rf"^{PREFIX}: nothing was applied", result.err, re.MULTILINE)
    # The refusal is all that is said: no summary line, no psql error from after it.
    assert f"{PREFIX}: done" not in result.text and "psql:" not in result.err
    assert result.applied() == []
    assert records(pg, db) == before
    assert log_rows(pg, db) == ["001", "002"]


def test_a_file_changed_since_build_is_refused(
    driver: Driver, pg_server: PgServer, database: str, root: Path, applied: list[tuple[str, ...]]
) -> None:
    arguments = plan(root, S("schema/schema.sql", kind="schema"), m("001_a.sql"), m("002_b.sql"), m("003_c.sql"))
    files(root, **{"003_c_sql": "DROP TABLE log;\n"})  # edited after the build wrote the plan
    result = driver(database, arguments)
    assert_refused(result, pg_server, database, applied, "003_c.sql changed since clockwork build: run clockwork build")

    (root / "migrations/003_c.sql").unlink()
    result = driver(database, arguments)
    assert_refused(
        result,
        pg_server,
        database,
        applied,
        "003_c.sql: missing since clockwork build: restore it, or run clockwork build",
    )


def test_an_applied_migration_that_changed_is_refused(
    driver: Driver, pg_server: PgServer, database: str, root: Path, applied: list[tuple[str, ...]]
) -> None:
    files(root, **{"002_b_sql": "INSERT INTO log (name) VALUES ('002 changed');\n"})
    result = driver(
        database, plan(root, S("schema/schema.sql", kind="schema"), m("001_a.sql"), m("002_b.sql"), m("003_c.sql"))
    )
    assert_refused(
        result,
        pg_server,
        database,
        applied,
        "002_b.sql changed after it was applied: restore it, and put the change in a new migration",
    )


def test_a_changed_schema_file_is_refused_not_reapplied(
    driver: Driver, pg_server: PgServer, database: str, root: Path, applied: list[tuple[str, ...]]
) -> None:
    write(root, "schema/schema.sql", "DROP TABLE IF EXISTS log;\n" + LOG)  # what pg_dump --clean writes
    result = driver(
        database, plan(root, S("schema/schema.sql", kind="schema"), m("001_a.sql"), m("002_b.sql"), m("003_c.sql"))
    )
    assert_refused(
        result,
        pg_server,
        database,
        applied,
        "schema.sql changed after it was applied: put the change in a migration, or destroy for a fresh database",
    )


def test_a_comment_edit_is_not_a_change(
    driver: Driver, pg_server: PgServer, database: str, root: Path, applied: list[tuple[str, ...]]
) -> None:
    # the build's checksum ignores comments: the same checksum with new bytes runs nothing again
    old = checksum_of(LOG.encode())
    write(root, "schema/schema.sql", "-- the log\n" + LOG)
    result = driver(
        database, plan(root, S("schema/schema.sql", kind="schema", checksum=old), m("001_a.sql"), m("002_b.sql"))
    )
    assert result.code == 0, result.text
    assert result.applied() == []
    assert records(pg_server, database) == applied


def test_an_applied_migration_missing_from_the_plan_is_refused(
    driver: Driver, pg_server: PgServer, database: str, root: Path, applied: list[tuple[str, ...]]
) -> None:
    result = driver(database, plan(root, S("schema/schema.sql", kind="schema"), m("002_b.sql"), m("003_c.sql")))
    assert_refused(
        result,
        pg_server,
        database,
        applied,
        "applied migration 001_a.sql is missing from the migrations folder: restore it "
        "(clockwork never undoes an applied migration)",
    )


def test_a_new_migration_before_an_applied_one_is_refused(
    driver: Driver, pg_server: PgServer, database: str, root: Path, applied: list[tuple[str, ...]]
) -> None:
    arguments = plan(
        root, S("schema/schema.sql", kind="schema"), m("000_early.sql"), m("001_a.sql"), m("002_b.sql"), m("003_c.sql")
    )
    result = driver(database, arguments)
    assert_refused(
        result,
        pg_server,
        database,
        applied,
        "out of order: 000_early.sql sorts before applied 001_a.sql: "
        "rename it to sort after the last applied migration",
    )


def test_every_problem_is_reported_at_once(
    driver: Driver, pg_server: PgServer, database: str, root: Path, applied: list[tuple[str, ...]]
) -> None:
    files(root, **{"002_b_sql": "SELECT 'changed';\n"})
    result = driver(database, plan(root, m("000_early.sql"), m("002_b.sql"), m("003_c.sql")))
    assert result.code == 1
    errors = result.errors()
    assert len(errors) == 4, errors
    assert errors[0].startswith("002_b.sql changed after it was applied")
    assert errors[1].startswith("applied migration 001_a.sql is missing")
    assert errors[2].startswith("applied schema file schema.sql is missing")
    assert errors[3].startswith("out of order: 000_early.sql sorts before applied 002_b.sql")
    assert f"{PREFIX}: nothing was applied: 4 problem(s) above" in result.err
    assert records(pg_server, database) == applied


def test_records_of_the_previous_driver_are_accepted_and_upgraded(
    driver: Driver, pg_server: PgServer, database: str, root: Path
) -> None:
    """The driver before plans recorded each whole file's sha256 under the same names."""
    write(root, "schema/schema.sql", LOG)
    files(root, **{"001_a_sql": "INSERT INTO log (name) VALUES ('001');\n"})
    pg_server.psql(LOG + "INSERT INTO log (name) VALUES ('001');\n", database)
    pg_server.psql(
        f"CREATE TABLE {MIGRATIONS_TABLE} (version text PRIMARY KEY, checksum text NOT NULL, "
        "applied_at timestamptz NOT NULL DEFAULT now());\n"
        f"INSERT INTO {MIGRATIONS_TABLE} (version, checksum) VALUES ('schema:schema.sql', :'s'), ('001_a.sql', :'a');",
        database,
        {
            "s": hashlib.sha256((root / "schema/schema.sql").read_bytes()).hexdigest(),
            "a": hashlib.sha256((root / "migrations/001_a.sql").read_bytes()).hexdigest(),
        },
    )
    result = driver(database, plan(root, S("schema/schema.sql", kind="schema"), m("001_a.sql")))
    assert result.code == 0, result.text
    assert result.applied() == []
    recorded = {row[0]: row[1] for row in records(pg_server, database)}
    assert recorded["001_a.sql"] == checksum_of((root / "migrations/001_a.sql").read_bytes())
    assert log_rows(pg_server, database) == ["001"]


def test_repeatables_run_after_versioned_and_again_when_changed(
    driver: Driver, pg_server: PgServer, database: str, root: Path
) -> None:
    files(
        root,
        **{
            "V1__log_sql": LOG,
            "R__view_sql": "CREATE OR REPLACE VIEW v AS SELECT 1 AS one;\nINSERT INTO log (name) VALUES ('R1');\n",
        },
    )
    steps = [m("V1__log.sql", adopt_key="1"), m("R__view.sql", kind="repeatable")]
    first = driver(database, plan(root, *steps))
    again = driver(database, plan(root, *steps))
    files(
        root,
        R__view_sql="CREATE OR REPLACE VIEW v AS SELECT 1 AS one, 2 AS two;\nINSERT INTO log (name) VALUES ('R2');\n",
    )
    changed = driver(database, plan(root, *steps))

    assert first.code == again.code == changed.code == 0, first.text + again.text + changed.text
    assert first.applied() == ["V1__log.sql", "R__view.sql"]
    assert again.applied() == []
    assert changed.applied() == ["R__view.sql"]
    assert log_rows(pg_server, database) == ["R1", "R2"]
    assert pg_server.value("SELECT two FROM v", database) == "2"


# --- adoption of another tool's history --------------------------------------------------------


def notes(pg: PgServer, db: str) -> dict[str, str]:
    return dict(pg.rows(f"SELECT version, coalesce(note, '') FROM {MIGRATIONS_TABLE}", db))  # type: ignore[arg-type]


def three(root: Path, names: Sequence[str], keys: Sequence[str], **kwargs: object) -> list[S]:
    for i, name in enumerate(names):
        write(root, f"migrations/{name}", f"INSERT INTO log (name) VALUES ('{i + 1}');\n")
    return [m(name, adopt_key=key, **kwargs) for name, key in zip(names, keys, strict=True)]  # type: ignore[arg-type]


def test_adopts_golang_migrate_history(driver: Driver, pg_server: PgServer, database: str, root: Path) -> None:
    pg_server.psql(
        LOG + "INSERT INTO log (name) VALUES ('1'), ('2');\n"
        "CREATE TABLE schema_migrations (version bigint NOT NULL PRIMARY KEY, dirty boolean NOT NULL);\n"
        "INSERT INTO schema_migrations VALUES (2, false);\n",
        database,
    )
    steps = three(root, ["1_a.up.sql", "2_b.up.sql", "10_c.up.sql"], ["1", "2", "10"])
    result = driver(database, plan(root, *steps, head=["set adopt golang-migrate"]))
    assert result.code == 0, result.text
    assert result.adopted() == ["1_a.up.sql", "2_b.up.sql"]
    assert (
        f"{PREFIX}: adopted 1_a.up.sql (applied before, recorded in golang-migrate's schema_migrations)" in result.out
    )
    assert result.applied() == ["10_c.up.sql"]
    assert log_rows(pg_server, database) == ["1", "2", "3"]
    assert notes(pg_server, database)["1_a.up.sql"] == "adopted from golang-migrate's schema_migrations"
    assert notes(pg_server, database)["10_c.up.sql"] == ""
    assert f"{PREFIX}: done: 1 applied, 2 adopted, 0 already applied, 3 in the plan" in result.out
    rerun = driver(database, plan(root, *steps, head=["set adopt golang-migrate"]))
    assert rerun.adopted() == [] and rerun.applied() == []


def test_a_dirty_golang_migrate_database_is_refused(
    driver: Driver, pg_server: PgServer, database: str, root: Path
) -> None:
    pg_server.psql(
        LOG + "CREATE TABLE schema_migrations (version bigint NOT NULL PRIMARY KEY, dirty boolean NOT NULL);\n"
        "INSERT INTO schema_migrations VALUES (2, true);\n",
        database,
    )
    steps = three(root, ["1_a.up.sql", "2_b.up.sql", "3_c.up.sql"], ["1", "2", "3"])
    result = driver(database, plan(root, *steps, head=["set adopt golang-migrate"]))
    assert result.code == 1
    assert result.errors()[0].startswith("golang-migrate's schema_migrations is dirty at version 2")
    assert log_rows(pg_server, database) == []
    assert not table_exists(pg_server, database, MIGRATIONS_TABLE)


def test_adopts_dbmate_history(driver: Driver, pg_server: PgServer, database: str, root: Path) -> None:
    pg_server.psql(
        LOG + "INSERT INTO log (name) VALUES ('1'), ('2');\n"
        "CREATE TABLE schema_migrations (version varchar(128) PRIMARY KEY);\n"
        "INSERT INTO schema_migrations VALUES ('20200101000000'), ('20200102000000');\n",
        database,
    )
    names = ["20200101000000_a.sql", "20200102000000_b.sql", "20200103000000_c.sql"]
    steps = three(root, names, [n[:14] for n in names])
    result = driver(database, plan(root, *steps, head=["set adopt dbmate"]))
    assert result.code == 0, result.text
    assert result.adopted() == names[:2]
    assert result.applied() == names[2:]
    assert log_rows(pg_server, database) == ["1", "2", "3"]


def test_adopts_goose_history(driver: Driver, pg_server: PgServer, database: str, root: Path) -> None:
    pg_server.psql(
        LOG + "INSERT INTO log (name) VALUES ('1');\n"
        "CREATE TABLE goose_db_version (id serial PRIMARY KEY, version_id bigint NOT NULL, "
        "is_applied boolean NOT NULL, tstamp timestamp DEFAULT now());\n"
        # 2 was applied, then rolled back (goose deletes its row; older gooses added a false row)
        "INSERT INTO goose_db_version (version_id, is_applied) VALUES (0, true), (1, true), (2, true), (2, false);\n",
        database,
    )
    steps = three(root, ["00001_a.sql", "00002_b.sql", "00003_c.sql"], ["1", "2", "3"])
    result = driver(database, plan(root, *steps, head=["set adopt goose"]))
    assert result.code == 0, result.text
    assert result.adopted() == ["00001_a.sql"]
    assert result.applied() == ["00002_b.sql", "00003_c.sql"]
    assert log_rows(pg_server, database) == ["1", "2", "3"]


def test_adopts_flyway_history_and_its_baseline(driver: Driver, pg_server: PgServer, database: str, root: Path) -> None:
    pg_server.psql(
        LOG + "INSERT INTO log (name) VALUES ('1'), ('2'), ('3');\n"
        "CREATE TABLE flyway_schema_history (installed_rank int PRIMARY KEY, version varchar(50), "
        "description varchar(200) NOT NULL, type varchar(20) NOT NULL, script varchar(1000) NOT NULL, "
        "checksum int, installed_by varchar(100) NOT NULL, installed_on timestamp NOT NULL DEFAULT now(), "
        "execution_time int NOT NULL, success boolean NOT NULL);\n"
        "INSERT INTO flyway_schema_history VALUES "
        "(1, '1.1', '<< Flyway Baseline >>', 'BASELINE', '<< Flyway Baseline >>', NULL, 'x', now(), 0, true),"
        "(2, '1.2', 'b', 'SQL', 'V1_2__b.sql', 1, 'x', now(), 1, true),"
        "(3, '2', 'c', 'SQL', 'V2__c.sql', 1, 'x', now(), 1, false);\n",
        database,
    )
    names = ["V1__base.sql", "V1_2__b.sql", "V2__c.sql"]
    steps = three(root, names, ["1", "1.2", "2"])
    result = driver(database, plan(root, *steps, head=["set adopt flyway"]))
    assert result.code == 0, result.text
    assert result.adopted() == ["V1__base.sql", "V1_2__b.sql"]  # under the baseline; a success row
    assert result.applied() == ["V2__c.sql"]  # its row says it failed
    assert notes(pg_server, database)["V1__base.sql"] == "adopted from Flyway's flyway_schema_history"


def test_adopts_sqitch_history(driver: Driver, pg_server: PgServer, database: str, root: Path) -> None:
    pg_server.psql(
        LOG + "INSERT INTO log (name) VALUES ('1');\n"
        "CREATE SCHEMA sqitch;\n"
        "CREATE TABLE sqitch.changes (change_id text PRIMARY KEY, script_hash text, change text NOT NULL, "
        "project text NOT NULL, note text NOT NULL DEFAULT '', committed_at timestamptz NOT NULL DEFAULT now());\n"
        "INSERT INTO sqitch.changes (change_id, change, project) VALUES ('abc', 'appschema', 'flipr');\n",
        database,
    )
    steps = three(root, ["deploy/appschema.sql", "deploy/users.sql"], ["appschema", "users"])
    steps = [S(s.path, adopt_key=s.adopt_key, version=Path(s.path).stem) for s in steps]
    result = driver(database, plan(root, *steps, head=["set adopt sqitch"]))
    assert result.code == 0, result.text
    assert result.adopted() == ["appschema"]
    assert result.applied() == ["users"]


def test_adoption_adds_the_note_column_to_a_table_of_the_previous_driver(
    driver: Driver, pg_server: PgServer, database: str, root: Path
) -> None:
    pg_server.psql(
        LOG + "INSERT INTO log (name) VALUES ('1');\n"
        f"CREATE TABLE {MIGRATIONS_TABLE} (version text PRIMARY KEY, checksum text NOT NULL, "
        "applied_at timestamptz NOT NULL DEFAULT now());\n"
        "CREATE TABLE goose_db_version (id serial PRIMARY KEY, version_id bigint NOT NULL, "
        "is_applied boolean NOT NULL, tstamp timestamp DEFAULT now());\n"
        "INSERT INTO goose_db_version (version_id, is_applied) VALUES (0, true), (1, true);\n",
        database,
    )
    steps = three(root, ["00001_a.sql", "00002_b.sql"], ["1", "2"])
    result = driver(database, plan(root, *steps, head=["set adopt goose"]))
    assert result.code == 0, result.text
    assert result.adopted() == ["00001_a.sql"]
    assert result.applied() == ["00002_b.sql"]
    assert notes(pg_server, database) == {"00001_a.sql": "adopted from goose's goose_db_version", "00002_b.sql": ""}


def test_without_the_tools_table_everything_runs(
    driver: Driver, pg_server: PgServer, database: str, root: Path
) -> None:
    pg_server.psql(LOG, database)
    steps = three(root, ["1_a.up.sql", "2_b.up.sql"], ["1", "2"])
    result = driver(database, plan(root, *steps, head=["set adopt golang-migrate"]))
    assert result.code == 0, result.text
    assert result.adopted() == []
    assert result.applied() == ["1_a.up.sql", "2_b.up.sql"]


# --- concurrency --------------------------------------------------------------------------


def test_concurrent_runs_apply_each_migration_once(
    start_driver: Start, busybox_bin: Path | None, pg_server: PgServer, database: str, root: Path
) -> None:
    if busybox_bin is None:
        skip_or_fail("no busybox (apt-get install -y busybox)")
    files(
        root,
        **{
            "001_counter_sql": "CREATE TABLE counter (id serial);\n",
            "002_slow_sql": "INSERT INTO counter DEFAULT VALUES;\nSELECT pg_sleep(0.5);\n",
            "003_more_sql": "INSERT INTO counter DEFAULT VALUES;\nSELECT pg_sleep(0.5);\n",
        },
    )
    rounds = [["001_counter.sql", "002_slow.sql"], ["001_counter.sql", "002_slow.sql", "003_more.sql"]]
    for round_, names in enumerate(rounds):  # a fresh database, then a new migration on top
        arguments = plan(root, *(m(n) for n in names))
        procs = [start_driver(shell, database, arguments, root) for shell in SHELLS]
        outputs = [p.communicate(timeout=120) for p in procs]
        results = [Run(p.returncode, out, err) for p, (out, err) in zip(procs, outputs, strict=True)]
        for result in results:
            assert result.code == 0, result.text
        applied = sorted(name for result in results for name in result.applied())
        assert applied == (names if round_ == 0 else ["003_more.sql"])
        assert pg_server.value("SELECT count(*) FROM counter", database) == str(round_ + 1)
        assert versions(pg_server, database) == names
    lock = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = (:key::bigint >> 32)::oid"
    assert pg_server.value(lock, database, {"key": str(LOCK_KEY)}) == "0"  # released with the session


# --- hostile input -------------------------------------------------------------------------


def test_hostile_names_are_data_not_code(start_driver: Start, shell: str, pg_server: PgServer, tmp_path: Path) -> None:
    token = secrets.token_hex(4)
    pwned = Path(f"/tmp/pwned-{token}")
    role = f"o'neil_{token}"
    password = "p@ss:w/rd#1 $x'\""  # pragma: allowlist secret
    db = f'a"b {token}'
    pg_server.create_role(role, password)
    pg_server.create_database(db, owner=role)
    root = tmp_path / f"root $(touch {pwned}) `touch {pwned}`; x"
    names = [
        "001_it's;rm -rf.sql",
        f"002 $(touch pwned-{token}) x.sql",
        "003_x'); DROP TABLE clockwork_migrations; --.sql",
        '004_"quoted" `touch bq` \\back\\slash*?[a].sql',
        "005_:name :'name' %s.sql",
        "006_-n -e.sql",
    ]
    write(root, "schema/schema; $(touch x).sql", "CREATE TABLE seen (name text);\n")
    for name in names:
        write(root, f"mig dir/{name}", f"INSERT INTO seen (name) VALUES ($q${name}$q$);\n")
    steps = [S("schema/schema; $(touch x).sql", kind="schema", version="schema:x")]
    steps += [S(f"mig dir/{name}", version=f"v{i}") for i, name in enumerate(names)]
    try:
        proc = start_driver(shell, db, plan(root, *steps), root, user=role, password=password)
        out, err = proc.communicate(timeout=120)
        result = Run(proc.returncode, out, err)
        assert result.code == 0, result.text
        assert [row[0] for row in pg_server.rows("SELECT name FROM seen", db)] == names
        assert pg_server.value("SELECT tableowner FROM pg_tables WHERE tablename = 'clockwork_migrations'", db) == role
        assert not pwned.exists()
        leftovers = {p.name for p in tmp_path.rglob("*")} & {f"pwned-{token}", "x", "bq"}
        assert not leftovers
    finally:
        pg_server.drop_database(db)
        pg_server.psql('DROP ROLE :"name";', variables={"name": role})


@pytest.mark.parametrize(
    ("argument", "message"),
    [
        ("step versioned tx two\nlines - " + "0" * 64 + " c - migrations/001_a.sql", "control character"),
        ("frobnicate", "unknown plan argument (run clockwork build): frobnicate"),
        ("step versioned tx 001_a.sql", "malformed plan step"),
        ("step versioned tx v - " + "0" * 64 + " c - ../etc/passwd", "unsafe path in the plan"),
        ("set adopt liquibase", "unknown convention to adopt (run clockwork build): liquibase"),
    ],
)
def test_malformed_plans_are_refused_before_connecting(
    driver: Driver, pg_server: PgServer, database: str, root: Path, argument: str, message: str
) -> None:
    files(root, **{"001_a_sql": "CREATE TABLE a (x int);\n"})
    result = driver(database, [*plan(root, m("001_a.sql")), argument])
    assert result.code == 1
    assert message in result.err
    assert not table_exists(pg_server, database, "a")
    assert not table_exists(pg_server, database, MIGRATIONS_TABLE)


# --- connecting ---------------------------------------------------------------------------------


def test_wrong_password_fails_before_any_file(start_driver: Start, database: str, root: Path) -> None:
    files(root, **{"001_a_sql": "CREATE TABLE a (x int);\n"})
    proc = start_driver(
        "dash", database, plan(root, m("001_a.sql")), root, password="wrong"
    )  # pragma: allowlist secret
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1
    assert "password authentication failed" in err
    assert f"{PREFIX}: FAILED before applying any file" in err


def test_unreachable_server_is_retried_briefly_then_reported(script: str, pg_server: PgServer, root: Path) -> None:
    files(root, **{"001_a_sql": "CREATE TABLE a (x int);\n"})
    env = {**pg_server.env("postgres"), "PGPORT": str(_unused_port()), ROOT_ENV: str(root)}
    started = time.monotonic()
    argv = ["dash", "-c", script, LOG_PREFIX, *plan(root, m("001_a.sql"))]
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
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
    for name in ("psql", "pg_isready", "sha256sum", "grep", "mktemp", "rm", "cat", "sleep", "sed", "awk", "mkdir"):
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
        root = tmp_path / f"r{count}"
        try:
            steps = []
            for i in range(count):
                write(
                    root, f"migrations/{i:03d}_t.sql", f"-- migrate:up\nCREATE TABLE t{i} (x int);\n-- migrate:down\n"
                )
                steps.append(m(f"{i:03d}_t.sql", lines=(1, 2)))
            log.write_text("")
            env = {**pg_server.env(db), ROOT_ENV: str(root), "PATH": str(folder)}
            argv = ["/bin/dash", "-c", script, LOG_PREFIX, *plan(root, *steps)]
            proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
            assert proc.returncode == 0, proc.stdout + proc.stderr
            assert len(Run(0, proc.stdout, "").applied()) == count
            calls.append(sorted(log.read_text().split()))
        finally:
            pg_server.drop_database(db)
    assert calls[0] == calls[1]
    assert calls[0].count("psql") == 1
    assert calls[0].count("sha256sum") == 1
    assert len(calls[0]) <= 12, calls[0]
