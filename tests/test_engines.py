"""The engine catalog: each engine module's recognition, probe, URL and credentials, and
that lowering asks the engine (a new engine in CATALOG works without touching lowering)."""

from __future__ import annotations

from pathlib import Path

import pytest
from _compile import compile_dir

from clockwork_compose import _engines
from clockwork_compose._engines import (
    Credentials,
    Engine,
    Migrator,
    engine_for_image,
    mariadb,
    postgres,
    rabbitmq,
    redis,
)
from clockwork_compose._errors import DeclarationError
from clockwork_compose._model import DatabaseTarget, SecretRef


@pytest.mark.parametrize(
    ("image", "engine"),
    [
        ("postgres:15-alpine", "postgres"),
        ("docker.io/library/postgres:16@sha256:" + "0" * 64, "postgres"),
        ("postgis/postgis:16-3.4", "postgres"),
        ("redis:7-alpine", "redis"),
        ("valkey/valkey:8", "redis"),
        ("eqalpha/keydb:latest", "redis"),
        ("bitnami/redis:7.2", "redis"),
        ("registry.example.com:5000/team/app:1.2", None),
        ("nginx:alpine", None),
        (None, None),
    ],
)
def test_an_engine_is_recognised_from_its_image(image: str | None, engine: str | None) -> None:
    found = engine_for_image(image)
    assert (found.name if found else None) == engine


def test_every_engine_in_the_catalog_is_complete() -> None:
    names = [engine.name for engine in _engines.CATALOG]
    assert len(names) == len(set(names))
    for engine in _engines.CATALOG:
        assert engine.images and engine.default_port and engine.url_env_var and engine.data_dir.startswith("/")
        test = engine.readiness(engine.credentials({}), engine.default_port, engine.images[0])
        # over TCP on 127.0.0.1 (rabbitmq-diagnostics checks every listener itself)
        assert test[0] in ("CMD", "CMD-SHELL"), engine.name
        assert "127.0.0.1" in " ".join(map(str, test)) or "check_port_connectivity" in test, engine.name
    assert _engines.with_migrations() == tuple(e.name for e in _engines.CATALOG if e.migrator)


# -- postgres -------------------------------------------------------------------------------


def test_postgres_credentials_follow_the_image_contract() -> None:
    pg = postgres.ENGINE
    assert pg.credentials({}) == Credentials("postgres", "", "postgres")
    assert pg.credentials({"POSTGRES_USER": "app"}) == Credentials("app", "", "app")
    secret = SecretRef("DB_PASSWORD")
    env = {"POSTGRES_USER": "u", "POSTGRES_PASSWORD": secret, "POSTGRES_DB": "d"}
    assert pg.credentials(env) == Credentials("u", secret, "d")


def test_postgres_probe_is_over_tcp_and_the_migrator_gets_libpq_variables() -> None:
    pg = postgres.ENGINE
    test = pg.readiness(Credentials("u", "p", "d"), 5433)
    assert test == ["CMD", "pg_isready", "-h", "127.0.0.1", "-p", "5433", "-U", "u", "-d", "d"]
    assert pg.migrator is not None
    env = pg.migrator.environment("db", 5432, Credentials("u", SecretRef("S"), "d"))
    assert env == {"PGHOST": "db", "PGPORT": "5432", "PGUSER": "u", "PGPASSWORD": SecretRef("S"), "PGDATABASE": "d"}
    assert pg.migrator.applied_sql() == "SELECT version FROM clockwork_migrations ORDER BY version"


def test_postgres_is_queried_through_its_host_port_only() -> None:
    target = DatabaseTarget("app", "db", "postgres", "DATABASE_URL", "u", "p w", "d/b", 5432, None, None)
    assert not postgres.ENGINE.queryable(target)
    with pytest.raises(LookupError, match="publishes no host port"):
        postgres.ENGINE.query(target, {}, "SELECT 1", lambda *a: "")
    published = DatabaseTarget("app", "db", "postgres", "DATABASE_URL", "u", "p w", "d/b", 5432, 15432, None)
    assert postgres.ENGINE.queryable(published)
    assert postgres.dsn(published, {}) == "postgresql://u:p%20w@127.0.0.1:15432/d%2Fb"


