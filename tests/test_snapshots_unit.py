"""Snapshots without Docker: what `snapshot=True` declares and refuses, when apply dumps a
database (a fake engine answers the history and records the dump it is asked for), how
snapshots are named and found, and what restore asks before it replaces data. The real
thing runs in tests/e2e/test_snapshots_restore.py."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest
from _compile import compile_dir

from clockwork_compose import _snapshots
from clockwork_compose._docker import ContainerState, Volume
from clockwork_compose._errors import DeclarationError, RuntimeFailure

MAIN = """\
from clockwork_compose import DatabaseConnection, DockerResource

db = DockerResource(
    name="shop-db",
    image="{image}",
    env_vars={{"POSTGRES_USER": "u", "POSTGRES_PASSWORD": "p", "POSTGRES_DB": "shop"}},
)
app = DockerResource(name="shop-api", image="nginx:alpine")
app.connect(DatabaseConnection(to_resource=db, {connection}))
"""


def project_dir(tmp_path: Path, connection: str, image: str = "postgres:15-alpine") -> Path:
    root = tmp_path / "shop"
    (root / "migrations").mkdir(parents=True)
    (root / "migrations" / "001_a.sql").write_text("CREATE TABLE a (id int);\n")
    (root / "migrations" / "002_b.sql").write_text("ALTER TABLE a ADD COLUMN b int;\n")
    (root / "main.py").write_text(MAIN.format(image=image, connection=connection))
    return root


def test_snapshot_true_declares_the_volume_and_changes_nothing_else(tmp_path: Path) -> None:
    plain = compile_dir(project_dir(tmp_path / "a", 'migrations_dir="migrations"'))[2]
    declared = compile_dir(project_dir(tmp_path / "b", 'migrations_dir="migrations", snapshot=True'))[2]
    assert set(declared["volumes"]) - set(plain["volumes"]) == {"shop-db_snapshots"}
    assert declared["services"] == plain["services"]


@pytest.mark.parametrize(
    ("connection", "image", "words"),
    [
        ("snapshot=True", "postgres:15-alpine", "declares none; add migrations_dir=... or remove snapshot=True"),
        ("snapshot=True", "redis:7-alpine", "snapshots are for PostgreSQL and MariaDB/MySQL; remove snapshot=True"),
        ('snapshot="yes"', "postgres:15-alpine", "snapshot"),
    ],
)
def test_bad_snapshot_declarations_name_resource_field_and_fix(
    tmp_path: Path, connection: str, image: str, words: str
) -> None:
    with pytest.raises(DeclarationError) as caught:
        compile_dir(project_dir(tmp_path, connection, image))
    assert "'shop-api'" in str(caught.value) and "'snapshot'" in str(caught.value) and words in str(caught.value)
    assert "\n" not in str(caught.value)


@dataclass
class FakeEngine:
    """One database container; the history rows its client prints; the dumps asked for."""

    status: str | None = "running"
    history: str = "001_a.sql\tsum\t2026-12-03 06:00:00+00\n"
    volumes_present: list[str] = field(default_factory=list)
    created: list[str] = field(default_factory=list)
    runs: list[dict[str, object]] = field(default_factory=list)
    stopped: list[str] = field(default_factory=list)
    started: list[str] = field(default_factory=list)

    def volumes(self, project: str) -> list[Volume]:
        return [Volume(name, {}) for name in self.volumes_present]

    def create_volume(self, name: str, labels: dict[str, str]) -> None:
        self.created.append(name)

    def container(self, name: str) -> ContainerState | None:
        if self.status is None:
            return None
        return ContainerState(name, name, "id", self.status, None, 0, None, image="postgres:15-alpine")

    def containers_named(self, names: Sequence[str]) -> list[ContainerState]:
        return [ContainerState(n, n, "id", "running", None, 0, None) for n in names]

    def exec_in(self, name: str, argv: Sequence[str], env: Mapping[str, str] | None = None) -> str:
        return self.history

    def run_with_volume(self, image: str, volume: str, script: str, args: Sequence[str] = (), **kw: object) -> str:
        self.runs.append({"image": image, "volume": volume, "script": script, "args": list(args), **kw})
        return "4096"

    def stop_containers(self, names: Sequence[str]) -> None:
        self.stopped += names

    def start_containers(self, names: Sequence[str]) -> None:
        self.started += names


NOW = datetime(2026, 12, 3, 6, 15, 2, tzinfo=UTC)


def take(tmp_path: Path, fake: FakeEngine, connection: str = 'migrations_dir="migrations"', requested: bool = True):
    project = compile_dir(project_dir(tmp_path, connection))[0]
    return _snapshots.take(project, tmp_path, {}, fake, requested=requested, now=lambda: NOW)  # type: ignore[arg-type]


def test_apply_dumps_before_the_first_pending_migration_beside_the_database(tmp_path: Path) -> None:
    fake = FakeEngine()
    (shot,) = take(tmp_path, fake)
    assert shot.name == "20261203T061502Z-before-002_b.sql.pgdump" and shot.size == 4096
    assert shot.database == "shop-db" and shot.taken_at == "2026-12-03T06:15:02Z"
    assert fake.created == ["shop_shop-db_snapshots"]
    (run,) = fake.runs
    assert run["beside"] == "shop-db" and run["image"] == "postgres:15-alpine" and run["args"] == [shot.name]
    assert "pg_dump" in str(run["script"]) and run["env"] == {
        "PGHOST": "127.0.0.1",
        "PGPORT": "5432",
        "PGUSER": "u",
        "PGPASSWORD": "p",
        "PGDATABASE": "shop",
    }


@pytest.mark.parametrize(
    ("fake", "requested", "connection"),
    [
        (FakeEngine(history=""), True, 'migrations_dir="migrations"'),  # no record: nothing to lose
        (FakeEngine(history="001_a.sql\ts\tt\n002_b.sql\ts\tt\n"), True, 'migrations_dir="migrations"'),  # none pending
        (FakeEngine(status=None), True, 'migrations_dir="migrations"'),  # never created
        (FakeEngine(), False, 'migrations_dir="migrations"'),  # not asked for
    ],
)
def test_no_dump_where_there_is_nothing_to_lose_or_none_was_asked(
    tmp_path: Path, fake: FakeEngine, requested: bool, connection: str
) -> None:
    assert take(tmp_path, fake, connection, requested) == () and fake.runs == []


def test_declared_snapshot_needs_no_flag(tmp_path: Path) -> None:
    fake = FakeEngine(volumes_present=["shop_shop-db_snapshots"])
    assert len(take(tmp_path, fake, 'migrations_dir="migrations", snapshot=True', requested=False)) == 1
    assert fake.created == []


def test_a_stopped_database_stops_apply_before_anything_changes(tmp_path: Path) -> None:
    with pytest.raises(RuntimeFailure, match=r"shop-db is exited, .*\(`docker start shop-db`\) and apply again"):
        take(tmp_path, FakeEngine(status="exited"))


def test_find_and_the_refusal_name_the_snapshot_and_the_flag() -> None:
    shot = _snapshots.Snapshot("20261203T061502Z-before-002_b.sql.pgdump", "db", 1, "2026-12-03T06:15:02Z", "b", "v")
    assert _snapshots.find([shot], shot.name) is shot and _snapshots.find([shot], f"db/{shot.name}") is shot
    with pytest.raises(DeclarationError, match="no snapshot is named x; list them with `clockwork snapshots`"):
        _snapshots.find([shot], "x")
    text = str(_snapshots.refusal(shot, ["002_b.sql"]))
    assert "migrations applied since: 002_b.sql" in text
    assert text.endswith(f"run `clockwork restore {shot.name} --discard-newer`")


def test_restore_stops_the_apps_of_the_database_and_starts_them_again(tmp_path: Path) -> None:
    project = compile_dir(project_dir(tmp_path, 'migrations_dir="migrations"'))[0]
    target = _snapshots.migrated(project)["shop-db"]
    shot = _snapshots.Snapshot("n.pgdump", "shop-db", 1, "2026-12-03T06:15:02Z", "002_b.sql", "shop_shop-db_snapshots")
    fake = FakeEngine()
    assert _snapshots.load(shot, project, target, {}, fake) == ("shop-api",)  # type: ignore[arg-type]
    assert fake.stopped == ["shop-api"] and fake.started == ["shop-api"]
    (run,) = fake.runs
    assert run["readonly"] is True and "pg_restore" in str(run["script"]) and run["args"] == ["n.pgdump"]


def test_listing_keeps_the_dumps_of_the_engine_and_reads_time_and_migration_from_the_name(tmp_path: Path) -> None:
    project = compile_dir(project_dir(tmp_path, 'migrations_dir="migrations"'))[0]
    fake = FakeEngine(volumes_present=["shop_shop-db_snapshots"])
    fake.run_with_volume = lambda *a, **kw: (  # type: ignore[method-assign]
        "2696 1764742348 20261203T061228Z-before-002_b.sql.pgdump\n"
        "10 1764742349 20261203T061229Z-before-003_c.sql.pgdump.part\n"
        "7 1764742350 mine.pgdump\n"
    )
    found = _snapshots.listed(project, fake)  # type: ignore[arg-type]
    assert [(s.name, s.size, s.taken_at, s.before) for s in found] == [
        ("20261203T061228Z-before-002_b.sql.pgdump", 2696, "2026-12-03T06:12:28Z", "002_b.sql"),
        ("mine.pgdump", 7, "2025-12-03T06:12:30Z", ""),
    ]
    assert _snapshots.listed(project, FakeEngine()) == []  # type: ignore[arg-type]  # no volume: none, none created
