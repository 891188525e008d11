"""2. Scale: ``clockwork build`` on generated projects of 100, 1,000 and 5,000 services.

A fifth of the services are PostgreSQL databases, each with a schema file and three
migrations (so each also gets a migrator); the rest are apps with a DatabaseConnection to
one database, and in chains of ten a plain connect to the previous app (deep graphs).
Whole-process time and peak RSS show what a user waits for; the warm in-process compile
(builds after a first one in the same process: no start-up, no imports; the least CPU time
of five) is what must grow linearly.
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

from ._proc import Run, clockwork, run
from ._report import Row
from ._settings import Settings

NAME = "scale"
MIGRATIONS_PER_DATABASE = 3

#: Warm builds after a first one in the same process: the least CPU time one took (the
#: process's own, every thread's: on a shared machine, waiting for a core is not the
#: compile's cost, and a build reads only files the first one brought into the page cache).
WARM_BUILDS = 5
_WARM_COMPILE = f"""
import sys, time
from pathlib import Path
from clockwork_compose import _api
project = Path(sys.argv[1])
_api.build(project)
times = []
for _ in range({WARM_BUILDS}):
    start = time.process_time()
    _api.build(project)
    times.append(time.process_time() - start)
print(min(times))
"""


def generate(folder: Path, services: int) -> Path:
    """Write main.py (and schema and migrations) for a project of ``services`` resources."""
    databases = max(1, services // 5)
    folder.mkdir(parents=True, exist_ok=True)
    lines = ["from clockwork_compose import DatabaseConnection, DockerResource", "", "dbs = []"]
    for d in range(databases):
        sql = folder / "db" / f"{d:04d}"
        (sql / "migrations").mkdir(parents=True, exist_ok=True)
        (sql / "schema.sql").write_text(f"CREATE TABLE IF NOT EXISTS items_{d} (id serial PRIMARY KEY);\n")
        for m in range(1, MIGRATIONS_PER_DATABASE + 1):
            (sql / "migrations" / f"{m:03d}_step.sql").write_text(f"ALTER TABLE items_{d} ADD COLUMN c{m} text;\n")
    lines += [
        f"for d in range({databases}):",
        "    dbs.append(DockerResource(",
        '        name=f"db-{d:04d}", description="database", image="postgres:15-alpine",',
        '        env_vars={"POSTGRES_DB": "app", "POSTGRES_USER": "app", "POSTGRES_PASSWORD": "pw"},',
        "    ))",
        "",
        "previous = None",
        f"for a in range({services - databases}):",
        '    app = DockerResource(name=f"app-{a:05d}", description="app", image="busybox:latest")',
        f"    d = a % {databases}",
        "    app.connect(DatabaseConnection(",
        '        to_resource=dbs[d], username="app", password="pw", database_name="app",',
        '        schema_file=f"db/{d:04d}/schema.sql", migrations_dir=f"db/{d:04d}/migrations",',
        "    ))",
        "    if previous is not None and a % 10:",
        "        app.connect(previous)",
        "    previous = app",
        "",
    ]
    (folder / "main.py").write_text("\n".join(lines), encoding="utf-8")
    return folder


def run_benchmark(settings: Settings) -> list[Row]:
    sizes = (100, 1000) if settings.quick else (100, 1000, 5000)
    whole: dict[int, float] = {}
    warm: dict[int, float] = {}
    memory: dict[int, float] = {}
    samples: dict[int, dict[str, list[float]]] = {}
    sizes_mb: dict[int, float] = {}
    projects = {size: generate(settings.scratch / "scale" / f"s{size}", size) for size in sizes}
    builds = {size: clockwork("build", "-C", str(project)) for size, project in projects.items()}
    warm_compiles = {size: [sys.executable, "-c", _WARM_COMPILE, str(project)] for size, project in projects.items()}
    for build in builds.values():
        run(build)  # first write; the timed runs rebuild with nothing changed
    # The sizes take turns, run by run: a load that drifts during the benchmark (a shared
    # machine) then moves every size alike, not only the one measured last.
    reps = {size: 1 if settings.quick else 3 if size >= 5000 else 5 for size in sizes}
    runs: dict[int, list[Run]] = {size: [] for size in sizes}
    for turn in range(max(reps.values())):
        for size in sizes:
            if turn < reps[size]:
                runs[size].append(run(builds[size]))
    compiles: dict[int, list[float]] = {size: [] for size in sizes}
    for _ in range(1 if settings.quick else 3):
        for size in sizes:
            compiles[size].append(float(run(warm_compiles[size]).stdout))
    for size in sizes:
        whole[size] = statistics.median(r.seconds for r in runs[size])
        memory[size] = max(r.peak_rss_mb for r in runs[size])
        warm[size] = statistics.median(compiles[size])
        samples[size] = {"whole_process": [r.seconds for r in runs[size]], "warm_compile": compiles[size]}
        said = runs[size][0].stderr.strip().splitlines()
        settings.extra.setdefault("scale_build_says", {})[size] = said[0] if said else ""
        sizes_mb[size] = (projects[size] / "docker-compose.yml").stat().st_size / 1e6
    return _rows(sizes, whole, warm, memory, samples, sizes_mb)


def _rows(
    sizes: tuple[int, ...],
    whole: dict[int, float],
    warm: dict[int, float],
    memory: dict[int, float],
    samples: dict[int, dict[str, list[float]]],
    sizes_mb: dict[int, float],
) -> list[Row]:
    rows = []
    for i, size in enumerate(sizes):
        smaller = sizes[i - 1] if i else None
        goal, met = ("< 1 s", whole[size] < 1) if size == 1000 else ("", None)
        if smaller and size // smaller == 5:  # the user's wait grows no faster than the project
            goal, met = "<= 5.5x", whole[size] / whole[smaller] <= 5.5
        rows.append(
            Row(
                NAME,
                f"build {size:,} services (whole process)" + (f" vs {smaller:,}" if smaller else ""),
                whole[size],
                whole[smaller] if smaller else None,
                goal=goal,
                met=met,
                note=f"compose file {sizes_mb[size]:.1f} MB",
                samples=samples[size],
            )
        )
    for i, size in enumerate(sizes[1:], start=1):
        smaller = sizes[i - 1]
        growth = size / smaller
        allowed = 1.1 * growth
        rows.append(
            Row(
                NAME,
                f"warm compile {size:,} vs {smaller:,} services ({growth:g}x services, in-process CPU)",
                warm[size],
                warm[smaller],
                goal=f"<= {allowed:g}x",
                met=warm[size] / warm[smaller] <= allowed,
            )
        )
    for i, size in enumerate(sizes):
        smaller = sizes[i - 1] if i else None
        rows.append(
            Row(
                NAME,
                f"peak RSS, {size:,} services" + (f" vs {smaller:,}" if smaller else ""),
                memory[size],
                memory[smaller] if smaller else None,
                unit="MB",
            )
        )
    return rows