# -- redis, valkey, keydb -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("image", "client"),
    [("redis:7", "redis-cli"), ("valkey/valkey:8", "valkey-cli"), ("eqalpha/keydb:latest", "keydb-cli")],
)
def test_the_redis_probe_uses_the_images_own_client_and_wants_pong(image: str, client: str) -> None:
    (kind, line) = redis.ENGINE.readiness(Credentials("", "", "0"), 6379, image)
    assert kind == "CMD-SHELL"
    assert line == f"{client} -h 127.0.0.1 -p 6379 ping | grep -q PONG"


@pytest.mark.parametrize(
    "command",
    [
        ["valkey-server", "--requirepass", "s3 cr'et"],
        ["--appendonly", "yes", "--requirepass=s3 cr'et"],
        'valkey-server --requirepass "s3 cr\'et"',
    ],
)
def test_a_requirepass_password_goes_into_the_url_and_the_probe(command: list[str] | str) -> None:
    engine = redis.ENGINE
    creds = engine.credentials({}, command)
    assert creds == Credentials("", "s3 cr'et", "0")
    assert engine.url(creds) == "redis://:{password}@{host}:{port}/0"
    (_, line) = engine.readiness(creds, 6379, "valkey/valkey:8")
    assert line == "REDISCLI_AUTH='s3 cr'\"'\"'et' valkey-cli -h 127.0.0.1 -p 6379 ping | grep -q PONG"


def test_an_image_env_password_is_read_by_the_probe_from_the_containers_own_variable() -> None:
    secret = SecretRef("CACHE_PASSWORD")
    creds = redis.ENGINE.credentials({"VALKEY_PASSWORD": secret})
    assert creds == Credentials("", secret, "0", password_variable="VALKEY_PASSWORD")
    (_, line) = redis.ENGINE.readiness(creds, 6380, "bitnami/valkey:8")
    assert line == 'REDISCLI_AUTH="$VALKEY_PASSWORD" valkey-cli -h 127.0.0.1 -p 6380 ping | grep -q PONG'
    assert redis.ENGINE.url(redis.ENGINE.credentials({})) == "redis://{host}:{port}/0"


# -- lowering asks the engine ---------------------------------------------------------------


class _Fake(Engine):
    """An engine no module defines: lowering must handle it from its answers alone."""

    name = "fakedb"
    images = ("fakedb",)
    default_port = 7000
    url_template = "fake://{user}:{password}@{host}:{port}/{database}"
    url_env_var = "FAKE_URL"
    data_dir = "/srv/fake"
    migrator = Migrator(
        client="psql",
        template="migrator.sh.j2",
        lexer="postgres_lexer",
        history_table="fake_history",
        context={"lock_key": 7},
        environment=lambda host, port, creds: {"FAKE_HOST": host, "FAKE_PORT": str(port), "FAKE_USER": creds.user},
    )

    def credentials(self, env, command=None):  # type: ignore[no-untyped-def]
        return Credentials(env.get("FAKE_USER", "root"), env.get("FAKE_PASSWORD", ""), "main")

    def readiness(self, creds, port, image=None):  # type: ignore[no-untyped-def]
        return ["CMD", "fake-ping", "127.0.0.1", str(port), creds.user]


MAIN = """\
from clockwork_compose import DatabaseConnection, DockerResource

db = DockerResource(name="db", image="fakedb:1", env_vars={"FAKE_USER": "ann", "FAKE_PASSWORD": "p@ss"})
app = DockerResource(name="app", image="nginx:alpine")
app.connect(db)
worker = DockerResource(name="worker", image="nginx:alpine")
worker.connect(DatabaseConnection(to_resource=db, schema_file="schema.sql", env_var_name="DB"))
"""


PASSWORD_MAIN = """
from clockwork_compose import *
cache = DockerResource(name="cache", image="{image}", password=Secret("CACHE_PASSWORD"){extra})
app = DockerResource(name="app", image="example/app:1")
app.connect(cache)
"""


