"""The MariaDB migrator driver (templates/migrator-mariadb.sh.j2) against a real MariaDB server
on the host (Debian's mariadb-server, started by the ``mariadb_server`` plugin): no Docker.

The rendered script runs under /bin/sh as the migrator service runs it, ``sh -c <script>
clockwork-migrate <plan argument>...``, with the host's ``mariadb`` client and the files
under ``CLOCKWORK_ROOT``. Plans come from ``_migrations.plan_for(..., engine="mariadb")``:
what ``clockwork build`` would write, read by MariaDB's own lexer.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

pytest.register_assert_rewrite("mariadb_server")

from mariadb_server import Database, MariaDBServer  # noqa: E402

from clockwork_compose import _api  # noqa: E402
from clockwork_compose._engines.postgres_lexer import DIALECT as PSQL  # noqa: E402
from clockwork_compose._migrations import plan_for  # noqa: E402
from clockwork_compose._migrator import LOG_PREFIX, ROOT_ENV, render_migrator_script  # noqa: E402
from clockwork_compose._targets.kubernetes import emit as kubernetes  # noqa: E402

pytest_plugins = ["mariadb_server"]

DATA = Path(__file__).parent / "data" / "mariadb"
TABLE = "clockwork_migrations"


@dataclass
class Run:
    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err

    def applied(self) -> list[str]:
        return re.findall(rf"^{LOG_PREFIX}: applied (.*)$", self.out, re.MULTILINE)

    def errors(self) -> list[str]:
        return re.findall(rf"^{LOG_PREFIX}: ERROR: (.*)$", self.err, re.MULTILINE)


Driver = Callable[[list[str]], Run]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """The migrator's mount: schema/ and migrations/ (a copy of tests/data/mariadb)."""
    folder = tmp_path / "clockwork"
    shutil.copytree(DATA / "migrations", folder / "migrations")
    (folder / "schema").mkdir()
    shutil.copy(DATA / "schema.sql", folder / "schema" / "schema.sql")
    return folder


@pytest.fixture
def driver(mariadb_server: MariaDBServer, mariadb_database: Database, root: Path) -> Driver:
    script = render_migrator_script("mariadb")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("MYSQL")},
        "MYSQL_HOST": mariadb_server.host,
        "MYSQL_TCP_PORT": str(mariadb_server.port),
        "MYSQL_USER": mariadb_database.user,
        "MYSQL_PWD": mariadb_database.password,
        "MYSQL_DATABASE": mariadb_database.name,
        ROOT_ENV: str(root),
    }

    def run(arguments: list[str]) -> Run:
        proc = subprocess.run(
            ["sh", "-c", script, LOG_PREFIX, *arguments], capture_output=True, text=True, env=env, timeout=120
        )
        return Run(proc.returncode, proc.stdout, proc.stderr)

    return run


def planned(root: Path, schema: bool = True) -> list[str]:
    """The plan build makes for the mount's files."""
    schema_file = root / "schema" / "schema.sql" if schema else None
    return plan_for(root / "migrations", schema_file, engine="mariadb").arguments()


def history(server: MariaDBServer, db: Database) -> dict[str, tuple[str, str]]:
    rows = server.rows(f"SELECT version, state, checksum FROM {TABLE}", db.name)
    return {version: (state, checksum) for version, state, checksum in rows}


def test_mysql_syntax_applies_as_the_client_reads_it(
    driver: Driver, mariadb_server: MariaDBServer, mariadb_database: Database, root: Path
) -> None:
    """`#` and `-- ` comments, `--1` that is no comment, backticked o'brien, '' and \\' in
    strings, /*! */ bodies run and /* */ ones not, a procedure and a trigger in DELIMITER
    blocks: each file applies whole, and its record holds the checksum build computed."""
    arguments = planned(root)
    result = driver(arguments)
    assert result.code == 0, result.text
    assert result.applied() == ["schema:schema.sql", "001_people.sql", "002_executable.sql", "003_routines.sql"]

    db = mariadb_database.name
    # 3--1 is 4; add_person (the procedure, called by 003) counted one more.
    assert mariadb_server.rows("SELECT n FROM counts", db) == [("5",)]
    assert mariadb_server.rows("SELECT name, motto, COALESCE(nick, '-') FROM `o'brien` ORDER BY id", db) == [
        ("o'brien", "it's; fine", "-"),
        ("d'arcy", "it's; fine", "-"),
        ("o'malley", "it's; fine", "o'm"),  # the trigger set nick
    ]
    columns = [c for (c, *_) in mariadb_server.rows("SHOW COLUMNS FROM `o'brien`", db)]
    assert "nick" in columns and "never_added" not in columns  # /*!50003 ... */ ran, /* ... */ did not
    assert mariadb_server.rows(f"SHOW PROCEDURE STATUS WHERE Db = '{db}'", db)[0][1] == "add_person"
    assert [t[0] for t in mariadb_server.rows("SHOW TRIGGERS", db)] == ["o'brien_nick"]

    recorded = history(mariadb_server, mariadb_database)
    for argument in arguments:
        fields = argument.split()
        assert recorded[fields[3]] == ("applied", fields[6].split(",")[0])

    again = driver(arguments)
    assert again.code == 0, again.text
    assert again.applied() == [] and "done: 0 applied, 0 adopted, 4 already applied, 4 in the plan" in again.out
    assert mariadb_server.rows("SELECT n FROM counts", db) == [("5",)]


