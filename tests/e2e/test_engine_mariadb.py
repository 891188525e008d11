"""MariaDB end to end, on the real engine: examples/mariadb-app under names and ports of its
own (eng-*, 15901-15902), applied once and shared by the checks in file order: apply, the
app's own round trip through the injected mysql:// URL, assert, a second apply that changes
nothing, a failing migration (named, recorded failed, later applies refused until
`clockwork migrations clear-failed`), an edited applied file refused, two migrators at once
applying each file once, MySQL syntax (`#`, backticks, /*! */, DELIMITER) applied, destroy."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import threading
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import engine_support
import pytest
from e2e_support import REPO, Run, clockwork

from clockwork_compose import _docker, _migrator
from clockwork_compose._migrations import plan_for

pytestmark = pytest.mark.e2e
LOCK = Path("/tmp/clockwork-e2e-eng-mariadb.lock")

EXAMPLE = REPO / "examples" / "mariadb-app"
IMAGES = ("mariadb:11", "mysql:8.4", "clockwork-examples/shop-api:1")
DB, API, MYSQL = "eng-mdb", "eng-shop", "eng-mysql"
DB_PORT, API_PORT = 15901, 15902
#: Characters a URL must percent-encode, in the password the app logs in with.
PASSWORD = "p@ss:w/rd?#%"  # pragma: allowlist secret
ROOT_PASSWORD = "root-Secret-1"  # pragma: allowlist secret

MAIN = f'''
from clockwork_compose import DatabaseConnection, DatabaseQuery, DockerResource, HttpProbe, Secret

db = DockerResource(name="{DB}", image="mariadb:11", ports=["127.0.0.1:{DB_PORT}:3306"], env_vars={{
    "MARIADB_DATABASE": "shop", "MARIADB_USER": "shop",
    "MARIADB_PASSWORD": Secret("DB_PASSWORD"), "MARIADB_ROOT_PASSWORD": Secret("DB_ROOT_PASSWORD")}})
api = DockerResource(name="{API}", image="clockwork-examples/shop-api:1", build="./app",
                     ports=["127.0.0.1:{API_PORT}:80"], readiness=HttpProbe("/health", port=80), assertions=[
    DatabaseQuery(url="mysql://shop:p%40ss%3Aw%2Frd%3F%23%25@{DB}:3306/shop", query="SELECT COUNT(*) FROM items"),
    DatabaseQuery(url="mariadb://root:{ROOT_PASSWORD}@127.0.0.1:{DB_PORT}/shop", query="SELECT 'root'")])
api.connect(DatabaseConnection(to_resource=db, schema_file="schema.sql", migrations_dir="migrations"))
legacy = DockerResource(name="{MYSQL}", image="mysql:8.4", env_vars={{
    "MYSQL_DATABASE": "legacy", "MYSQL_USER": "old", "MYSQL_PASSWORD": "o/d pw", "MYSQL_ROOT_PASSWORD": "r"}})
api.connect(DatabaseConnection(to_resource=legacy, env_var_name="LEGACY_DATABASE_URL"))
'''


def _remove_dead_runs(names: tuple[str, ...], prefix: str) -> None:
    """Under the lock, a container with one of our names from a project of ours is what a
    killed run left: remove that project (by its labels, never by name alone)."""
    projects = {state.project for name in names if (state := _docker.container(name)) is not None}
    dead = tuple(p for p in projects if p.startswith(prefix))
    if dead:
        engine_support.remove_leftovers(projects=dead)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    missing = [image for image in IMAGES if not engine_support.image_exists(image)]
    if missing:
        message = f"images missing: {', '.join(missing)}; run scripts/build-test-images.sh"
        if os.environ.get("CLOCKWORK_E2E") == "required":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    folder = tmp_path_factory.mktemp("e2e") / f"eng-mariadb-{uuid.uuid4().hex[:8]}"
    folder.mkdir()
    for part in ("app", "migrations"):
        shutil.copytree(EXAMPLE / part, folder / part)
    shutil.copy(EXAMPLE / "schema.sql", folder)
    (folder / "main.py").write_text(MAIN)
    (folder / ".env").write_text(f"DB_PASSWORD='{PASSWORD}'\nDB_ROOT_PASSWORD={ROOT_PASSWORD}\n")
    # The container names are fixed: two runs of this module on one engine take turns.
    with LOCK.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        _remove_dead_runs((DB, API, MYSQL, f"{DB}-migrator"), "eng-mariadb-")
        try:
            yield folder
        finally:
            clockwork("destroy", cwd=folder)
            engine_support.remove_leftovers(projects=(folder.name,))
            fcntl.flock(handle, fcntl.LOCK_UN)


def sql(query: str, database: str = "shop") -> list[list[str]]:
    """Rows of a query, run as root with the image's own client inside the database container."""
    out = _docker.exec_in(
        DB,
        ["mariadb", "-uroot", "--batch", "--skip-column-names", f"--database={database}", "-e", query],
        env={"MYSQL_PWD": ROOT_PASSWORD},
    )
    return [line.split("\t") for line in out.splitlines()]