@pytest.mark.parametrize(
    ("image", "variable", "client"),
    [
        ("valkey/valkey:8", "VALKEY_PASSWORD", "valkey-cli"),
        ("redis:7-alpine", "REDIS_PASSWORD", "redis-cli"),
        ("eqalpha/keydb:latest", "KEYDB_PASSWORD", "keydb-cli"),
    ],
)
def test_password_reaches_the_server_the_url_and_the_probe_never_the_file(
    tmp_path: Path, image: str, variable: str, client: str
) -> None:
    """Valkey with a password: Secret was refused in command, and a typed way was missing."""
    (tmp_path / "main.py").write_text(PASSWORD_MAIN.format(image=image, extra=""))
    project, text, doc = compile_dir(tmp_path)
    cache = doc["services"]["cache"]
    assert cache["environment"] == {
        variable: "${CACHE_PASSWORD:?CACHE_PASSWORD is not set: run clockwork build with it in the environment}"
    }
    # The official entrypoint runs the server ("-..." arguments mean the server), with the
    # password a shell in the container expands from the variable.
    assert cache["command"] == [
        "/bin/sh",
        "-c",
        f'exec docker-entrypoint.sh "$$@" --requirepass "$${variable}"',
        "clockwork-password",
    ]
    assert cache["healthcheck"]["test"] == [
        "CMD-SHELL",
        f'REDISCLI_AUTH="$${variable}" {client} -h 127.0.0.1 -p 6379 ping | grep -q PONG',
    ]
    assert doc["services"]["app"]["environment"]["REDIS_URL"].startswith("${CLOCKWORK_APP_REDIS_URL:?")
    assert project.env_file["CLOCKWORK_APP_REDIS_URL"].resolve({"CACHE_PASSWORD": "p@ss"}) == (
        "redis://:p%40ss@cache:6379/0"
    )
    assert project.warnings == []


def test_password_keeps_the_servers_own_arguments(tmp_path: Path) -> None:
    extra = ', command=["valkey-server", "--appendonly", "yes"]'
    (tmp_path / "main.py").write_text(PASSWORD_MAIN.format(image="valkey/valkey:8", extra=extra))
    _, _, doc = compile_dir(tmp_path)
    assert doc["services"]["cache"]["command"][3:] == ["clockwork-password", "valkey-server", "--appendonly", "yes"]


