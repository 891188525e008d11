"""The migrator as built: its command is the plan, Compose reads it back, plan prints it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from _compile import compile_dir
from support import compose_config, needs_compose, run_cli

from clockwork_compose import _api
from clockwork_compose._errors import DeclarationError
from clockwork_compose._migrations import plan_for

CORPUS = Path(__file__).parent / "data" / "migrations"

MAIN = """\
from clockwork_compose import DatabaseConnection, DockerResource, Secret

db = DockerResource(name="db", image="postgres:16-alpine", env_vars={{
    "POSTGRES_USER": "app", "POSTGRES_DB": "app", "POSTGRES_PASSWORD": Secret("DB_PASSWORD")}})
app = DockerResource(name="app", image="nginx:alpine")
app.connect(DatabaseConnection(to_resource=db, migrations_dir="migrations"{extra}))
"""


def project(tmp_path: Path, corpus: str, extra: str = "") -> Path:
    folder = tmp_path / "proj"
    shutil.copytree(CORPUS / corpus, folder / "migrations")
    (folder / "main.py").write_text(MAIN.format(extra=extra))
    return folder


def test_the_migrators_command_is_the_plan(tmp_path: Path) -> None:
    folder = project(tmp_path, "sqitch-intro")
    model, _, doc = compile_dir(folder)
    migrator = doc["services"]["db-migrator"]
    assert migrator["command"] == plan_for(folder / "migrations").arguments()
    assert migrator["command"][0] == "set cwd migrations"
    assert migrator["entrypoint"][:2] == ["/bin/sh", "-c"]
    assert migrator["labels"]["dev.clockwork.migrations"] == plan_for(folder / "migrations").digest()
    (target,) = [t for t in model.databases if t.migrations]
    assert target.migrations.plan.versions[0] == "appschema"


def test_plan_shows_convention_steps_and_skipped(tmp_path: Path) -> None:
    model, _, _ = compile_dir(project(tmp_path, "golang-migrate-migrate"))
    (step,) = [s for layer in _api.plan(model) for s in layer if s.service == "db-migrator"]
    assert step.note == "applies 9 golang-migrate migrations from migrations"
    assert step.details[0] == "convention: golang-migrate (adopts golang-migrate's history)"
    assert step.details[1] == "runs 1. 1085649617_create_users_table.up.sql (versioned, in a transaction)"
    assert "runs 3. 1285849751_add_index_on_user_emails.up.sql (versioned, no transaction)" in step.details
    assert "skips 1085649617_create_users_table.down.sql: down migration: never runs" in step.details


def test_a_long_plan_shows_its_ends(tmp_path: Path) -> None:
    folder = tmp_path / "proj"
    (folder / "migrations").mkdir(parents=True)
    for i in range(1, 31):
        (folder / "migrations" / f"{i}_t.sql").write_text(f"CREATE TABLE t{i} (id int);\n")
    (folder / "main.py").write_text(MAIN.format(extra=""))
    model, _, _ = compile_dir(folder)
    (step,) = [s for layer in _api.plan(model) for s in layer if s.service == "db-migrator"]
    runs = [line for line in step.details if line.startswith("runs")]
    assert runs[0] == "runs 1. 1_t.sql (versioned, in a transaction)"
    assert runs[5] == "runs ... 20 more"
    assert runs[-1] == "runs 30. 30_t.sql (versioned, in a transaction)"


def test_a_refusal_is_a_declaration_error_naming_consumer_field_and_file(tmp_path: Path) -> None:
    folder = project(tmp_path, "dbmate-dbmate")
    (folder / "migrations" / "20300101000000_bad.sql").write_text("-- migrate:up\nSELECT :missing;\n")
    with pytest.raises(DeclarationError) as info:
        compile_dir(folder)
    assert str(info.value).startswith(
        "resource 'app', field 'migrations_dir': 20300101000000_bad.sql:2: psql variable :missing is not declared"
        " (read as dbmate migrations); declare it"
    )


def test_secret_psql_variables_stay_out_of_the_file(tmp_path: Path) -> None:
    folder = project(tmp_path, "plain-sqlx-axum-social", ', variables={"token": Secret("API_TOKEN"), "x": "1"}')
    _, text, doc = compile_dir(folder)
    migrator = doc["services"]["db-migrator"]
    assert migrator["command"][:2] == ["var x 1", "varenv token CLOCKWORK_VAR_TOKEN"]
    assert migrator["environment"]["CLOCKWORK_VAR_TOKEN"].startswith("${API_TOKEN:?")


@needs_compose
def test_compose_reads_the_plan_back(tmp_path: Path) -> None:
    folder = project(tmp_path, "flyway-kestra")
    _api.build(folder, environ={"DB_PASSWORD": "pw"})
    config = compose_config(folder)
    assert config["services"]["db-migrator"]["command"] == plan_for(folder / "migrations").arguments()


def test_assert_expects_the_plans_record_names(tmp_path: Path) -> None:
    from clockwork_compose._assertions import expected_versions

    folder = project(tmp_path, "sqitch-intro")
    (folder / "schema.sql").write_text("CREATE TABLE base (id int);\n")
    (folder / "main.py").write_text(MAIN.format(extra=', schema_file="schema.sql"'))
    model, _, _ = compile_dir(folder)
    (target,) = [t for t in model.databases if t.migrations]
    versions = expected_versions(target)
    assert versions[:3] == ("schema:schema.sql", "appschema", "users")
    assert versions[-2:] == ("insert_user~2", "change_pass~2")
    assert len(versions) == 1 + 13


def test_clockwork_plan_prints_what_runs_and_what_is_skipped(tmp_path: Path) -> None:
    folder = project(tmp_path, "goose-goose")
    result = run_cli("plan", "-C", str(folder))
    assert result.code == 0, result.err
    lines = [line.strip() for line in result.out.splitlines()]
    assert "convention: goose (adopts goose's history)" in lines
    assert "runs 1. 00001_create_users_table.sql lines 1-12 (versioned, in a transaction)" in lines
    assert "runs 3. 00003_no_transaction.sql lines 2-9 (versioned, no transaction)" in lines
    assert "skips README.md: not a .sql file" in lines


def test_schema_file_refusals_name_the_schema_field(tmp_path: Path) -> None:
    folder = project(tmp_path, "goose-goose")
    (folder / "schema.sql").write_text("CREATE DATABASE x;\n\\connect x\nCREATE TABLE t (id int);\n")
    (folder / "main.py").write_text(MAIN.format(extra=', schema_file="schema.sql"'))
    with pytest.raises(DeclarationError) as info:
        compile_dir(folder)
    assert str(info.value).startswith(
        "resource 'app', field 'schema_file': schema.sql:2: \\connect connects to another database"
    )


def test_two_connections_to_one_database_must_agree_on_its_migrations(tmp_path: Path) -> None:
    folder = project(tmp_path, "goose-goose", ', variables={"x": "2"}')
    (folder / "main.py").write_text(
        (folder / "main.py").read_text()
        + 'worker = DockerResource(name="worker", image="nginx:alpine")\n'
        + 'worker.connect(DatabaseConnection(to_resource=db, migrations_dir="migrations", '
        + 'variables={"x": "1"}))\n'
    )
    with pytest.raises(DeclarationError) as info:
        compile_dir(folder)
    assert str(info.value).startswith(
        "resource 'worker', field 'variables': app and worker give db different variables ({'x': '2'} vs {'x': '1'})"
    )


def test_what_one_connection_leaves_unset_comes_from_the_other(tmp_path: Path) -> None:
    folder = project(tmp_path, "goose-goose")
    (folder / "schema.sql").write_text("CREATE TABLE base (id int);\n")
    (folder / "main.py").write_text(
        (folder / "main.py").read_text()
        + 'worker = DockerResource(name="worker", image="nginx:alpine")\n'
        + 'worker.connect(DatabaseConnection(to_resource=db, schema_file="schema.sql", variables={"x": "1"}))\n'
    )
    _, _, doc = compile_dir(folder)
    command = doc["services"]["db-migrator"]["command"]
    assert command[1] == "var x 1"
    assert command[2].startswith("step schema tx schema:schema.sql ")
    assert len([c for c in command if c.startswith("step versioned")]) == 3


def test_psql_variables_still_works_with_a_deprecation_warning_and_a_note_at_build(tmp_path: Path) -> None:
    folder = project(tmp_path, "goose-goose", ', psql_variables={"x": "2"}')
    with pytest.warns(DeprecationWarning, match=r"psql_variables=\.\.\.\) is deprecated: use variables"):
        model, _, doc = compile_dir(folder)
    assert "var x 2" in doc["services"]["db-migrator"]["command"]
    assert "app: DatabaseConnection(psql_variables=...) is deprecated: rename it to variables" in model.warnings
    renamed = project(tmp_path / "b", "goose-goose", ', variables={"x": "2"}')
    model, _, again = compile_dir(renamed)
    assert again["services"]["db-migrator"]["command"] == doc["services"]["db-migrator"]["command"]
    assert not any("deprecated" in w for w in model.warnings)


def test_psql_variables_and_variables_together_is_one_clear_error(tmp_path: Path) -> None:
    folder = project(tmp_path, "goose-goose", ', variables={"x": "2"}, psql_variables={"x": "2"}')
    with pytest.raises(DeclarationError) as info:
        compile_dir(folder)
    assert "field 'psql_variables'" in str(info.value) and "keep variables only" in str(info.value)


def test_reading_psql_variables_warns_and_gives_variables() -> None:
    from clockwork_compose import DatabaseConnection, DockerResource

    db = DockerResource(name="db", image="postgres:16-alpine")
    with pytest.warns(DeprecationWarning):
        conn = DatabaseConnection(to_resource=db, psql_variables={"x": "1"})
    assert conn.variables == {"x": "1"} and conn.deprecated_fields == ("psql_variables",)
    with pytest.warns(DeprecationWarning, match="use variables"):
        assert conn.psql_variables == {"x": "1"}
    assert DatabaseConnection(to_resource=db, variables={"x": "1"}).deprecated_fields == ()
