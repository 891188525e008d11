"""The migration plan at build time: detection, order, sections, transactions, refusals."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from clockwork_compose._migrations import MigrationError, Plan, plan_for

CORPUS = Path(__file__).parent / "data" / "migrations"


def ran(plan: Plan) -> list[str]:
    return [s.path.split("/", 1)[1] for s in plan.steps]


def write(folder: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    return folder


def refusal(folder: Path, **kwargs: object) -> str:
    with pytest.raises(MigrationError) as info:
        plan_for(folder, **kwargs)  # type: ignore[arg-type]
    return str(info.value)


@pytest.mark.parametrize("folder", sorted(p.name for p in CORPUS.iterdir() if p.is_dir()))
def test_each_corpus_folder_is_detected_as_its_convention(folder: str) -> None:
    plan = plan_for(CORPUS / folder)
    assert folder.startswith(plan.convention + "-")
    assert plan.steps
    assert all(s.path.startswith("migrations/") for s in plan.steps)


def test_golang_migrate_runs_up_files_in_version_order_and_never_a_down_file() -> None:
    plan = plan_for(CORPUS / "golang-migrate-migrate")
    assert ran(plan)[0] == "1085649617_create_users_table.up.sql"
    assert all(name.endswith(".up.sql") for name in ran(plan))
    assert {s.reason for s in plan.skipped if s.path.endswith(".down.sql")} == {"down migration: never runs"}
    assert [s.adopt_key for s in plan.steps][:2] == ["1085649617", "1185749658"]
    index = next(s for s in plan.steps if "add_index" in s.path)
    assert index.tx == "none"  # CREATE INDEX CONCURRENTLY


def test_unpadded_versions_run_in_numeric_order(tmp_path: Path) -> None:
    names = [f"{n}_m.up.sql" for n in (1, 2, 10, 9)]
    plan = plan_for(write(tmp_path, {n: "SELECT 1;\n" for n in names}))
    assert ran(plan) == ["1_m.up.sql", "2_m.up.sql", "9_m.up.sql", "10_m.up.sql"]
    plain = plan_for(write(tmp_path / "p", {f"{n}_x.sql": "SELECT 1;\n" for n in (10, 2, 1)}))
    assert (plain.convention, ran(plain)) == ("plain", ["1_x.sql", "2_x.sql", "10_x.sql"])


def test_flyway_orders_dotted_versions_then_repeatables(tmp_path: Path) -> None:
    plan = plan_for(CORPUS / "flyway-kestra")
    names = ran(plan)
    assert names.index("V1_9__execution_queued.sql") + 1 == names.index("V1_10__multitenant_indices.sql")
    assert [s.adopt_key for s in plan.steps[:2]] == ["1.1", "1.2"]
    assert all(s.kind == "versioned" and s.tx == "tx" for s in plan.steps)
    folder = write(
        tmp_path,
        {
            "V10__c.sql": "SELECT 1;",
            "V2__b.sql": "SELECT 1;",
            "V1.1__a.sql": "SELECT 1;",
            "U2__b.sql": "SELECT 1;",
            "R__a.sql": "SELECT 1;",
            "sub/V3__d.sql": "SELECT 1;",
        },
    )
    plan = plan_for(folder)
    assert ran(plan) == ["V1.1__a.sql", "V2__b.sql", "sub/V3__d.sql", "V10__c.sql", "R__a.sql"]
    assert [(s.path, s.reason) for s in plan.skipped] == [("U2__b.sql", "undo migration: never runs")]


def test_dbmate_runs_only_the_up_section() -> None:
    plan = plan_for(CORPUS / "dbmate-dbmate")
    assert [s.lines for s in plan.steps] == [(1, 7), (1, 6)]
    assert [s.adopt_key for s in plan.steps] == ["20151129054053", "20200227231541"]
    assert all(s.tx == "tx" for s in plan.steps)


def test_dbmate_transaction_false_runs_outside_a_transaction(tmp_path: Path) -> None:
    folder = write(tmp_path, {"1_a.sql": "-- migrate:up transaction:false\nVACUUM;\n-- migrate:down\nSELECT 1;\n"})
    (step,) = plan_for(folder).steps
    assert (step.tx, step.lines) == ("none", (1, 2))


def test_goose_sections_and_no_transaction() -> None:
    plan = plan_for(CORPUS / "goose-goose")
    assert [(s.lines, s.tx, s.adopt_key) for s in plan.steps] == [
        ((1, 12), "tx", "1"),
        ((1, 5), "tx", "2"),
        ((2, 9), "none", "3"),
    ]
    assert [s.path for s in plan.skipped] == ["README.md"]


def test_a_section_checksum_ignores_the_down_half(tmp_path: Path) -> None:
    up = "-- +goose Up\nCREATE TABLE t (id int);\n"
    a = plan_for(write(tmp_path / "a", {"1_t.sql": up + "-- +goose Down\nDROP TABLE t;\n"}))
    b = plan_for(write(tmp_path / "b", {"1_t.sql": up + "-- +goose Down\nDROP TABLE IF EXISTS t;\n"}))
    assert a.steps[0].checksum == b.steps[0].checksum
    assert a.steps[0].sha256 != b.steps[0].sha256


def test_sqitch_follows_the_plan_and_runs_from_its_folder() -> None:
    plan = plan_for(CORPUS / "sqitch-intro")
    assert (plan.convention, plan.cwd, plan.adopt) == ("sqitch", "migrations", "sqitch")
    assert plan.arguments()[:2] == ["set cwd migrations", "set adopt sqitch"]
    assert ran(plan)[:4] == [
        "deploy/appschema.sql",
        "deploy/users.sql",
        "deploy/insert_user@v1.0.0-dev2.sql",
        "deploy/change_pass@v1.0.0-dev2.sql",
    ]
    assert ran(plan)[-2:] == ["deploy/insert_user.sql", "deploy/change_pass.sql"]
    assert [s.version for s in plan.steps][-2:] == ["insert_user~2", "change_pass~2"]
    assert all(s.tx == "own" for s in plan.steps)  # each deploy script is one BEGIN ... COMMIT
    reasons = {s.path.split("/")[0]: s.reason for s in plan.skipped if "/" in s.path}
    assert reasons == {"revert": "sqitch revert script: never runs", "verify": "sqitch verify script: never runs"}


def test_timestamp_names_run_in_timestamp_order(tmp_path: Path) -> None:
    plan = plan_for(CORPUS / "timestamp-sqlx-todos")
    assert plan.convention == "timestamp"
    folder = write(tmp_path, {"20240101000000_b.sql": "SELECT 1;", "20231231235959_a.sql": "SELECT 1;"})
    assert ran(plan_for(folder)) == ["20231231235959_a.sql", "20240101000000_b.sql"]


@pytest.mark.parametrize(
    ("text", "mode"),
    [
        ("CREATE TABLE t (id int);\n", "tx"),
        ("BEGIN;\nCREATE TABLE t (id int);\nCOMMIT;\n", "own"),
        ("-- header\nSTART TRANSACTION;\nCREATE TABLE t (id int);\nEND;\n", "own"),
        ("CREATE INDEX CONCURRENTLY i ON t (id);\n", "none"),
        ("DROP INDEX CONCURRENTLY i;\n", "none"),
        ("VACUUM t;\n", "none"),
        ("ALTER SYSTEM SET work_mem = '8MB';\n", "none"),
        ("CREATE DATABASE other;\n", "none"),
        ("-- clockwork:no-transaction\nBEGIN;\nSELECT 1;\nCOMMIT;\nSELECT 2;\n", "none"),
        ("DO $$ BEGIN PERFORM 1; COMMIT; END $$;\n", "tx"),
        ("BEGIN;\nSAVEPOINT a;\nROLLBACK TO SAVEPOINT a;\nCOMMIT;\n", "own"),
    ],
)
def test_transaction_modes(tmp_path: Path, text: str, mode: str) -> None:
    (step,) = plan_for(write(tmp_path, {"001_a.sql": text})).steps
    assert step.tx == mode


@pytest.mark.parametrize(
    ("text", "line", "what"),
    [
        ("CREATE TABLE t (id int);\nCOMMIT;\nCREATE TABLE u (id int);\n", 2, "COMMIT"),
        ("CREATE TABLE t (id int);\nBEGIN;\nSELECT 1;\nCOMMIT;\n", 2, "BEGIN"),
        ("BEGIN;\nSELECT 1;\nROLLBACK;\n", 3, "ROLLBACK"),
        ("BEGIN;\nSELECT 1;\nCOMMIT;\nSELECT 2;\n", 3, "COMMIT"),
        ("SELECT 1;\n\\q\nSELECT 2;\n", 2, "\\q"),
        ("\\! rm -rf /\n", 1, "\\!"),
    ],
)
def test_what_breaks_all_or_nothing_is_refused_with_file_and_line(
    tmp_path: Path, text: str, line: int, what: str
) -> None:
    message = refusal(write(tmp_path, {"001_a.sql": text}))
    assert message.startswith(f"001_a.sql:{line}: {what}")
    assert "-- clockwork:no-transaction" in message


@pytest.mark.parametrize(
    "text",
    [
        "SELECT 1;\n\\connect other\n",
        "-- clockwork:no-transaction\n\\c other\nCREATE TABLE t (id int);\n",
        "CREATE INDEX CONCURRENTLY i ON t (id);\n\\c other\n",  # no transaction by its statement
        "-- clockwork:no-transaction\n\\if :{?x}\n\\else \\c other \\endif\n",  # hidden after another command
        "-- clockwork:no-transaction\n\\echo 'a\\'b' \\c other\n",
    ],
    ids=["tx", "marked", "concurrently", "after-else", "after-quoted-arg"],
)
def test_connecting_elsewhere_is_refused_in_every_file(tmp_path: Path, text: str) -> None:
    """A \\c in a no-transaction file created its table in another database, and every later
    apply failed. It is refused like in any other file, and marking the file is no fix."""
    message = refusal(write(tmp_path, {"001_a.sql": text}))
    line = text[: text.index("\\c")].count("\n") + 1
    assert re.match(rf"001_a\.sql:{line}: \\c(onnect)? connects to another database", message), message
    assert "no-transaction" not in message and "its own DatabaseConnection" in message


@pytest.mark.parametrize(
    ("text", "line", "what"),
    [
        ("CREATE DATABASE IF NOT EXISTS other;\nUSE other;\nCREATE TABLE t (id int);\n", 2, "USE switches"),
        ("-- clockwork:no-transaction\nuse other\n;\n", 2, "USE switches"),
        ("SELECT 1;\nCONNECT other;\n", 2, "CONNECT switches"),
        ("SELECT 1;\n\\u other\n", 2, "USE switches"),
        ("SELECT 1;\n\\r other\n", 2, "CONNECT switches"),
    ],
    ids=["use", "use-no-transaction", "connect", "client-use", "client-connect"],
)
def test_switching_database_the_mysql_way_is_refused_too(tmp_path: Path, text: str, line: int, what: str) -> None:
    """MariaDB: USE other created the table in `other`, then the record failed there and
    every later apply refused the file (recorded failed)."""
    message = refusal(write(tmp_path, {"001_a.sql": text}), engine="mariadb")
    assert message.startswith(f"001_a.sql:{line}: {what}"), message
    assert "its own DatabaseConnection" in message


def test_a_no_transaction_file_may_still_end_early_or_run_a_shell_command(tmp_path: Path) -> None:
    """Marking a file no-transaction is the fix the refusal of \\q and \\! names."""
    text = "-- clockwork:no-transaction\n\\! true\nSELECT 1 AS done \\gset\n\\if :done \\q \\endif\n"
    (step,) = plan_for(write(tmp_path, {"001_a.sql": text})).steps
    assert step.tx == "none"


def test_undeclared_psql_variable_names_file_line_and_variable(tmp_path: Path) -> None:
    folder = write(tmp_path, {"001_a.sql": 'SELECT 1::int;\nCREATE SCHEMA :"schema_name";\n'})
    message = refusal(folder)
    assert message.startswith("001_a.sql:2: psql variable :schema_name is not declared")
    plan = plan_for(folder, variables={"schema_name": "app"}, env_variables={"token": "CLOCKWORK_VAR_TOKEN"})
    assert plan.arguments()[:2] == ["var schema_name app", "varenv token CLOCKWORK_VAR_TOKEN"]
    assert plan_for(write(tmp_path / "b", {"1_a.sql": "\\set n 3\nSELECT :n;\n"})).steps
    assert plan_for(write(tmp_path / "c", {"1_a.sql": "SELECT 1 AS one \\gset\nSELECT :one;\n"})).steps


def test_includes_must_stay_in_the_folder(tmp_path: Path) -> None:
    (tmp_path / "outside.sql").write_text("SELECT 1;")
    folder = write(tmp_path / "m", {"001_a.sql": "\\ir ../outside.sql\n"})
    assert "leaves the migrations folder" in refusal(folder)
    ok = write(tmp_path / "n", {"001_a.sql": "\\ir lib/x.sql\n\\set j `cat lib/x.sql`\n", "lib/x.sql": "SELECT 1;"})
    assert ran(plan_for(ok)) == ["001_a.sql"]
    words = write(tmp_path / "p", {"001_a.sql": "\\set v `printf %s 1.5`\n\\set w `cat --file=lib.txt`\n"})
    assert "lib.txt does not exist" in refusal(words)
    (words / "lib.txt").write_text("x")
    assert ran(plan_for(words)) == ["001_a.sql"]
    missing = write(tmp_path / "o", {"001_a.sql": "\\i nowhere.sql\n"})
    assert "does not exist" in refusal(missing)


def test_files_that_would_never_run_are_refused(tmp_path: Path) -> None:
    assert "upper-case .SQL" in refusal(write(tmp_path / "a", {"001_a.SQL": "SELECT 1;"}))
    (tmp_path / "b" / "002_x.sql").mkdir(parents=True)
    assert refusal(tmp_path / "b").startswith("002_x.sql: is a folder named like a migration")
    (tmp_path / "c").mkdir()
    (tmp_path / "elsewhere.sql").write_text("SELECT 1;")
    (tmp_path / "c" / "001_a.sql").symlink_to(tmp_path / "elsewhere.sql")
    assert "symlink out of the migrations folder" in refusal(tmp_path / "c")
    stray = write(tmp_path / "d", {"1_a.up.sql": "SELECT 1;", "1_a.down.sql": "SELECT 1;", "seed.sql": "SELECT 1;"})
    assert refusal(stray).startswith("seed.sql: matches no golang-migrate pattern")


def test_a_folder_mixing_conventions_names_two_files(tmp_path: Path) -> None:
    folder = write(tmp_path, {"V1__a.sql": "SELECT 1;", "002_b.up.sql": "SELECT 1;"})
    message = refusal(folder)
    assert "mixes conventions" in message
    assert "002_b.up.sql is golang-migrate" in message and "V1__a.sql is flyway" in message


def test_the_convention_can_be_set(tmp_path: Path) -> None:
    folder = write(tmp_path, {"20240101000000_a.up.sql": "SELECT 1;", "20240101000000_a.down.sql": "SELECT 1;"})
    assert plan_for(folder, convention="timestamp").convention == "timestamp"
    assert plan_for(folder, convention="timestamp").adopt is None
    assert "has version 20240101000000, like" in refusal(folder, convention="goose")
    assert "has no -- +goose Up line" in refusal(write(tmp_path / "g", {"1_a.sql": "SELECT 1;"}), convention="goose")
    assert "unknown migrations convention" in refusal(folder, convention="liquibase")


def test_versions_must_be_unique(tmp_path: Path) -> None:
    folder = write(tmp_path, {"1_a.up.sql": "SELECT 1;", "001_b.up.sql": "SELECT 1;"})
    assert "has version 1, like" in refusal(folder)


def test_harmless_files_are_listed_as_skipped(tmp_path: Path) -> None:
    folder = write(tmp_path, {"001_a.sql": "SELECT 1;", "README.md": "hi", "old/002.sql": "SELECT 1;"})
    plan = plan_for(folder)
    assert [(s.path, s.reason) for s in plan.skipped] == [
        ("README.md", "not a .sql file"),
        ("old/", "subfolder: plain reads only the top folder"),
    ]


def test_schema_is_its_own_first_step(tmp_path: Path) -> None:
    schema = tmp_path / "schema.sql"
    schema.write_text("CREATE TABLE base (id int);\n")
    plan = plan_for(write(tmp_path / "m", {"001_a.sql": "SELECT 1;"}), schema)
    assert [(s.kind, s.version, s.path) for s in plan.steps] == [
        ("schema", "schema:schema.sql", "schema/schema.sql"),
        ("versioned", "001_a.sql", "migrations/001_a.sql"),
    ]


def test_a_comment_or_crlf_edit_keeps_the_checksum(tmp_path: Path) -> None:
    a = plan_for(write(tmp_path / "a", {"001_a.sql": "CREATE TABLE t (id int);\n"}))
    b = plan_for(write(tmp_path / "b", {"001_a.sql": "-- why\r\nCREATE TABLE t (id int);\r\n"}))
    assert a.steps[0].checksum == b.steps[0].checksum
    assert a.steps[0].sha256 != b.steps[0].sha256


def test_a_thousand_files_plan(tmp_path: Path) -> None:
    folder = write(tmp_path, {f"{i}_t.up.sql": f"CREATE TABLE t{i} (id int);\n" for i in range(1, 1001)})
    plan = plan_for(folder)
    assert len(plan.steps) == 1000 and ran(plan)[-1] == "1000_t.up.sql"


def test_a_non_transactional_statement_inside_begin_commit_is_refused(tmp_path: Path) -> None:
    folder = write(tmp_path, {"001_a.sql": "BEGIN;\nCREATE INDEX CONCURRENTLY i ON t (id);\nCOMMIT;\n"})
    assert refusal(folder).startswith("001_a.sql:2: CREATE INDEX CONCURRENTLY cannot run inside the file's BEGIN")


def test_flyway_placeholders_are_refused(tmp_path: Path) -> None:
    folder = write(tmp_path, {"V1__a.sql": "SELECT 1;\nCREATE SCHEMA ${flyway:defaultSchema};\n"})
    message = refusal(folder)
    assert message.startswith("V1__a.sql:2: Flyway placeholder ${flyway:defaultSchema}")
    assert ":defaultSchema" in message


def test_sqitch_layout_settings_are_refused(tmp_path: Path) -> None:
    folder = write(
        tmp_path,
        {"sqitch.plan": "%project=x\na 2020-01-01T00:00:00Z A <a@b> # a\n", "deploy/a.sql": "SELECT 1;\n"},
    )
    assert ran(plan_for(folder)) == ["deploy/a.sql"]
    (folder / "sqitch.conf").write_text("[core]\n    engine = pg\n    top_dir = db\n")
    assert refusal(folder).startswith("sqitch.conf:3: sets top_dir")


def test_a_sqitch_change_without_its_deploy_script_is_refused(tmp_path: Path) -> None:
    folder = write(tmp_path, {"sqitch.plan": "a 2020-01-01T00:00:00Z A <a@b> # a\n"})
    assert refusal(folder).startswith("sqitch.plan:1: change a has no deploy/a.sql")


def test_a_goose_go_migration_is_refused(tmp_path: Path) -> None:
    folder = write(tmp_path, {"00001_a.sql": "-- +goose Up\nSELECT 1;\n", "00002_b.go": "package migrations\n"})
    assert refusal(folder).startswith("00002_b.go: is a goose Go migration")


@pytest.mark.parametrize(
    "line", ["\\set ON_ERROR_STOP off", "\\unset ON_ERROR_STOP", "\\set ON_ERROR_ROLLBACK on", "\\set ON_ERROR_STOP"]
)
def test_settings_that_go_on_after_an_error_are_refused(tmp_path: Path, line: str) -> None:
    folder = write(tmp_path, {"001_a.sql": f"-- clockwork:no-transaction\nSELECT 1;\n{line}\nSELECT 2;\n"})
    assert refusal(folder).startswith(f"001_a.sql:3: {line}")


def test_settings_that_keep_stopping_are_fine(tmp_path: Path) -> None:
    text = "\\set ON_ERROR_STOP on\n\\set ON_ERROR_ROLLBACK off\n\\set x 1\nSELECT :x;\n"
    assert ran(plan_for(write(tmp_path, {"001_a.sql": text}))) == ["001_a.sql"]


@pytest.mark.parametrize(
    ("included", "needle"),
    [
        ("\\c other\n", "lib/x.sql:1: \\c connects to another database"),
        ("SELECT 1;\n\\q\n", "lib/x.sql:2: \\q ends the file early"),
        ("\\set ON_ERROR_STOP off\n", "lib/x.sql:1: \\set ON_ERROR_STOP off lets the file go on after an error"),
        ("COMMIT;\nCREATE TABLE u (id int);\n", "lib/x.sql:1: COMMIT in a file 001_a.sql includes"),
        ("\\ir y.sql\n", "lib/y.sql:1: \\connect connects to another database"),  # nested, relative to lib/
    ],
    ids=["connect", "quit", "error-stop", "commit", "nested"],
)
def test_what_a_file_includes_is_held_to_the_same_rules(tmp_path: Path, included: str, needle: str) -> None:
    files = {"001_a.sql": "CREATE TABLE t (id int);\n\\ir lib/x.sql\n", "lib/x.sql": included}
    files["lib/y.sql"] = "\\connect other\n"
    message = refusal(write(tmp_path, files))
    assert message.startswith(needle), message


def test_a_no_transaction_file_may_include_transaction_control(tmp_path: Path) -> None:
    files = {"001_a.sql": "-- clockwork:no-transaction\n\\i lib/x.sql\n", "lib/x.sql": "BEGIN;\nSELECT 1;\nCOMMIT;\n"}
    (step,) = plan_for(write(tmp_path, files)).steps
    assert step.tx == "none"
    loop = write(tmp_path / "loop", {"001_a.sql": "\\i lib/x.sql\n", "lib/x.sql": "\\i lib/x.sql\nSELECT 1;\n"})
    assert ran(plan_for(loop)) == ["001_a.sql"]  # an include loop is psql's to report, not a hang here
