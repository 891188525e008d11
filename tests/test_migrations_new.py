"""`clockwork migrations new`: the next file in the folder's own convention, never over one."""

from __future__ import annotations

import datetime
import shutil
from pathlib import Path

import pytest
from support import run_cli

from clockwork_compose import _migtools
from clockwork_compose._errors import DeclarationError

DATA = Path(__file__).parent / "data" / "migrations"
NOW = datetime.datetime(2026, 12, 3, 5, 18, 10, tzinfo=datetime.UTC)
MAIN = """
db = DockerResource(name="db", image="postgres:16", env_vars={"POSTGRES_PASSWORD": "pw"})
app = DockerResource(name="app", image="example/app:1")
app.connect(DatabaseConnection(to_resource=db, migrations_dir="migrations"{convention}))
"""


def project(make_project, files: dict[str, str], convention: str | None = None, name: str = "demo") -> Path:
    setting = f", migrations_convention={convention!r}" if convention else ""
    root = make_project(MAIN.replace("{convention}", setting), files, name)
    (root / "migrations").mkdir(exist_ok=True)
    return root


def new(root: Path, name: str = "add_email") -> list[str]:
    paths = _migtools.new(root, name, now=lambda: NOW)
    return [p.relative_to(root / "migrations").as_posix() for p in paths]


def corpus(make_project, folder: str) -> Path:
    root = make_project(MAIN.replace("{convention}", ""), name=folder)
    shutil.copytree(DATA / folder, root / "migrations", ignore=shutil.ignore_patterns("README.md"))
    return root


def test_an_empty_folder_starts_at_001(make_project):
    assert new(project(make_project, {})) == ["001_add_email.sql"]


def test_plain_keeps_the_zero_padding(make_project):
    root = project(make_project, {"migrations/0001_a.sql": "SELECT 1;\n", "migrations/0009_b.sql": "SELECT 1;\n"})
    assert new(root) == ["0010_add_email.sql"]


def test_plain_unpadded(make_project):
    assert new(corpus(make_project, "plain-sqlx-axum-social")) == ["4_add_email.sql"]


def test_golang_migrate_makes_the_up_and_down_pair_in_its_version_style(make_project):
    # migrate's example names versions in seconds since 1970
    # (its versions are ahead of the clock: the next is the highest plus one)
    assert new(corpus(make_project, "golang-migrate-migrate")) == [
        "1885849752_add_email.up.sql",
        "1885849752_add_email.down.sql",
    ]
    root = project(
        make_project, {"migrations/1700000000_a.up.sql": "", "migrations/1700000000_a.down.sql": ""}, name="epoch"
    )
    assert new(root) == [f"{int(NOW.timestamp())}_add_email.up.sql", f"{int(NOW.timestamp())}_add_email.down.sql"]
    # sqlx's reversible layout: date and time
    assert new(corpus(make_project, "golang-migrate-sqlx-reversible"), "x") == [
        "20261203051810_x.up.sql",
        "20261203051810_x.down.sql",
    ]


def test_golang_migrate_sequential(make_project):
    root = project(make_project, {"migrations/000001_a.up.sql": "", "migrations/000001_a.down.sql": ""})
    assert new(root) == ["000002_add_email.up.sql", "000002_add_email.down.sql"]


def test_flyway_bumps_the_last_part_of_the_highest_version(make_project):
    assert new(corpus(make_project, "flyway-kestra")) == ["V1_28__add_email.sql"]
    root = project(make_project, {"migrations/V1__a.sql": "", "migrations/V2__b.sql": ""})
    assert new(root, "c") == ["V3__c.sql"]


def test_dbmate_has_its_sections_and_a_timestamp(make_project):
    root = corpus(make_project, "dbmate-dbmate")
    assert new(root) == ["20261203051810_add_email.sql"]
    text = (root / "migrations" / "20261203051810_add_email.sql").read_text()
    assert "-- migrate:up" in text and "-- migrate:down" in text


def test_goose_keeps_its_padding_and_has_its_sections(make_project):
    root = corpus(make_project, "goose-goose")
    assert new(root) == ["00004_add_email.sql"]
    text = (root / "migrations" / "00004_add_email.sql").read_text()
    assert "-- +goose Up" in text and "-- +goose Down" in text


