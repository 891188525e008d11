"""4. Migrator throughput: the driver (one psql session) against one ``psql -f`` per file.

Both run with ``sh`` on the host against a throwaway cluster, each on a fresh database:
the driver as ``clockwork_compose._migrator.render_migrator_script()`` renders it, the
naive way as a shell loop would do it. Then the driver again with nothing pending.
"""

from __future__ import annotations

import statistics
from pathlib import Path

from . import _postgres
from ._proc import BenchError, run
from ._report import Row, skipped
from ._settings import Settings

NAME = "migrator"

NAIVE_LOOP = """set -e
psql -v ON_ERROR_STOP=1 -f "$CLOCKWORK_SCHEMA_FILE"
for f in "$CLOCKWORK_MIGRATIONS_DIR"/*.sql; do psql -v ON_ERROR_STOP=1 -f "$f"; done
"""


def write_migrations(folder: Path, count: int) -> tuple[Path, Path]:
    """A schema file and ``count`` small migrations: a table each, and a few rows in it."""
    migrations = folder / "migrations"
    migrations.mkdir(parents=True, exist_ok=True)
    schema = folder / "schema.sql"
    schema.write_text("CREATE TABLE IF NOT EXISTS base (id serial PRIMARY KEY, name text NOT NULL);\n")
    for i in range(1, count + 1):
        (migrations / f"{i:04d}_t_{i}.sql").write_text(
            f"CREATE TABLE t_{i} (id serial PRIMARY KEY, name text NOT NULL);\n"
            f"INSERT INTO t_{i} (name) VALUES ('a'), ('b'), ('c');\n"
        )
    return schema, migrations


def run_benchmark(settings: Settings) -> list[Row]:
    count = 100 if settings.quick else 1000
    goals = (f"first apply, {count:,} migrations, vs naive psql loop", ">= 5x faster")
    try:
        from clockwork_compose._migrator import render_migrator_script
    except ImportError as exc:
        return [skipped(NAME, goals[0], f"no migrator driver ({exc})", goals[1])]
    why_not = _postgres.missing()
    if why_not:
        return [skipped(NAME, goals[0], why_not, goals[1])]

    folder = settings.scratch / "migrator"
    schema, migrations = write_migrations(folder, count)
    script = folder / "migrate.sh"
    script.write_text(render_migrator_script(), encoding="utf-8")
    files = {"CLOCKWORK_SCHEMA_FILE": str(schema), "CLOCKWORK_MIGRATIONS_DIR": str(migrations)}
    reps = 1 if settings.quick else 3
    with _postgres.cluster() as pg:
        first, rerun, naive = [], [], []
        for rep in range(reps):
            db = f"driver_{rep}"
            pg.create_database(db)
            first.append(run(["sh", str(script)], env={**pg.env(db), **files}, cwd=folder).seconds)
            _check_applied(pg, db, count)
            rerun.append(run(["sh", str(script)], env={**pg.env(db), **files}, cwd=folder).seconds)
            _check_applied(pg, db, count)
        for rep in range(1 if settings.quick else 2):
            db = f"naive_{rep}"
            pg.create_database(db)
            naive.append(run(["sh", "-c", NAIVE_LOOP], env={**pg.env(db), **files}, cwd=folder).seconds)
            _check_tables(pg, db, count)
    ours, theirs = statistics.median(first), statistics.median(naive)
    again = statistics.median(rerun)
    return [
        Row(
            NAME,
            goals[0],
            ours,
            theirs,
            ratio=theirs / ours,
            goal=goals[1],
            met=theirs / ours >= 5,
            note="ratio = naive / driver (higher is better)",
            samples={"driver": first, "naive": naive},
        ),
        Row(
            NAME,
            f"rerun, nothing pending ({count:,} applied)",
            again,
            goal="< 1 s",
            met=again < 1,
            samples={"driver": rerun},
        ),
    ]


def _check_tables(pg: _postgres.Cluster, db: str, count: int) -> None:
    tables = int(pg.sql(db, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename LIKE 't\\_%'"))
    if tables != count:
        raise BenchError(f"{db}: expected {count} migration tables, found {tables}")


def _check_applied(pg: _postgres.Cluster, db: str, count: int) -> None:
    _check_tables(pg, db, count)
    recorded = int(pg.sql(db, "SELECT count(*) FROM clockwork_migrations"))
    if recorded != count + 1:  # the migrations and the schema file
        raise BenchError(f"{db}: expected {count + 1} rows in clockwork_migrations, found {recorded}")
