"""1. Build latency: ``clockwork build`` on the example, whole process, against ``docker compose config -q``."""

from __future__ import annotations

import re
import statistics
from collections import defaultdict
from dataclasses import dataclass

from ._proc import clockwork, docker_compose_available, median_of, run
from ._report import Row
from ._settings import Settings

NAME = "build latency"
#: What ``build`` has no use for: the runtime, the database driver, the pretty printer, and
#: what a plain build runs without: typer and click (``_entry``), jinja2 (``_templates``).
FORBIDDEN = ("python_on_whales", "psycopg", "rich", "typer", "click", "jinja2")
TOP = 8
#: Goal: a build at most this many times ``docker compose config -q`` on the file it wrote.
GOAL = 2.5
#: Runs of each, interleaved (the goal is on the median of 10).
RUNS = 10


def run_benchmark(settings: Settings) -> list[Row]:
    project = settings.copy_example("build")
    output = project / "docker-compose.yml"
    build = clockwork("build", "-C", str(project))
    run(build)  # writes the file; the timed runs are the everyday "nothing changed" rebuild
    n = 3 if settings.quick else RUNS
    rows = []
    why_not = docker_compose_available()
    if why_not:
        ours, _ = median_of(n, lambda: run(build).seconds)
        measurement = f"clockwork build (example), median of {n}"
        rows.append(Row(NAME, measurement, ours, goal=f"<= {GOAL:g}x", note=f"no yardstick: {why_not}"))
    else:
        config = ["docker", "compose", "-f", str(output), "config", "-q"]
        run(config)
        # Interleaved, so that a burst of load on this shared machine hits both sides alike.
        our_runs, their_runs = [], []
        for _ in range(n):
            our_runs.append(run(build))
            their_runs.append(run(config))
        our_samples, their_samples = [r.seconds for r in our_runs], [r.seconds for r in their_runs]
        ours, theirs = statistics.median(our_samples), statistics.median(their_samples)
        rows.append(
            Row(
                NAME,
                f"clockwork build (example) vs docker compose config -q, median of {n}",
                ours,
                theirs,
                goal=f"<= {GOAL:g}x",
                met=ours / theirs <= GOAL,
                samples={"clockwork": our_samples, "yardstick": their_samples},
            )
        )
        our_cpu, their_cpu = [r.cpu_seconds for r in our_runs], [r.cpu_seconds for r in their_runs]
        rows.append(
            Row(
                NAME,
                f"the same runs' CPU time (user + system), median of {n}",
                statistics.median(our_cpu),
                statistics.median(their_cpu),
                note="what the processes themselves spent: less moved by a loaded machine than the wall time",
                samples={"clockwork": our_cpu, "yardstick": their_cpu},
            )
        )
    rows += _imports(settings, build)
    rows.append(_many_migrations(settings, n))
    return rows


#: Migration files in the folder of the build with many migrations (and as many down files).
MIGRATION_FILES = 1000


def _many_migrations(settings: Settings, n: int) -> Row:
    """The example's build with a golang-migrate folder of 1,000 up and 1,000 down files:
    every file is read, scanned and checked at build time (``_migrations.plan_for``)."""
    project = settings.copy_example("build-many-migrations")
    folder = project / "migrations"
    for old in folder.iterdir():
        old.unlink()
    for i in range(1, MIGRATION_FILES + 1):
        (folder / f"{i}_t{i}.up.sql").write_text(
            f"-- table {i}\nCREATE TABLE t{i} (id bigint PRIMARY KEY, name text NOT NULL DEFAULT 'x');\n"
            f"INSERT INTO t{i} (id) VALUES (1), (2);\n"
        )
        (folder / f"{i}_t{i}.down.sql").write_text(f"DROP TABLE t{i};\n")
    build = clockwork("build", "-C", str(project))
    run(build)
    seconds, samples = median_of(n, lambda: run(build).seconds)
    return Row(
        NAME,
        f"clockwork build, example with {MIGRATION_FILES:,} golang-migrate migrations, median of {n}",
        seconds,
        goal="< 1 s",
        met=seconds < 1,
        samples={"clockwork": samples},
    )


