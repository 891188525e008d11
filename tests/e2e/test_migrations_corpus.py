"""Real projects' migration folders (tests/data/migrations), applied through clockwork on a
real engine, give the database their own tool gives.

One clockwork project holds one PostgreSQL resource per corpus folder (a database has one
migrations folder, so they cannot share a container) and one consumer connected to all of
them: one ``clockwork apply`` migrates them all. Then, in each container, a second database
gets the same files applied by a reference runner written here, independently of
clockwork's planner, in the convention's own order (psql with ON_ERROR_STOP, one
transaction per version, up sections only; the files' own markers for no-transaction), and
the two databases are compared: ``pg_dump --schema-only`` (normalised) and row counts. A
second apply applies nothing.

Names: containers ``mig-*``, host ports 15600-15699, a project folder of its own; all of it
is removed afterwards, even on failure.
"""

from __future__ import annotations

import fcntl
import os
import re
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import engine_support
import pytest
from e2e_support import REPO, clockwork

pytestmark = pytest.mark.e2e

CORPUS = REPO / "tests" / "data" / "migrations"
FOLDERS = sorted(p.name for p in CORPUS.iterdir() if p.is_dir())
FIRST_PORT = 15600
USER = "admin"
PASSWORD = "corpus-pw"  # pragma: allowlist secret
APP_DB = "appdb"
REFERENCE_DB = "reference"
#: The project's containers (fixed names, all ``mig-``), removed before and after.
CONTAINERS = (
    "mig-corpus-app",
    *(f"mig-corpus-db{i}" for i in range(len(FOLDERS))),
    *(f"mig-corpus-db{i}-migrator" for i in range(len(FOLDERS))),
)
#: Held while the corpus project exists: its container names and host ports are fixed.
LOCK = Path("/tmp/clockwork-e2e-mig-corpus.lock")
PSQL_BIN = Path(os.environ.get("CLOCKWORK_PG_BIN", "/usr/lib/postgresql/15/bin"))


def _tool(name: str) -> str:
    found = shutil.which(name, path=f"{PSQL_BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    if found is None:
        pytest.fail(f"no {name} on this machine (apt-get install -y postgresql-client-15)", pytrace=False)
    return found


MAIN_PY = """
from clockwork_compose import DatabaseConnection, DockerResource

FOLDERS = {folders!r}

app = DockerResource(description="Consumer of every corpus database", name="mig-corpus-app", image="redis:7-alpine")
for i, folder in enumerate(FOLDERS):
    db = DockerResource(
        description=f"PostgreSQL for the corpus folder {{folder}}",
        name=f"mig-corpus-db{{i}}",
        image="postgres:15-alpine",
        ports=[f"{{{first_port} + i}}:5432"],
        env_vars={{"POSTGRES_DB": "{db}", "POSTGRES_USER": "{user}", "POSTGRES_PASSWORD": "{password}"}},
    )
    app.connect(
        DatabaseConnection(
            to_resource=db,
            connection_string_template="postgresql://{{user}}:{{password}}@{{host}}:{{port}}/{{database}}",
            username="{user}",
            password="{password}",
            database_name="{db}",
            env_var_name=f"DB{{i}}_URL",
            wait_for_ready=True,
            timeout=120,
            migrations_dir=f"{{folder}}/",
        )
    )
"""


@dataclass(frozen=True)
class Corpus:
    dir: Path
    first: object  # the first apply's Run
    second: object  # the second apply's Run
    records: dict[str, str]  # each folder's clockwork_migrations after the first apply

    def port(self, folder: str) -> int:
        return FIRST_PORT + FOLDERS.index(folder)


def env(port: int, database: str) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("PG")},
        "PGHOST": "127.0.0.1",
        "PGPORT": str(port),
        "PGUSER": USER,
        "PGPASSWORD": PASSWORD,
        "PGDATABASE": database,
        "PGCONNECT_TIMEOUT": "10",
    }