def test_a_file_that_leaves_another_delimiter_set_does_not_swallow_the_next(
    driver: Driver, mariadb_server: MariaDBServer, mariadb_database: Database, root: Path
) -> None:
    for path in (root / "migrations").iterdir():
        path.unlink()
    (root / "migrations" / "001_proc.sql").write_text(
        "DELIMITER //\nCREATE PROCEDURE p() BEGIN SELECT 1; END //\n"  # no DELIMITER ; after it
    )
    (root / "migrations" / "002_table.sql").write_text(
        "CREATE TABLE after_p (id INT);\nINSERT INTO after_p VALUES (1);\n"
    )
    result = driver(planned(root, schema=False))
    assert result.code == 0, result.text
    assert result.applied() == ["001_proc.sql", "002_table.sql"]
    assert mariadb_server.rows("SELECT id FROM after_p", mariadb_database.name) == [("1",)]
    assert {state for state, _ in history(mariadb_server, mariadb_database).values()} == {"applied"}


def test_an_empty_plan_after_applied_files_is_refused_and_names_them(
    driver: Driver, mariadb_server: MariaDBServer, mariadb_database: Database, root: Path
) -> None:
    """Every file deleted (the migrations folder is empty, so is the plan): the records of
    the applied ones are refused by name, not forgotten."""
    assert driver(planned(root)).code == 0
    result = driver([])
    assert result.code == 1, result.text
    assert result.errors() == [
        *(
            f"applied migration {name} is missing from the migrations folder: restore it "
            "(clockwork never undoes an applied migration)"
            for name in ("001_people.sql", "002_executable.sql", "003_routines.sql")
        ),
        "applied schema file schema.sql is missing: restore it (clockwork never undoes an applied file)",
    ]
    assert f"{LOG_PREFIX}: nothing was applied: 4 problem(s) above" in result.err
    assert len(history(mariadb_server, mariadb_database)) == 4


def test_an_empty_plan_on_a_fresh_database_is_nothing_to_do_and_creates_nothing(
    driver: Driver, mariadb_server: MariaDBServer, mariadb_database: Database
) -> None:
    result = driver([])
    assert result.code == 0, result.text
    assert f"{LOG_PREFIX}: nothing to apply (the plan is empty)" in result.out
    assert mariadb_server.rows("SHOW TABLES", mariadb_database.name) == []


MAIN = """\
from clockwork_compose import DatabaseConnection, DockerResource
db = DockerResource(name="db", image="mariadb:11", env_vars={"MARIADB_ROOT_PASSWORD": "pw"})
app = DockerResource(name="app", image="nginx:alpine")
app.connect(DatabaseConnection(to_resource=db, migrations_dir="clockwork/migrations"))
"""


def test_a_file_applied_when_psql_s_lexer_read_it_stays_applied(
    driver: Driver, mariadb_server: MariaDBServer, mariadb_database: Database, root: Path
) -> None:
    """An earlier clockwork recorded psql's checksum of a MariaDB file (its `#` comment kept,
    its /*! */ body dropped): the file is not "changed after it was applied"; a record with
    another checksum still is."""
    for path in (root / "migrations").iterdir():
        path.unlink()
    text = "# created by an earlier clockwork\nCREATE TABLE old (id INT);\n/*!40101 SET @x = 1 */;\n"
    (root / "migrations" / "001_old.sql").write_text(text)
    mariadb_server.sql(
        f"CREATE TABLE {TABLE} (version VARCHAR(255) NOT NULL PRIMARY KEY, checksum VARCHAR(128) NOT NULL,"
        " applied_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6), note TEXT NULL,"
        " state VARCHAR(16) NOT NULL DEFAULT 'applied');"
        f"INSERT INTO {TABLE} (version, checksum) VALUES ('001_old.sql', '{PSQL.checksum(text)}');",
        mariadb_database.name,
    )
    arguments = planned(root, schema=False)
    assert "," in arguments[-1].split()[6]  # today's checksum, then psql's
    result = driver(arguments)
    assert result.code == 0, result.text
    assert result.applied() == [] and "1 already applied" in result.out

    # A Kubernetes wait for this plan counts the file as applied too.
    (root.parent / "main.py").write_text(MAIN)
    model, _, _ = _api.compile_project(root.parent, target="kubernetes")
    wait = kubernetes.wait_sql(model.services["db-migrator"])
    assert mariadb_server.sql(wait, mariadb_database.name).strip() == "0"

    mariadb_server.sql(f"UPDATE {TABLE} SET checksum = 'something-else'", mariadb_database.name)
    assert mariadb_server.sql(wait, mariadb_database.name).strip() == "1"
    refused = driver(arguments)
    assert refused.code == 1
    assert refused.errors() == [
        "001_old.sql changed after it was applied: restore it, and put the change in a new migration"
    ]


def test_a_failing_file_is_recorded_failed_and_refused_until_cleared(
    driver: Driver, mariadb_server: MariaDBServer, mariadb_database: Database, root: Path
) -> None:
    (root / "migrations" / "004_bad.sql").write_text(
        "# it's the bad one\nCREATE TABLE half (id INT);\nSELEC nonsense;\nCREATE TABLE never (id INT);\n"
    )
    result = driver(planned(root))
    assert result.code == 1
    assert "FAILED 004_bad.sql: ERROR 1064" in result.err, result.text
    assert history(mariadb_server, mariadb_database)["004_bad.sql"][0] == "failed"
    tables = {t for (t,) in mariadb_server.rows("SHOW TABLES", mariadb_database.name)}
    assert "half" in tables and "never" not in tables
    again = driver(planned(root))
    assert again.code == 1
    assert "004_bad.sql is failed since an earlier apply" in again.err
