"""Credentials on the real engine (issue 16, items 8, 17 and 18): .env keeps the password a
volume was created with while the environment wins for one run, as Compose reads them; a
password-protected Valkey through ``password=Secret(...)``; a database renamed on an old
volume gets a hint.

Small projects of their own (folders start with ``sm-``, host ports 16500-16599 on
127.0.0.1), each removed by label afterwards, also when a test fails."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import engine_support
import pytest
from e2e_support import CLI_TIMEOUT, Run

from clockwork_compose import _docker, _envfile, _lower

pytestmark = pytest.mark.e2e

HEADER = "from clockwork_compose import *  # noqa: F403\n"
#: An app that stays up and stops at once when Compose recreates it (sleep as PID 1 ignores
#: SIGTERM and would hold a recreate for 10 s).
IDLE = '["sh", "-c", "trap \'exit 0\' TERM; while :; do sleep 1; done"]'
APP_IMAGE = "connected-services-worker-service:latest"  # python3 with psycopg and redis
#: Variables of the tests' own environment that would change what these projects read.
OURS = ("ADV_PW", "CACHE_PASSWORD", "CLOCKWORK_SM_ENV_APP_DATABASE_URL", "CLOCKWORK_SM_VK_APP_REDIS_URL")


@dataclass
class Folder:
    dir: Path

    @property
    def name(self) -> str:
        return _lower.project_name(self.dir)

    def write(self, body: str) -> None:
        (self.dir / "main.py").write_text(HEADER + textwrap.dedent(body), encoding="utf-8")

    def cli(self, *args: str, env: dict[str, str] | None = None) -> Run:
        base = {k: v for k, v in os.environ.items() if k not in OURS}
        proc = subprocess.run(
            [sys.executable, "-m", "clockwork_compose", *args],
            cwd=self.dir,
            capture_output=True,
            text=True,
            timeout=CLI_TIMEOUT,
            env={**base, **(env or {})},
        )
        return Run(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture
def folder(tmp_path: Path) -> Iterator[Callable[[str], Folder]]:
    """Make project folders under tmp_path; everything of their projects is removed after."""
    made: list[Folder] = []

    def make(name: str) -> Folder:
        path = tmp_path / name
        path.mkdir(parents=True)
        made.append(Folder(path))
        engine_support.remove_leftovers(projects=[made[-1].name])  # a killed run's
        return made[-1]

    yield make
    engine_support.remove_leftovers(projects=sorted({f.name for f in made}))


def pg(port: int, user: str, password: str, database: str, sql: str) -> list[tuple[object, ...]]:
    import psycopg

    dsn = f"postgresql://{user}:{quote(password, safe='')}@127.0.0.1:{port}/{database}"
    with psycopg.connect(dsn, connect_timeout=5, autocommit=True) as conn:
        cursor = conn.execute(sql)  # type: ignore[arg-type]
        return list(cursor.fetchall()) if cursor.description else []


def env_of(container: str) -> dict[str, str]:
    """The environment Compose gave the container (its configuration, running or not)."""
    out = engine_support.docker("container", "inspect", container, "--format", "{{json .Config.Env}}").stdout
    return dict(item.split("=", 1) for item in json.loads(out))


# -- item 8: .env keeps its value; the environment wins for one run ----------------------------

ENV_MAIN = f"""
db = DockerResource(
    name="sm-env-db",
    image="postgres:15-alpine",
    ports=["127.0.0.1:16520:5432"],
    env_vars={{"POSTGRES_USER": "sm", "POSTGRES_DB": "smdb", "POSTGRES_PASSWORD": Secret("ADV_PW")}},
)
app = DockerResource(name="sm-env-app", image="{APP_IMAGE}", command={IDLE})
app.connect(DatabaseConnection(to_resource=db, password=Secret("ADV_PW")))
"""
OLD, NEW = "01d-pw", "n3w-pw"  # pragma: allowlist secret


def test_env_keeps_the_volumes_password_and_the_environment_wins_for_one_run(folder) -> None:
    """`ADV_PW=new clockwork build` replaced ADV_PW=old in .env, the only record of the
    password the volume was created with; a .env with a byte order mark lost its first
    variable. Now: .env's bytes never change, a run with another value in the environment
    uses it (Compose sees it, derived URL included) and says so, and the next run without
    it is back on .env's value, the one the data answers to."""
    project = folder("sm-env")
    project.write(ENV_MAIN)
    env_file = project.dir / ".env"
    (project.dir / ".gitignore").write_text(".env\n")
    env_file.write_bytes(b'\xef\xbb\xbfADV_PW="' + OLD.encode() + b'"\n')
    applied = project.cli("apply")
    assert applied.code == 0, applied.err
    recorded = env_file.read_bytes()
    assert recorded.startswith(b'\xef\xbb\xbfADV_PW="' + OLD.encode() + b'"\n') and recorded.count(b"ADV_PW=") == 1
    assert env_of("sm-env-db")["POSTGRES_PASSWORD"] == OLD
    pg(16520, "sm", OLD, "smdb", "CREATE TABLE items (id int)")
    pg(16520, "sm", OLD, "smdb", "INSERT INTO items VALUES (1), (2), (3)")

    built = project.cli("build", env={"ADV_PW": NEW})
    assert built.code == 0, built.err
    (line,) = [line for line in built.err.splitlines() if "ADV_PW" in line]
    assert line.startswith("ADV_PW in the environment differs from the value .env keeps: this run uses")
    assert NEW not in built.err and OLD not in built.err
    assert env_file.read_bytes() == recorded

    # The same run through apply: Compose, reading .env and the environment, uses the
    # environment's value, and the URL clockwork derives from it.
    overridden = project.cli("apply", env={"ADV_PW": NEW})
    assert overridden.code == 0, overridden.err
    assert sum("ADV_PW in the environment differs" in line for line in overridden.err.splitlines()) == 1
    assert NEW not in overridden.err
    assert env_file.read_bytes() == recorded
    assert env_of("sm-env-db")["POSTGRES_PASSWORD"] == NEW
    assert env_of("sm-env-app")["DATABASE_URL"] == f"postgresql://sm:{NEW}@sm-env-db:5432/smdb"
    # The volume was created with the old password: the server still wants it.
    assert pg(16520, "sm", OLD, "smdb", "SELECT count(*) FROM items") == [(3,)]

    # assert reads secrets with the same precedence: the environment's password is refused.
    refused = project.cli("assert", "--timeout", "0", env={"ADV_PW": NEW})
    assert refused.code == 1
    assert any(line.startswith("FAIL  database sm-env-db/smdb") for line in refused.out.splitlines()), refused.out
    passed = project.cli("assert", "--timeout", "30")
    assert passed.code == 0, passed.out + passed.err

    back = project.cli("apply")
    assert back.code == 0, back.err
    assert "ADV_PW" not in back.err
    assert env_of("sm-env-db")["POSTGRES_PASSWORD"] == OLD
    assert env_of("sm-env-app")["DATABASE_URL"] == f"postgresql://sm:{OLD}@sm-env-db:5432/smdb"
    assert env_file.read_bytes() == recorded
    assert _envfile.parse(recorded.decode())["ADV_PW"] == OLD
    assert pg(16520, "sm", OLD, "smdb", "SELECT count(*) FROM items") == [(3,)]

    # Exported but empty: Compose alone would take the empty value and refuse ${ADV_PW:?}.
    empty = project.cli("apply", env={"ADV_PW": ""})
    assert empty.code == 0, empty.err
    assert "ADV_PW is set but empty in the environment: this run uses the value .env keeps" in empty.err
    assert env_of("sm-env-db")["POSTGRES_PASSWORD"] == OLD
    assert env_file.read_bytes() == recorded