def test_the_password_command_runs_the_entrypoint_with_the_expanded_password(tmp_path: Path) -> None:
    """The command as the container's /bin/sh runs it, with a stand-in docker-entrypoint.sh
    that prints the arguments it gets: the password arrives whole, quotes and $ included."""
    import os
    import subprocess

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    entrypoint = bin_dir / "docker-entrypoint.sh"
    entrypoint.write_text('#!/bin/sh\nfor a in "$@"; do printf "[%s]\\n" "$a"; done\n')
    entrypoint.chmod(0o755)
    _, command = redis.ENGINE.with_password(SecretRef("X"), {}, ["valkey-server", "--port", "6380"], "valkey/valkey:8")
    assert command is not None and not isinstance(command, str)
    password = "a b\"c'$HOME`x`"
    env = {"PATH": f"{bin_dir}:{os.environ['PATH']}", "VALKEY_PASSWORD": password}
    done = subprocess.run(list(command), env=env, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["[valkey-server]", "[--port]", "[6380]", "[--requirepass]", f"[{password}]"]


def test_a_literal_requirepass_or_password_warns_that_it_is_committed_in_clear(tmp_path: Path) -> None:
    (tmp_path / "main.py").write_text(
        "from clockwork_compose import *\n"
        'DockerResource(name="one", image="redis:7", command=["redis-server", "--requirepass", "hunter2"])\n'
        'DockerResource(name="two", image="valkey/valkey:8", command="valkey-server --requirepass=hunter2")\n'
        'DockerResource(name="three", image="valkey/valkey:8", password="hunter2")\n'
    )
    project, _, _ = compile_dir(tmp_path)
    (warning,) = project.warnings
    assert warning.startswith(
        "plain-text password in one command --requirepass, three password, two command --requirepass will be "
        "committed in clear"
    )
    assert "hunter2" not in warning and 'password=Secret("' in warning


def test_a_new_engine_in_the_catalog_needs_no_change_to_lowering(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_engines, "CATALOG", (*_engines.CATALOG, _Fake()))
    (tmp_path / "main.py").write_text(MAIN)
    (tmp_path / "schema.sql").write_text("CREATE TABLE t (id int);\n")
    model, _, doc = compile_dir(tmp_path)
    services = doc["services"]
    assert services["app"]["environment"]["FAKE_URL"] == "fake://ann:p%40ss@db:7000/main"
    assert services["worker"]["environment"]["DB"] == "fake://ann:p%40ss@db:7000/main"
    assert services["db"]["healthcheck"]["test"] == ["CMD", "fake-ping", "127.0.0.1", "7000", "ann"]
    assert "db_data:/srv/fake" in services["db"]["volumes"]
    migrator = services["db-migrator"]
    assert migrator["environment"] == {"FAKE_HOST": "db", "FAKE_PORT": "7000", "FAKE_USER": "ann"}
    assert migrator["tmpfs"] == ["/srv/fake"]
    assert model.services["db-migrator"].engine == "fakedb"


def test_migrations_on_an_engine_without_them_name_the_engines_that_have_them(tmp_path: Path) -> None:
    (tmp_path / "main.py").write_text(MAIN.replace("fakedb:1", "redis:7-alpine").replace("app.connect(db)\n", ""))
    (tmp_path / "schema.sql").write_text("SELECT 1;\n")
    with pytest.raises(DeclarationError) as caught:
        compile_dir(tmp_path)
    engines = ", ".join(_engines.with_migrations())
    assert f"clockwork runs schema files and migrations for {engines} only" in str(caught.value)
    assert caught.value.field == "schema_file"


# -- mariadb / mysql ------------------------------------------------------------------------


def test_mariadb_credentials_follow_both_images_contracts() -> None:
    engine = mariadb.ENGINE
    assert engine.credentials({"MARIADB_ROOT_PASSWORD": "r"}) == Credentials("root", "r", "")
    assert engine.credentials({"MYSQL_ROOT_PASSWORD": "r", "MYSQL_DATABASE": "d"}) == Credentials("root", "r", "d")
    secret = SecretRef("DB_PASSWORD")
    env = {"MARIADB_USER": "shop", "MARIADB_PASSWORD": secret, "MYSQL_DATABASE": "shop", "MARIADB_ROOT_PASSWORD": "r"}
    assert engine.credentials(env) == Credentials("shop", secret, "shop")
    # MARIADB_* wins over MYSQL_* (the mariadb image reads both)
    assert engine.credentials({"MARIADB_USER": "a", "MYSQL_USER": "b"}).user == "a"


@pytest.mark.parametrize(("image", "admin"), [("mariadb:11", "mariadb-admin"), ("mysql:8.4", "mysqladmin")])
def test_mariadb_probe_pings_over_tcp_with_the_images_own_admin(image: str, admin: str) -> None:
    test = mariadb.ENGINE.readiness(Credentials("u", "p", "d"), 3307, image)
    assert test == ["CMD", admin, "ping", "-h", "127.0.0.1", "--protocol=tcp", "-P", "3307", "--silent"]
    assert engine_for_image(image) is mariadb.ENGINE


def test_mariadb_url_is_percent_encoded(tmp_path: Path) -> None:
    (tmp_path / "main.py").write_text(
        "from clockwork_compose import DockerResource\n"
        'db = DockerResource(name="db", image="mariadb:11", env_vars={"MARIADB_USER": "u@x", '
        '"MARIADB_PASSWORD": "p:w/d?#", "MARIADB_DATABASE": "my db"})\n'
        'app = DockerResource(name="app", image="nginx:alpine")\n'
        "app.connect(db)\n"
    )
    _, _, doc = compile_dir(tmp_path)
    assert doc["services"]["app"]["environment"]["DATABASE_URL"] == "mysql://u%40x:p%3Aw%2Fd%3F%23@db:3306/my%20db"
    assert "db_data:/var/lib/mysql" in doc["services"]["db"]["volumes"]


def test_mariadb_migrator_keeps_a_state_and_assert_reads_applied_rows_only() -> None:
    migrator = mariadb.ENGINE.migrator
    assert migrator is not None and migrator.template == "migrator-mariadb.sh.j2"
    env = migrator.environment("db", 3306, Credentials("u", SecretRef("S"), "d"))
    assert env == {
        "MYSQL_HOST": "db",
        "MYSQL_TCP_PORT": "3306",
        "MYSQL_USER": "u",
        "MYSQL_PWD": SecretRef("S"),
        "MYSQL_DATABASE": "d",
    }
    assert migrator.applied_sql() == "SELECT version FROM clockwork_migrations WHERE state = 'applied' ORDER BY version"
    assert migrator.clear_sql() == "DELETE FROM clockwork_migrations WHERE NOT (state = 'applied')"
    assert postgres.ENGINE.migrator is not None and postgres.ENGINE.migrator.clear_sql() is None


def test_mariadb_is_queried_with_the_images_client_inside_its_container() -> None:
    target = DatabaseTarget("app", "db", "mariadb", "DATABASE_URL", "u", SecretRef("S"), "d", 3306, None, None)
    calls = []

    def exec_in(name: str, argv: object, env: object) -> str:
        calls.append((name, argv, env))
        return "001_a.sql\tapplied\n002_b.sql\tfailed\n"

    assert mariadb.ENGINE.queryable(target)
    rows = mariadb.ENGINE.query(target, {"S": "pw"}, "SELECT 1", exec_in)
    assert rows == [("001_a.sql", "applied"), ("002_b.sql", "failed")]
    (name, argv, env) = calls[0]
    assert name == "db" and env == {"MYSQL_PWD": "pw"}
    assert argv[-2:] == ["-e", "SELECT 1"] and "--database=d" in argv and "pw" not in argv  # type: ignore[index,operator]


# -- rabbitmq -------------------------------------------------------------------------------


def test_rabbitmq_credentials_url_probe_and_fixed_hostname(tmp_path: Path) -> None:
    engine = rabbitmq.ENGINE
    assert engine.credentials({}) == Credentials("guest", "guest", "/")
    assert engine.readiness(engine.credentials({}), 5672) == [
        "CMD",
        "rabbitmq-diagnostics",
        "-q",
        "check_port_connectivity",
    ]
    (tmp_path / "main.py").write_text(
        "from clockwork_compose import DockerResource\n"
        'mq = DockerResource(name="mq", image="rabbitmq:3-management", ports=["15672:15672"], '
        'env_vars={"RABBITMQ_DEFAULT_USER": "app", '
        '"RABBITMQ_DEFAULT_PASS": "s/cr@t", "RABBITMQ_DEFAULT_VHOST": "jobs/v1"})\n'
        'guest = DockerResource(name="guest", image="rabbitmq:3")\n'
        'app = DockerResource(name="app", image="nginx:alpine")\n'
        "app.connect(mq)\n"
        'other = DockerResource(name="other", image="nginx:alpine")\n'
        "other.connect(guest)\n"
    )
    _, _, doc = compile_dir(tmp_path)
    services = doc["services"]
    assert services["app"]["environment"]["AMQP_URL"] == "amqp://app:s%2Fcr%40t@mq:5672/jobs%2Fv1"
    assert services["other"]["environment"]["AMQP_URL"] == "amqp://guest:guest@guest:5672/%2F"
    assert services["mq"]["hostname"] == "mq" and "mq_data:/var/lib/rabbitmq" in services["mq"]["volumes"]
    assert services["mq"]["healthcheck"]["timeout"] == "10s"
    assert "hostname" not in services["app"]
    assert rabbitmq.ENGINE.migrator is None


# -- the engines' examples ------------------------------------------------------------------

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.mark.parametrize("example", ["mariadb-app", "rabbitmq-worker"])
def test_the_engine_examples_are_current_and_use_their_engine(example: str) -> None:
    model, text, _ = compile_dir(EXAMPLES / example)
    assert (EXAMPLES / example / "docker-compose.yml").read_text() == text, "run clockwork build in the example"
    engines = {s.engine for s in model.services.values() if s.engine}
    assert engines == {"mariadb" if example == "mariadb-app" else "rabbitmq"}