def psql(port: int, database: str, sql: str) -> str:
    proc = subprocess.run(
        [_tool("psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql],
        env=env(port, database),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.fixture(scope="module")
def corpus() -> Iterator[Corpus]:
    """Every corpus folder in one project, applied twice; removed afterwards."""
    with LOCK.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield from _corpus()
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _corpus() -> Iterator[Corpus]:
    home = Path(tempfile.mkdtemp(prefix="clockwork-mig-"))
    project = home / f"mig-corpus-{secrets.token_hex(4)}"
    project.mkdir()
    for folder in FOLDERS:
        shutil.copytree(CORPUS / folder, project / folder)
    (project / "main.py").write_text(
        MAIN_PY.format(folders=FOLDERS, first_port=FIRST_PORT, db=APP_DB, user=USER, password=PASSWORD),
        encoding="utf-8",
    )
    engine_support.remove_leftovers(containers=CONTAINERS)  # a run killed before its clean-up
    try:
        first = clockwork("apply", cwd=project)
        records = {folder: _records(FIRST_PORT + i) for i, folder in enumerate(FOLDERS)}
        second = clockwork("apply", cwd=project)
        yield Corpus(project, first, second, records)
    finally:
        clockwork("destroy", cwd=project)
        engine_support.remove_leftovers(containers=CONTAINERS, projects=(_project_name(project),))
        shutil.rmtree(home, ignore_errors=True)


def _records(port: int) -> str:
    """clockwork_migrations as text ("" when the database or the table is not there)."""
    sql = "SELECT version, checksum, applied_at FROM clockwork_migrations ORDER BY version"
    proc = subprocess.run(
        [_tool("psql"), "-X", "-q", "-A", "-t", "-c", sql],
        env=env(port, APP_DB),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return proc.stdout if proc.returncode == 0 else ""


def _project_name(project: Path) -> str:
    from clockwork_compose._lower import project_name

    return project_name(project)


# --- the reference runner: each convention's own order, written here from its docs --------------


@dataclass(frozen=True)
class Ref:
    """One version as its tool runs it: the SQL text, in a transaction or not, from a folder."""

    name: str
    sql: str
    transaction: bool


#: Statements PostgreSQL refuses inside a transaction block: a tool that sends the file as
#: one query string (golang-migrate, Flyway) runs such a file outside one.
NO_TRANSACTION = re.compile(
    r"\b(CREATE|DROP|REINDEX)\s+(UNIQUE\s+)?INDEX\s+CONCURRENTLY\b|^\s*VACUUM\b|\bALTER\s+SYSTEM\b|"
    r"\bCREATE\s+DATABASE\b|\bALTER\s+TYPE\s+\S+\s+ADD\s+VALUE\b",
    re.IGNORECASE | re.MULTILINE,
)


def _plain_ref(path: Path) -> Ref:
    text = path.read_text()
    return Ref(path.name, text, NO_TRANSACTION.search(text) is None)


def _number(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.split(r"[._]", text))


def _between(text: str, start: str, stop: str) -> str:
    lines = text.splitlines(keepends=True)
    begin = next(i for i, line in enumerate(lines) if line.strip().lower().startswith(start))
    end = next((i for i in range(begin + 1, len(lines)) if lines[i].strip().lower().startswith(stop)), len(lines))
    return "".join(lines[begin + 1 : end])


def reference_plan(folder: Path) -> tuple[list[Ref], Path]:
    convention = folder.name.split("-")[0]
    sql = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix == ".sql")
    if convention == "golang":  # golang-migrate: <version>_<name>.up.sql, numeric order
        ups = sorted((p for p in sql if p.name.endswith(".up.sql")), key=lambda p: int(p.name.split("_")[0]))
        return [_plain_ref(p) for p in ups], folder
    if convention == "flyway":  # V<dotted>__ in version order, then R__ by description
        versioned = sorted((p for p in sql if p.name.startswith("V")), key=lambda p: _number(p.name[1:].split("__")[0]))
        repeatable = sorted(p for p in sql if p.name.startswith("R__"))
        return [_plain_ref(p) for p in [*versioned, *repeatable]], folder
    if convention == "dbmate":  # -- migrate:up section; transaction:false opts out
        refs = []
        for p in sorted(sql, key=lambda p: int(p.name.split("_")[0])):
            text = p.read_text()
            header = next(line for line in text.splitlines() if line.strip().startswith("-- migrate:up"))
            refs.append(
                Ref(p.name, _between(text, "-- migrate:up", "-- migrate:down"), "transaction:false" not in header)
            )
        return refs, folder
    if convention == "goose":  # -- +goose Up section; -- +goose NO TRANSACTION opts out
        refs = []
        for p in sorted(sql, key=lambda p: int(p.name.split("_")[0])):
            text = p.read_text()
            notx = any(line.strip().upper() == "-- +GOOSE NO TRANSACTION" for line in text.splitlines())
            refs.append(Ref(p.name, _between(text, "-- +goose up", "-- +goose down"), not notx))
        return refs, folder
    if convention in ("timestamp", "plain"):  # sqlx: the leading number, numerically
        return [_plain_ref(p) for p in sorted(sql, key=lambda p: int(p.name.split("_")[0]))], folder
    if convention == "sqitch":  # sqitch.plan order; a reworked change's earlier script is name@<tag>
        lines = (folder / "sqitch.plan").read_text().splitlines()
        entries = [line.split()[0] for line in lines if line.strip() and not line.startswith(("%", "#"))]
        refs = []
        for i, entry in enumerate(entries):
            if entry.startswith("@"):
                continue
            script = f"{entry}.sql"
            if entry in entries[i + 1 :]:  # reworked later: the copy is named after the last tag before the rework
                rework = entries.index(entry, i + 1)
                tag = [e for e in entries[i + 1 : rework] if e.startswith("@")][-1]
                script = f"{entry}{tag}.sql"
            refs.append(Ref(entry, (folder / "deploy" / script).read_text(), False))  # scripts BEGIN/COMMIT
        return refs, folder
    raise AssertionError(f"no reference runner for {folder.name}")


def run_reference(folder: Path, port: int) -> None:
    psql(port, "postgres", f'DROP DATABASE IF EXISTS "{REFERENCE_DB}"')
    psql(port, "postgres", f'CREATE DATABASE "{REFERENCE_DB}"')
    refs, cwd = reference_plan(folder)
    with tempfile.TemporaryDirectory(prefix="clockwork-mig-ref-") as scratch:
        for i, ref in enumerate(refs):
            path = Path(scratch) / f"{i:04d}.sql"
            path.write_text(ref.sql, encoding="utf-8")
            argv = [
                _tool("psql"),
                "-X",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                *(["-1"] if ref.transaction else []),
                "-f",
                str(path),
            ]
            proc = subprocess.run(
                argv, cwd=cwd, env=env(port, REFERENCE_DB), capture_output=True, text=True, timeout=120, check=False
            )
            assert proc.returncode == 0, f"reference runner failed on {folder.name}/{ref.name}: {proc.stderr}"


def schema_dump(port: int, database: str) -> list[str]:
    proc = subprocess.run(
        [_tool("pg_dump"), "--schema-only", "--no-owner", "--no-privileges", "-T", "public.clockwork_migrations"],
        env=env(port, database),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return [
        line
        for line in proc.stdout.splitlines()
        if line.strip() and not line.startswith(("--", "\\restrict", "\\unrestrict"))
    ]


def row_counts(port: int, database: str) -> dict[str, int]:
    tables = psql(
        port,
        database,
        "SELECT format('%I.%I', schemaname, tablename) FROM pg_tables "
        "WHERE schemaname NOT IN ('pg_catalog', 'information_schema') AND tablename <> 'clockwork_migrations'",
    ).split()
    return {t: int(psql(port, database, f"SELECT count(*) FROM {t}")) for t in sorted(tables)}


# --- the checks -----------------------------------------------------------------------------


def test_the_corpus_applies(corpus: Corpus) -> None:
    assert corpus.first.code == 0, corpus.first.text  # type: ignore[attr-defined]


@pytest.mark.parametrize("folder", FOLDERS)
def test_clockwork_gives_the_database_the_tool_gives(corpus: Corpus, folder: str) -> None:
    assert corpus.records[folder], f"{folder} was not migrated: {corpus.first.text}"  # type: ignore[attr-defined]
    port = corpus.port(folder)
    run_reference(CORPUS / folder, port)
    ours, theirs = schema_dump(port, APP_DB), schema_dump(port, REFERENCE_DB)
    assert any(line.startswith("CREATE TABLE") for line in theirs), theirs
    assert ours == theirs
    assert row_counts(port, APP_DB) == row_counts(port, REFERENCE_DB)
    recorded = int(psql(port, APP_DB, "SELECT count(*) FROM clockwork_migrations"))
    assert recorded == len(reference_plan(CORPUS / folder)[0])


def test_a_second_apply_applies_nothing(corpus: Corpus) -> None:
    assert corpus.second.code == 0, corpus.second.text  # type: ignore[attr-defined]
    for folder in FOLDERS:
        assert corpus.records[folder], folder
        assert _records(corpus.port(folder)) == corpus.records[folder], folder  # same rows, same applied_at