# -- item 17: Valkey with a password ---------------------------------------------------------

#: The app writes a key through REDIS_URL once, then idles; it is ready when it reads it back.
VK_APP = (
    "import os, signal, time, redis\n"
    "signal.signal(signal.SIGTERM, lambda *_: os._exit(0))\n"
    "redis.from_url(os.environ['REDIS_URL']).set('sm-key', 'written by the app')\n"
    "while True: time.sleep(1)\n"
)
VK_READY = "import os, redis; assert redis.from_url(os.environ['REDIS_URL']).get('sm-key') == b'written by the app'"
VK_MAIN = f"""
cache = DockerResource(
    name="sm-vk-cache",
    image="valkey/valkey:8",
    ports=["127.0.0.1:16530:6379"],
    password=Secret("CACHE_PASSWORD"),
    command=["valkey-server", "--appendonly", "yes"],
)
app = DockerResource(
    name="sm-vk-app",
    image="{APP_IMAGE}",
    command=["python3", "-c", {VK_APP!r}],
    readiness=CommandProbe(["python3", "-c", {VK_READY!r}], retries=30),
)
app.connect(cache)
"""
CACHE_PASSWORD = "p@ss w$rd\"'#1"  # pragma: allowlist secret


def test_a_password_protected_valkey_serves_its_app_and_refuses_everyone_else(folder) -> None:
    project = folder("sm-vk")
    project.write(VK_MAIN)
    applied = project.cli("apply", env={"CACHE_PASSWORD": CACHE_PASSWORD})
    assert applied.code == 0, applied.err
    assert "warning" not in applied.err

    # The file: references only, no form of the password.
    text = (project.dir / "docker-compose.yml").read_text()
    for form in (CACHE_PASSWORD, quote(CACHE_PASSWORD, safe=""), "p@ss", "p%40ss"):
        assert form not in text
    assert 'VALKEY_PASSWORD: "${CACHE_PASSWORD:?' in text and "--requirepass" in text
    assert _envfile.parse((project.dir / ".env").read_text()) == {
        "CACHE_PASSWORD": CACHE_PASSWORD,
        "CLOCKWORK_SM_VK_APP_REDIS_URL": f"redis://:{quote(CACHE_PASSWORD, safe='')}@sm-vk-cache:6379/0",
    }

    # The server: no password, no answer; the password, the app's key.
    refused = _docker.exec_in("sm-vk-cache", ["valkey-cli", "ping"])
    assert refused.strip() == "NOAUTH Authentication required."
    refused_get = _docker.exec_in("sm-vk-cache", ["valkey-cli", "get", "sm-key"])
    assert "NOAUTH" in refused_get
    auth = {"REDISCLI_AUTH": CACHE_PASSWORD}
    assert _docker.exec_in("sm-vk-cache", ["valkey-cli", "ping"], auth).strip() == "PONG"
    assert _docker.exec_in("sm-vk-cache", ["valkey-cli", "get", "sm-key"], auth).strip() == "written by the app"
    # The server's own arguments are kept, and it runs as the image's user, not root.
    assert _docker.exec_in("sm-vk-cache", ["valkey-cli", "config", "get", "appendonly"], auth).split() == [
        "appendonly",
        "yes",
    ]
    uid = _docker.exec_in("sm-vk-cache", ["sh", "-c", "awk '/^Uid:/ {print $2}' /proc/1/status"]).strip()
    assert uid not in ("", "0")

    checked = project.cli("assert", "--timeout", "30", env={"CACHE_PASSWORD": CACHE_PASSWORD})
    assert checked.code == 0, checked.out + checked.err
    assert "PASS  service sm-vk-cache healthy" in checked.out and "PASS  service sm-vk-app healthy" in checked.out

    # A second apply with the password from .env alone changes nothing.
    again = project.cli("apply")
    assert again.code == 0, again.err
    assert "0 recreated" in again.err or "unchanged" in again.err