@dataclass(frozen=True)
class Import:
    level: int
    name: str
    self_us: int
    cumulative_us: int


_LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)")


def parse_importtime(stderr: str) -> list[Import]:
    out = []
    for line in stderr.splitlines():
        match = _LINE.match(line)
        if match:
            self_us, cumulative_us, indent, name = match.groups()
            out.append(Import(len(indent) // 2, name, int(self_us), int(cumulative_us)))
    return out


def importers(imports: list[Import]) -> dict[str, str | None]:
    """Module -> the module that imported it (importtime prints a child before its parent)."""
    parent: dict[str, str | None] = {}
    waiting: dict[int, list[str]] = defaultdict(list)  # level -> children not yet given a parent
    for imp in imports:
        for child in waiting.pop(imp.level + 1, []):
            parent[child] = imp.name
        waiting[imp.level].append(imp.name)
    for names in waiting.values():
        for name in names:
            parent.setdefault(name, None)
    return parent


def by_package(imports: list[Import]) -> list[tuple[str, float]]:
    """Cumulative import time per top-level package, counted where another package first pulls it in."""
    parent = importers(imports)
    total: dict[str, int] = defaultdict(int)
    for imp in imports:
        package = imp.name.split(".")[0]
        up = parent.get(imp.name)
        if up is None or up.split(".")[0] != package:
            total[package] += imp.cumulative_us
    return sorted(((p, us / 1e6) for p, us in total.items()), key=lambda item: -item[1])


def _chain(name: str, parent: dict[str, str | None]) -> str:
    chain = [name]
    while (up := parent.get(chain[-1])) is not None and len(chain) < 12:
        chain.append(up)
    return " <- ".join(chain)


def _imports(settings: Settings, build: list[str]) -> list[Row]:
    profiled = run(build, env={"PYTHONPROFILEIMPORTTIME": "1"})
    imports = parse_importtime(profiled.stderr)
    packages = [(p, s) for p, s in by_package(imports) if p != "clockwork_compose"]
    top = packages[:TOP]
    total = sum(i.cumulative_us for i in imports if i.level == 0) / 1e6
    settings.extra["build_importtime_top"] = [{"package": p, "cumulative_s": round(s, 4)} for p, s in packages[:20]]
    settings.extra["build_import_total_s"] = round(total, 4)
    parent = importers(imports)
    found = sorted({i.name for i in imports if i.name.split(".")[0] in FORBIDDEN and "." not in i.name})
    forbidden_note = (
        "imported: " + "; ".join(_chain(name, parent) for name in found)
        if found
        else f"none of {', '.join(FORBIDDEN)} in -X importtime of a real build"
    )
    modules = sorted(imports, key=lambda i: -i.self_us)
    settings.extra["build_importtime_modules"] = [
        {"module": i.name, "self_s": round(i.self_us / 1e6, 4)} for i in modules[:20]
    ]
    own = sum(i.self_us for i in imports if i.name.split(".")[0] == "clockwork_compose") / 1e6
    return [
        Row(
            NAME,
            "imports at start-up (-X importtime, one build)",
            total,
            note="heaviest packages (cumulative): " + ", ".join(f"{p} {s * 1000:.0f} ms" for p, s in top),
        ),
        Row(
            NAME,
            "clockwork's own modules at import (self time: their regexes, models, dataclasses)",
            own,
            note="heaviest modules (self): " + ", ".join(f"{i.name} {i.self_us / 1000:.0f} ms" for i in modules[:TOP]),
        ),
        Row(
            NAME,
            f"build imports none of {', '.join(FORBIDDEN)}",
            None,
            unit="bool",
            goal="none imported",
            met=not found,
            note=forbidden_note,
        ),
    ]
