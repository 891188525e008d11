"""8. Snapshots: `clockwork apply --snapshot` and `clockwork restore` of a ~100 MB PostgreSQL
database (10 MB with --quick).

A project (folder ``cw-snap-bench``, host port 15450, image ``postgres:15-alpine``) is
applied with one migration creating table ``big``; ``generate_series`` then fills it to the
size (rows of an id and 100 characters). A second migration is added and applied with
``--snapshot``: the row is the dump's own time as apply reports it, next to a plain
``pg_dump --format=custom`` through ``docker exec`` into the container's /tmp (the
yardstick). Then `clockwork restore --discard-newer`: the drop, recreate and load as
restore reports it, and the whole command (apps stopped and started, the assert checks).
The table's rows are counted after the restore. `clockwork destroy` removes it all.
"""

from __future__ import annotations

import re
import shutil

from ._proc import BenchError, clockwork, run
from ._report import Row, skipped
from ._settings import Settings

NAME = "snapshot"
IMAGE = "postgres:15-alpine"
PORT = 15450
CONTAINER = "cw-snap-bench-db"
MAIN = f"""\
from clockwork_compose import DatabaseConnection, DockerResource

db = DockerResource(
    name="{CONTAINER}",
    image="{IMAGE}",
    ports=["{PORT}:5432"],
    env_vars={{"POSTGRES_USER": "bench", "POSTGRES_PASSWORD": "bench", "POSTGRES_DB": "bench"}},
)
app = DockerResource(name="cw-snap-bench-app", image="redis:7-alpine")
app.connect(DatabaseConnection(to_resource=db, migrations_dir="migrations"))
"""
#: Bytes per row on disk, about (tuple header, id, 100 characters, the primary key): to aim at the size.
ROW_BYTES = 175


def run_benchmark(settings: Settings) -> list[Row]:
    megabytes = 10 if settings.quick else 100
    label = f"apply --snapshot: pg_dump of a {megabytes} MB database vs plain pg_dump -Fc (docker exec)"
    if shutil.which("docker") is None or run(["docker", "image", "inspect", IMAGE], check=False).returncode:
        return [skipped(NAME, label, f"no docker or no {IMAGE} image (scripts/build-test-images.sh)")]
    root = settings.scratch / "cw-snap-bench"
    (root / "migrations").mkdir(parents=True)
    (root / "main.py").write_text(MAIN)
    (root / "migrations" / "001_big.sql").write_text("CREATE TABLE big (id bigint PRIMARY KEY, payload text);\n")
    cli = [*clockwork(), "-C", str(root)]
    try:
        run([*cli, "apply"], timeout=300)
        rows = megabytes * 1_000_000 // ROW_BYTES
        _sql(f"INSERT INTO big SELECT g, md5(g::text) || repeat('x', 68) FROM generate_series(1, {rows}) g")
        size_mb = int(_sql("SELECT pg_database_size(current_database())")) / 1e6
        (root / "migrations" / "002_flag.sql").write_text("ALTER TABLE big ADD COLUMN flag int;\n")
        applied = run([*cli, "apply", "--snapshot"], timeout=900)
        taken = re.search(r"snapshot of \S+ before \S+: (\S+) \(([^,]+), ([\d.]+)s\)", applied.stderr)
        if taken is None:
            raise BenchError(f"apply --snapshot took no snapshot:\n{applied.stderr}")
        plain = run(["docker", "exec", CONTAINER, "sh", "-c", _PLAIN_DUMP], timeout=900).seconds
        (root / "migrations" / "002_flag.sql").unlink()
        restored = run([*cli, "restore", taken[1], "--discard-newer"], timeout=900)
        loaded = re.search(r"restored \S+ from \S+ \(taken \S+\) in ([\d.]+)s", restored.stderr)
        count = int(_sql("SELECT count(*) FROM big"))
        if loaded is None or count != rows:
            raise BenchError(f"restore: {count} rows of {rows}:\n{restored.stderr}")
    finally:
        run([*cli, "destroy"], check=False, timeout=300)
    dump = float(taken[3])
    note = f"{size_mb:.0f} MB database, {rows:,} rows; dump {taken[2]} (custom format, compressed)"
    return [
        Row(NAME, label, dump, plain, note=note),
        Row(NAME, f"restore: drop, recreate, pg_restore of the {megabytes} MB snapshot", float(loaded[1]), note=note),
        Row(
            NAME,
            "clockwork restore, whole command (apps stopped and started, assert checks)",
            restored.seconds,
            note=f"{count:,} rows in the table after restore",
        ),
    ]


_PLAIN_DUMP = "pg_dump -U bench --format=custom --file=/tmp/plain.pgdump bench && rm /tmp/plain.pgdump"


def _sql(statement: str) -> str:
    argv = [
        "docker",
        "exec",
        CONTAINER,
        "psql",
        "-X",
        "-q",
        "-At",
        "-v",
        "ON_ERROR_STOP=1",
        "-U",
        "bench",
        "-d",
        "bench",
    ]
    return run([*argv, "-c", statement], timeout=900).stdout.strip()