# -- item 18: a database renamed on an old volume --------------------------------------------


@pytest.mark.parametrize(
    ("image", "env", "setting", "client_words", "port"),
    [
        (
            "postgres:15-alpine",
            '{"POSTGRES_USER": "sm", "POSTGRES_PASSWORD": "pw", "POSTGRES_DB": "one"}',
            "POSTGRES_DB",
            'database "two" does not exist',
            16540,
        ),
        (
            "mariadb:11",
            '{"MARIADB_USER": "sm", "MARIADB_PASSWORD": "pw", "MARIADB_ROOT_PASSWORD": "rootpw", '
            '"MARIADB_DATABASE": "one"}',
            "MARIADB_DATABASE",
            "Access denied for user 'sm'@'%' to database 'two'",
            16541,
        ),
    ],
    ids=["postgres", "mariadb"],
)
def test_a_database_renamed_on_its_old_volume_gets_a_hint_and_keeps_its_data(
    folder, image: str, env: str, setting: str, client_words: str, port: int
) -> None:
    engine = image.split(":")[0]
    project = folder(f"sm-rename-{engine}")
    (project.dir / "schema.sql").write_text("CREATE TABLE items (id int);\nINSERT INTO items VALUES (1), (2);\n")
    inside = 5432 if engine == "postgres" else 3306
    main = f"""
    db = DockerResource(name="sm-rename-{engine}-db", image="{image}", ports=["127.0.0.1:{port}:{inside}"],
                        env_vars={env})
    app = DockerResource(name="sm-rename-{engine}-app", image="{APP_IMAGE}", command={IDLE})
    app.connect(DatabaseConnection(to_resource=db, schema_file="schema.sql"))
    """
    project.write(main)
    first = project.cli("apply")
    assert first.code == 0, first.err
    volume = f"{project.name}_sm-rename-{engine}-db_data"
    assert volume in engine_support.volume_names()

    project.write(main.replace('"one"', '"two"'))
    failed = project.cli("apply")
    assert failed.code == 1, failed.err
    assert f"sm-rename-{engine}-db-migrator failed" in failed.err, failed.err
    assert client_words in failed.err
    hint = "only when the data volume is first created" if engine == "mariadb" else "creates POSTGRES_DB only when"
    assert failed.err.count("hint:") == 1 and hint in failed.err, failed.err
    assert setting in failed.err.split("hint:", 1)[1]
    assert "put the old password back" not in failed.err  # not the password's hint
    # Nothing lost: the volume and the first database's rows are where they were.
    assert volume in engine_support.volume_names()
    assert _rows(engine, port, "one") == 2

    project.write(main)  # the hint's first fix
    restored = project.cli("apply")
    assert restored.code == 0, restored.err
    assert _rows(engine, port, "one") == 2


def _rows(engine: str, port: int, database: str) -> int:
    if engine == "postgres":
        return int(str(pg(port, "sm", "pw", database, "SELECT count(*) FROM items")[0][0]))
    out = _docker.exec_in(
        "sm-rename-mariadb-db",
        ["mariadb", "-h", "127.0.0.1", "--protocol=tcp", "-usm", "-N", "-e", "SELECT count(*) FROM items", database],
        {"MYSQL_PWD": "pw"},
    )
    return int(out.strip())