def history() -> dict[str, tuple[str, str]]:
    return {v: (state, at) for v, state, at in sql("SELECT version, state, applied_at FROM clockwork_migrations")}


def http(method: str, path: str) -> tuple[int, object]:
    request = urllib.request.Request(f"http://127.0.0.1:{API_PORT}{path}", method=method)
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (our own port)
        return response.status, json.loads(response.read())


def apply(folder: Path) -> Run:
    return clockwork("apply", cwd=folder)


def test_apply_runs_schema_and_migrations_and_the_app(stack: Path) -> None:
    result = apply(stack)
    assert result.code == 0, result.text
    assert history() == {
        "schema:schema.sql": ("applied", history()["schema:schema.sql"][1]),
        "001_add_created_at.sql": ("applied", history()["001_add_created_at.sql"][1]),
        "002_add_price.sql": ("applied", history()["002_add_price.sql"][1]),
    }
    compose = (stack / "docker-compose.yml").read_text()
    assert "mariadb-admin" in compose and "--protocol=tcp" in compose
    assert "mysqladmin" in compose  # the mysql image's own admin tool


def test_the_app_round_trips_through_the_injected_url(stack: Path) -> None:
    env = engine_support.container_env(API)
    assert env["DATABASE_URL"] == "mysql://shop:p%40ss%3Aw%2Frd%3F%23%25@eng-mdb:3306/shop"
    assert env["LEGACY_DATABASE_URL"] == "mysql://old:o%2Fd%20pw@eng-mysql:3306/legacy"
    status, created = http("POST", "/items?name=lamp&price_cents=1250")
    assert status == 201
    assert http("GET", "/items") == (200, [{"id": created["id"], "name": "lamp", "price_cents": 1250}])  # type: ignore[index]


def test_assert_passes_and_reads_the_history_inside_the_container(stack: Path) -> None:
    result = clockwork("assert", "--json", cwd=stack)
    assert result.code == 0, result.text
    checks = {c["name"]: c for c in json.loads(result.out)}
    recorded = checks["migrations of eng-mdb recorded in clockwork_migrations"]
    assert recorded["passed"] and recorded["detail"] == "3 of 3 recorded"
    assert checks["database eng-mdb/shop (from inside its container) reachable"]["passed"]
    # the mysql:8.4 image (here MariaDB under MySQL's contract: MYSQL_* only, mysqladmin, mysql)
    assert checks["database eng-mysql/legacy (from inside its container) reachable"]["passed"]
    assert checks["service eng-mysql healthy"]["passed"]
    # DatabaseQuery(url=...) goes to the engine its scheme names: the client in the service
    # the URL reaches, by its name or by its published port.
    assert checks[f"{API}: query 'SELECT COUNT(*) FROM items' succeeds"]["passed"]
    assert checks[f"{API}: query \"SELECT 'root'\" succeeds"]["detail"] == "1 row(s), first: root"


def test_a_second_apply_changes_nothing(stack: Path) -> None:
    before = history()
    db_id = _docker.container(DB).id  # type: ignore[union-attr]
    result = apply(stack)
    assert result.code == 0, result.text
    assert history() == before
    assert _docker.container(DB).id == db_id  # type: ignore[union-attr]


