"""4b. Migrator throughput on MariaDB: the driver (one client session holding GET_LOCK)
against one ``mariadb`` client call per file.

The same plain migrations as the postgres rows (``migrator.write_migrations``; ``serial``
and ``text`` are MariaDB types too), planned by ``_migrations.plan_for``, run inside a
throwaway ``mariadb:11`` container (its data on tmpfs, no host port) with ``docker exec``:
the driver as ``render_migrator_script("mariadb")`` renders it, and the naive way, a shell
loop running the client once per file of the plan. Both pay one ``docker exec``. Then the
driver again with nothing pending.
"""

from __future__ import annotations

import os
import shutil
import statistics
import time

from . import migrator
from ._proc import BenchError, run
from ._report import Row, skipped
from ._settings import Settings

NAME = "migrator"
IMAGE = "mariadb:11"
PASSWORD = "bench"  # pragma: allowlist secret
#: One client call per file, in the plan's order (``/bench/files`` lists one path a line).
NAIVE_LOOP = """set -e
while IFS= read -r f; do mariadb --protocol=tcp -h 127.0.0.1 -u root --database="$DB" < "$f"; done < /bench/files
"""


def run_benchmark(settings: Settings) -> list[Row]:
    count = 100 if settings.quick else 1000
    goal = ">= 5x faster"
    label = f"first apply, {count:,} migrations, MariaDB, vs naive mariadb loop"
    try:
        from clockwork_compose._migrations import plan_for
        from clockwork_compose._migrator import LOG_PREFIX, ROOT_ENV, render_migrator_script
    except ImportError as exc:
        return [skipped(NAME, label, f"no migrator driver ({exc})", goal)]
    if shutil.which("docker") is None or run(["docker", "image", "inspect", IMAGE], check=False).returncode:
        return [skipped(NAME, label, f"no docker or no {IMAGE} image (scripts/build-test-images.sh)", goal)]
    root = settings.scratch / "migrator-mariadb"
    schema, migrations = migrator.write_migrations(root, count)
    plan = plan_for(migrations, schema, engine="mariadb")
    (root / "files").write_text("".join(f"/bench/{step.path}\n" for step in plan.steps))
    script = render_migrator_script("mariadb")
    container = f"eng-bench-mariadb-{os.getpid()}"
    run(
        [
            "docker",
            "run",
            "-d",
            "--name",
            container,
            "--tmpfs",
            "/var/lib/mysql",
            "-e",
            f"MARIADB_ROOT_PASSWORD={PASSWORD}",
            IMAGE,
        ]
    )
    try:
        _wait_ready(container)
        run(["docker", "cp", str(root), f"{container}:/bench"])
        first, rerun, naive = [], [], []
        for rep in range(1 if settings.quick else 3):
            db = f"driver_{rep}"
            _sql(container, f"CREATE DATABASE {db}")
            env = ["-e", "MYSQL_HOST=127.0.0.1", "-e", "MYSQL_USER=root", "-e", f"MYSQL_PWD={PASSWORD}"]
            env += ["-e", f"MYSQL_DATABASE={db}", "-e", f"{ROOT_ENV}=/bench"]
            driver = ["docker", "exec", *env, container, "sh", "-c", script, LOG_PREFIX, *plan.arguments()]
            first.append(run(driver).seconds)
            _check(container, db, count, recorded=True)
            rerun.append(run(driver).seconds)
            _check(container, db, count, recorded=True)
        for rep in range(1 if settings.quick else 2):
            db = f"naive_{rep}"
            _sql(container, f"CREATE DATABASE {db}")
            env = ["-e", f"MYSQL_PWD={PASSWORD}", "-e", f"DB={db}"]
            naive.append(run(["docker", "exec", *env, container, "sh", "-c", NAIVE_LOOP]).seconds)
            _check(container, db, count, recorded=False)
    finally:
        run(["docker", "rm", "-f", "--volumes", container], check=False)
    ours, theirs, again = statistics.median(first), statistics.median(naive), statistics.median(rerun)
    return [
        Row(
            NAME,
            label,
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
            f"rerun, nothing pending ({count:,} applied), MariaDB",
            again,
            goal="< 1 s",
            met=again < 1,
            samples={"driver": rerun},
        ),
    ]


def _sql(container: str, sql: str) -> str:
    argv = ["docker", "exec", "-e", f"MYSQL_PWD={PASSWORD}", container]
    return run([*argv, "mariadb", "-uroot", "--batch", "--skip-column-names", "-e", sql]).stdout.strip()


def _wait_ready(container: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    ping = ["docker", "exec", container, "mariadb-admin", "ping", "-h", "127.0.0.1", "--protocol=tcp", "--silent"]
    while run(ping, check=False).returncode != 0:
        if time.monotonic() > deadline:
            raise BenchError(f"{container}: MariaDB not ready after {timeout:.0f} s")
        time.sleep(0.5)


def _check(container: str, db: str, count: int, *, recorded: bool) -> None:
    tables = int(
        _sql(
            container,
            f"SELECT count(*) FROM information_schema.tables WHERE table_schema = '{db}' AND table_name LIKE 't\\_%'",
        )
    )
    if tables != count:
        raise BenchError(f"{db}: expected {count} migration tables, found {tables}")
    if recorded:
        rows = int(_sql(container, f"SELECT count(*) FROM {db}.clockwork_migrations WHERE state = 'applied'"))
        if rows != count + 1:
            raise BenchError(f"{db}: expected {count + 1} applied rows in clockwork_migrations, found {rows}")
