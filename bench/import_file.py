"""6. Import: ``clockwork import`` of a generated 1,000-service compose file, whole process."""

from __future__ import annotations

from pathlib import Path

from ._proc import clockwork, docker_compose_available, median_of, run
from ._report import Row
from ._settings import Settings

NAME = "import"
SERVICES = 1000


def compose_file(services: int) -> str:
    """A compose file of ``services`` services: a fifth PostgreSQL databases with a volume,
    the rest apps that depend on one, with a URL clockwork derives, ports, a healthcheck,
    an env_file and ``${VAR}`` interpolation; an ``x-`` block merged in with ``<<``."""
    lines = [
        "x-app: &app",
        "  restart: unless-stopped",
        "  env_file: app.env",
        "  healthcheck:",
        '    test: ["CMD", "true"]',
        "    interval: 10s",
        "services:",
    ]
    databases = max(1, services // 5)
    for i in range(databases):
        lines += [
            f"  db{i}:",
            "    image: postgres:16",
            "    environment:",
            "      POSTGRES_USER: app",
            "      POSTGRES_PASSWORD: secret",
            f"      POSTGRES_DB: db{i}",
            "    volumes:",
            f"      - db{i}_data:/var/lib/postgresql/data",
        ]
    for i in range(services - databases):
        db = i % databases
        lines += [
            f"  app{i}:",
            "    <<: *app",
            f"    image: registry.example.com/app{i}:${{APP_TAG:-1.0}}",
            "    environment:",
            f"      DATABASE_URL: postgresql://app:secret@db{db}:5432/db{db}",
            "      LOG_LEVEL: ${LOG_LEVEL}",
            "    ports:",
            f'      - "{20000 + i}:8080"',
            "    depends_on:",
            f"      db{db}:",
            "        condition: service_healthy",
        ]
    lines.append("volumes:")
    lines += [f"  db{i}_data:" for i in range(databases)]
    return "\n".join(lines) + "\n"


def run_benchmark(settings: Settings) -> list[Row]:
    folder = settings.scratch / "import"
    folder.mkdir(parents=True, exist_ok=True)
    source = folder / "stack.yml"
    source.write_text(compose_file(SERVICES))
    (folder / "app.env").write_text("LOG_LEVEL=info\n")
    command = clockwork("import", "--force", "-C", str(folder), str(source))
    run(command)
    n = 3 if settings.quick else 10
    why_not = docker_compose_available()
    measurement = f"clockwork import, {SERVICES:,} services, whole process, median of {n}"
    seconds, samples = median_of(n, lambda: run(command).seconds)
    theirs = None
    if not why_not:
        config = ["docker", "compose", "-f", str(source), "config", "-q"]
        theirs, _ = median_of(n, lambda: run(config, cwd=Path(folder)).seconds)
    return [
        Row(
            NAME,
            measurement + ("" if why_not else " (yardstick: docker compose config -q)"),
            seconds,
            theirs,
            goal="< 1 s",
            met=seconds < 1,
            samples={"clockwork": samples},
        )
    ]