def test_a_failing_migration_is_recorded_failed_and_refused_until_cleared(stack: Path) -> None:
    bad = stack / "migrations" / "003_add_orders.sql"
    bad.write_text("CREATE TABLE orders (id INT PRIMARY KEY);\nSELEC nonsense;\nCREATE TABLE order_lines (id INT);\n")
    result = apply(stack)
    assert result.code != 0
    assert "FAILED 003_add_orders.sql: ERROR 1064" in result.text, result.text
    state, _ = history()["003_add_orders.sql"]
    assert state == "failed"
    note = sql("SELECT note FROM clockwork_migrations WHERE version = '003_add_orders.sql'")[0][0]
    assert "ERROR 1064" in note and "SELEC nonsense" in note
    # DDL is not transactional: the statement before the error stayed, the one after never ran.
    assert [t for (t,) in sql("SHOW TABLES LIKE 'order%'")] == ["orders"]

    again = apply(stack)
    assert again.code != 0
    assert "003_add_orders.sql is failed since an earlier apply" in again.text, again.text
    assert "clockwork migrations clear-failed" in again.text

    # The user fixes the database and the file, clears the record, and applies again.
    sql("DROP TABLE orders")
    bad.write_text("CREATE TABLE orders (id INT PRIMARY KEY);\n")
    cleared = clockwork("migrations", "clear-failed", cwd=stack)
    assert cleared.code == 0, cleared.text
    assert "eng-mdb: cleared 003_add_orders.sql (failed)" in cleared.text
    assert "003_add_orders.sql" not in history()
    fixed = apply(stack)
    assert fixed.code == 0, fixed.text
    assert history()["003_add_orders.sql"][0] == "applied"
    nothing = clockwork("migrations", "clear-failed", cwd=stack)
    assert nothing.code == 0 and "eng-mdb: no failed migration recorded" in nothing.text


def test_an_edited_applied_migration_is_refused(stack: Path) -> None:
    applied = stack / "migrations" / "002_add_price.sql"
    original = applied.read_text()
    applied.write_text(original + "ALTER TABLE items ADD COLUMN sku VARCHAR(20);\n")
    try:
        result = apply(stack)
        assert result.code != 0
        assert "002_add_price.sql changed after it was applied" in result.text, result.text
        assert "nothing was applied" in result.text
        assert "sku" not in {c for (c, *_) in sql("SHOW COLUMNS FROM items")}
    finally:
        applied.write_text(original)
    assert apply(stack).code == 0


def test_two_migrators_at_once_apply_each_file_once(stack: Path, tmp_path: Path) -> None:
    """Two drivers started together on a fresh database: GET_LOCK makes one wait, and it
    then finds every file applied."""
    sql("CREATE DATABASE conc; GRANT ALL ON conc.* TO 'shop'@'%'")
    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "001_log.sql").write_text("CREATE TABLE runs (n INT);\nDO SLEEP(1);\n")
    (folder / "002_insert.sql").write_text("INSERT INTO runs VALUES (1);\n")
    plan = plan_for(folder, engine="mariadb")
    _docker.exec_in(DB, ["mkdir", "-p", "/tmp/conc"])
    subprocess.run(["docker", "cp", str(folder), f"{DB}:/tmp/conc/migrations"], check=True)
    script = _migrator.render_migrator_script("mariadb")
    env = {
        "MYSQL_HOST": "127.0.0.1",
        "MYSQL_USER": "shop",
        "MYSQL_PWD": PASSWORD,
        "MYSQL_DATABASE": "conc",
        "CLOCKWORK_ROOT": "/tmp/conc",
    }
    outputs: list[str] = []

    def one() -> None:
        argv = ["sh", "-c", script, "clockwork-migrate", *plan.arguments()]
        outputs.append(_docker.exec_in(DB, argv, env=env))

    runners = [threading.Thread(target=one) for _ in range(2)]
    for runner in runners:
        runner.start()
    for runner in runners:
        runner.join()
    assert sql("SELECT count(*) FROM runs", "conc") == [["1"]]
    assert sorted(v for (v,) in sql("SELECT version FROM clockwork_migrations", "conc")) == [
        "001_log.sql",
        "002_insert.sql",
    ]
    text = "\n".join(outputs)
    assert "another migrator holds the lock, waiting for it" in text, text
    assert "done: 2 applied" in text and "done: 0 applied, 0 adopted, 2 already applied" in text, text


def _driver(plan_arguments: list[str], database: str, root: str) -> tuple[int, str]:
    """The MariaDB driver, run in the database container on ``root``: exit status, output."""
    env = ["-e", "MYSQL_HOST=127.0.0.1", "-e", "MYSQL_USER=shop", "-e", f"MYSQL_PWD={PASSWORD}"]
    env += ["-e", f"MYSQL_DATABASE={database}", "-e", f"CLOCKWORK_ROOT={root}"]
    script = _migrator.render_migrator_script("mariadb")
    argv = ["docker", "exec", *env, DB, "sh", "-c", script, "clockwork-migrate", *plan_arguments]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    return proc.returncode, proc.stdout + proc.stderr