def test_timestamp(make_project):
    assert new(corpus(make_project, "timestamp-sqlx-todos")) == ["20261203051810_add_email.sql"]


def test_a_timestamp_never_goes_before_the_highest(make_project):
    root = project(make_project, {"migrations/20991231000000_future.sql": "SELECT 1;\n"})
    assert new(root) == ["20991231000001_add_email.sql"]


def test_each_new_file_plans(make_project):
    """What `new` writes is a migration the build accepts (and runs in order, last)."""
    from clockwork_compose import _migrations

    for folder in ("dbmate-dbmate", "goose-goose", "golang-migrate-migrate", "flyway-kestra", "timestamp-sqlx-todos"):
        root = corpus(make_project, folder)
        (created, *_) = new(root)
        plan = _migrations.plan_for(root / "migrations")
        assert plan.steps[-1].path == f"migrations/{created}", folder
        shutil.rmtree(root)


def test_sqitch_is_left_to_sqitch(make_project):
    root = make_project(MAIN.replace("{convention}", ""))
    shutil.copytree(DATA / "sqitch-intro", root / "migrations")
    with pytest.raises(DeclarationError, match="sqitch add"):
        new(root)


def test_never_overwrites(make_project, monkeypatch):
    """A name is always after the highest, so it is new; should it exist all the same (a file
    created meanwhile), nothing is written, not even the other file of a pair."""
    root = project(make_project, {"migrations/001_a.up.sql": "", "migrations/001_a.down.sql": ""})
    (root / "migrations" / "002_add_email.down.sql").write_text("keep me")
    monkeypatch.setattr(_migtools, "_next_version", lambda *args: "002")
    with pytest.raises(DeclarationError, match="never overwrites"):
        new(root)
    assert (root / "migrations" / "002_add_email.down.sql").read_text() == "keep me"
    assert not (root / "migrations" / "002_add_email.up.sql").exists()


def test_cli_prints_the_path_and_refuses_a_bad_name_in_one_line(make_project):
    root = project(make_project, {})
    made = run_cli("migrations", "new", "add users", "-C", str(root))
    assert made.code == 0, made.err
    assert made.out.strip().endswith("migrations/001_add_users.sql")
    bad = run_cli("migrations", "new", "../escape", "-C", str(root))
    assert bad.code == 2
    assert bad.err.count("\n") == 1 and "NAME" in bad.err and "Traceback" not in bad.err
    unknown = run_cli("migrations", "new", "x", "--database", "nope", "-C", str(root))
    assert unknown.code == 2 and "'--database'" in unknown.err and "db" in unknown.err


def test_cli_lint_offline_and_strict(make_project):
    """No stack: every file is linted (and it says so); --strict fails on findings."""
    root = project(
        make_project,
        {"migrations/001_a.sql": "ALTER TABLE users DROP COLUMN email;\n"},
    )
    out = run_cli("migrations", "lint", "-C", str(root))
    assert out.code == 0, out.err
    assert "warning: migrations/001_a.sql:1: DROP COLUMN email" in out.out
    assert "linting every file" in out.err
    assert run_cli("migrations", "lint", "--strict", "-C", str(root)).code == 1


def test_build_warns_about_new_files_only(make_project):
    root = project(make_project, {"migrations/001_a.sql": "TRUNCATE users;\n"})
    first = run_cli("build", "-C", str(root))
    assert first.code == 0 and "warning: migrations/001_a.sql:1: TRUNCATE users" in first.err
    text = (root / "docker-compose.yml").read_bytes()
    again = run_cli("build", "-C", str(root))
    assert "TRUNCATE" not in again.err  # built before: nothing new
    assert (root / "docker-compose.yml").read_bytes() == text
    (root / "migrations" / "002_b.sql").write_text("CREATE INDEX i ON users (email);\n")
    second = run_cli("build", "-C", str(root))
    assert "002_b.sql:1: CREATE INDEX on users" in second.err and "TRUNCATE" not in second.err
