"""4. Migrator throughput: the driver (one psql session) against one ``psql -f`` per file.

Three layouts of the same migrations: clockwork's plain sorted files, golang-migrate
(unpadded ``<n>_x.up.sql`` with a ``.down.sql`` beside each) and Flyway (``V<n>__x.sql``).
Each is planned as ``clockwork build`` plans it (``_migrations.plan_for``, not timed) and
run with ``sh`` on the host against a throwaway cluster, each on a fresh database: the
driver as ``clockwork_compose._migrator.render_migrator_script()`` renders it, given the
plan as its arguments, and the naive way, a shell loop running psql once per file of the
plan, in the plan's order. Then the driver again with nothing pending.
"""

from __future__ import annotations

import statistics
from pathlib import Path

from . import _postgres
from ._proc import BenchError, run
from ._report import Row, skipped
from ._settings import Settings

NAME = "migrator"

#: One psql per file, in the plan's order (the file ``files`` lists one path a line).
NAIVE_LOOP = """set -e
while IFS= read -r f; do psql -X -q -v ON_ERROR_STOP=1 -f "$f"; done < files
"""

LAYOUTS = ("plain", "golang-migrate", "flyway")


def _name(layout: str, i: int) -> list[tuple[str, str]]:
    """File names (and what they hold: up or down) of migration ``i`` in a layout."""
    if layout == "golang-migrate":
        return [(f"{i}_t_{i}.up.sql", "up"), (f"{i}_t_{i}.down.sql", "down")]
    if layout == "flyway":
        return [(f"V{i}__t_{i}.sql", "up")]
    return [(f"{i:04d}_t_{i}.sql", "up")]


def write_migrations(root: Path, count: int, layout: str = "plain") -> tuple[Path, Path]:
    """A schema file and ``count`` small migrations under ``root`` (the driver's root):
    a table each, and a few rows in it."""
    migrations = root / "migrations"
    migrations.mkdir(parents=True, exist_ok=True)
    schema = root / "schema" / "schema.sql"
    schema.parent.mkdir(parents=True, exist_ok=True)
    schema.write_text("CREATE TABLE IF NOT EXISTS base (id serial PRIMARY KEY, name text NOT NULL);\n")
    for i in range(1, count + 1):
        for name, part in _name(layout, i):
            if part == "down":
                text = f"DROP TABLE t_{i};\n"
            else:
                text = (
                    f"CREATE TABLE t_{i} (id serial PRIMARY KEY, name text NOT NULL);\n"
                    f"INSERT INTO t_{i} (name) VALUES ('a'), ('b'), ('c');\n"
                )
            (migrations / name).write_text(text)
    return schema, migrations


def run_benchmark(settings: Settings) -> list[Row]:
    count = 100 if settings.quick else 1000
    goal = ">= 5x faster"
    first_label = f"first apply, {count:,} migrations, vs naive psql loop"
    try:
        from clockwork_compose._migrations import plan_for
        from clockwork_compose._migrator import LOG_PREFIX, ROOT_ENV, render_migrator_script
    except ImportError as exc:
        return [skipped(NAME, first_label, f"no migrator driver ({exc})", goal)]
    why_not = _postgres.missing()
    if why_not:
        return [skipped(NAME, first_label, why_not, goal)]

    rows: list[Row] = []
    script = render_migrator_script()
    with _postgres.cluster() as pg:
        for layout in LAYOUTS:
            root = settings.scratch / "migrator" / layout
            schema, migrations = write_migrations(root, count, layout)
            plan = plan_for(migrations, schema)
            if plan.convention != layout or len(plan.steps) != count + 1:
                raise BenchError(f"{layout}: planned as {plan.convention} with {len(plan.steps)} steps")
            (root / "files").write_text("".join(f"{root / step.path}\n" for step in plan.steps))
            driver = ["sh", "-c", script, LOG_PREFIX, *plan.arguments()]
            environment = {ROOT_ENV: str(root)}
            reps = 1 if settings.quick else 3
            first, rerun, naive = [], [], []
            for rep in range(reps):
                db = f"driver_{layout.replace('-', '_')}_{rep}"
                pg.create_database(db)
                first.append(run(driver, env={**pg.env(db), **environment}, cwd=root).seconds)
                _check_applied(pg, db, count)
                rerun.append(run(driver, env={**pg.env(db), **environment}, cwd=root).seconds)
                _check_applied(pg, db, count)
                _drop(pg, db)
            # the naive loop takes a minute per 1,000 files: twice for the plain layout, once for the others
            for rep in range(1 if settings.quick or layout != "plain" else 2):
                db = f"naive_{layout.replace('-', '_')}_{rep}"
                pg.create_database(db)
                naive.append(run(["sh", "-c", NAIVE_LOOP], env=pg.env(db), cwd=root).seconds)
                _check_tables(pg, db, count)
                _drop(pg, db)
            ours, theirs = statistics.median(first), statistics.median(naive)
            again = statistics.median(rerun)
            suffix = "" if layout == "plain" else f" ({layout} layout)"
            rows += [
                Row(
                    NAME,
                    first_label + suffix,
                    ours,
                    theirs,
                    ratio=theirs / ours,
                    goal=goal,
                    met=theirs / ours >= 5,
                    note="ratio = naive / driver (higher is better)",
                    samples={"driver": first, "naive": naive},
                ),
                Row(
                    NAME,
                    f"rerun, nothing pending ({count:,} applied){suffix}",
                    again,
                    goal="< 1 s",
                    met=again < 1,
                    samples={"driver": rerun},
                ),
            ]
    return rows


def _drop(pg: _postgres.Cluster, db: str) -> None:
    """Checked databases go at once: a dozen databases of 1,000 tables each make the
    cluster's shutdown checkpoint outlast its stop timeout on a loaded machine."""
    pg.sql("postgres", f'DROP DATABASE "{db}"')


def _check_tables(pg: _postgres.Cluster, db: str, count: int) -> None:
    tables = int(pg.sql(db, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename LIKE 't\\_%'"))
    if tables != count:
        raise BenchError(f"{db}: expected {count} migration tables, found {tables}")


def _check_applied(pg: _postgres.Cluster, db: str, count: int) -> None:
    _check_tables(pg, db, count)
    recorded = int(pg.sql(db, "SELECT count(*) FROM clockwork_migrations"))
    if recorded != count + 1:  # the migrations and the schema file
        raise BenchError(f"{db}: expected {count + 1} rows in clockwork_migrations, found {recorded}")