def test_the_driver_runs_the_plan_contract_and_refuses_before_running(stack: Path, tmp_path: Path) -> None:
    """dbmate up sections, then the refusals postgres's driver makes: a file changed or
    missing since build, a migration out of order, an applied one deleted; nothing runs."""
    sql("CREATE DATABASE plans; GRANT ALL ON plans.* TO 'shop'@'%'")
    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "20240101000000_a.sql").write_text(
        "-- migrate:up\nCREATE TABLE a (id INT);\n\n-- migrate:down\nDROP TABLE a;\n"
    )
    (folder / "20240102000000_b.sql").write_text(
        "-- migrate:up\nCREATE TABLE b (id INT);\n-- migrate:down\nDROP TABLE b;\n"
    )
    _docker.exec_in(DB, ["mkdir", "-p", "/tmp/plans"])
    subprocess.run(["docker", "cp", str(folder), f"{DB}:/tmp/plans/migrations"], check=True)
    plan = plan_for(folder, engine="mariadb")
    assert plan.convention == "dbmate"
    code, out = _driver(plan.arguments(), "plans", "/tmp/plans")
    assert code == 0, out
    assert [t for (t,) in sql("SHOW TABLES", "plans")] == ["a", "b", "clockwork_migrations"]  # the downs never ran

    (folder / "20230101000000_z.sql").write_text(
        "-- migrate:up\nCREATE TABLE z (id INT);\n-- migrate:down\nDROP TABLE z;\n"
    )
    (folder / "20240101000000_a.sql").unlink()
    (folder / "20240103000000_c.sql").write_text("-- migrate:up\nCREATE TABLE c (id INT);\n-- migrate:down\n")
    later = plan_for(folder, engine="mariadb")
    _docker.exec_in(DB, ["rm", "-rf", "/tmp/plans/migrations"])
    subprocess.run(["docker", "cp", str(folder), f"{DB}:/tmp/plans/migrations"], check=True)
    code, out = _driver(later.arguments(), "plans", "/tmp/plans")
    assert code == 1
    assert "out of order: 20230101000000_z.sql sorts before an applied migration" in out, out
    assert "applied migration 20240101000000_a.sql is missing from the migrations folder" in out, out
    assert "nothing was applied: 2 problem(s) above" in out

    _docker.exec_in(DB, ["sh", "-c", "echo '-- edited' >> /tmp/plans/migrations/20240103000000_c.sql"])
    _docker.exec_in(DB, ["rm", "/tmp/plans/migrations/20230101000000_z.sql"])
    code, out = _driver(later.arguments(), "plans", "/tmp/plans")
    assert code == 1
    assert "20230101000000_z.sql: missing since clockwork build" in out, out
    assert "20240103000000_c.sql changed since clockwork build: run clockwork build" in out, out
    assert [t for (t,) in sql("SHOW TABLES", "plans")] == ["a", "b", "clockwork_migrations"]


def test_mysql_syntax_in_migrations_builds_and_applies(stack: Path) -> None:
    """`#` comments, backticks around o'brien, '' and \\' in strings, /*! */ bodies, and a
    procedure and a trigger in DELIMITER blocks (tests/data/mariadb): build reads them with
    MariaDB's lexer, apply runs each file whole, and a second apply changes nothing."""
    data = REPO / "tests" / "data" / "mariadb"
    migrations = stack / "migrations"
    shutil.copy(data / "schema.sql", migrations / "010_counts.sql")
    for number, name in ((11, "001_people.sql"), (12, "002_executable.sql"), (13, "003_routines.sql")):
        shutil.copy(data / "migrations" / name, migrations / f"0{number}_{name[4:]}")
    built = clockwork("build", cwd=stack)
    assert built.code == 0, built.text
    result = apply(stack)
    assert result.code == 0, result.text
    assert {v: state for v, (state, _) in history().items() if v.startswith("01")} == {
        "010_counts.sql": "applied",
        "011_people.sql": "applied",
        "012_executable.sql": "applied",
        "013_routines.sql": "applied",
    }
    assert sql("SELECT n FROM counts") == [["5"]]  # 3--1, then the procedure counted one more
    assert sql("SELECT name, COALESCE(nick, '-') FROM `o'brien` ORDER BY id") == [
        ["o'brien", "-"],
        ["d'arcy", "-"],
        ["o'malley", "o'm"],  # inserted by the procedure; the trigger set nick
    ]
    columns = [c for (c, *_) in sql("SHOW COLUMNS FROM `o'brien`")]
    assert "nick" in columns and "never_added" not in columns
    assert [t for (t, *_) in sql("SHOW TRIGGERS")] == ["o'brien_nick"]
    before = history()
    assert apply(stack).code == 0
    assert history() == before


def test_destroy_removes_everything(stack: Path) -> None:
    result = clockwork("destroy", cwd=stack)
    assert result.code == 0, result.text
    assert _docker.project_containers(stack.name) == []
    assert _docker.volumes(stack.name) == []
