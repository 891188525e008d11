"""A corpus of bad declarations, each run as a real `clockwork build` in a throwaway project.

Every case must exit 2 with exactly one line on stderr that names the resource, the field
and the fix, show no traceback, and leave the compose file and .env that were already
there byte-identical. The builds run a few at a time (each is a Python process) and every
case checks its own result.
"""

from __future__ import annotations

import concurrent.futures
import os
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from support import HEADER, Result, run_cli

DB = 'db = DockerResource(name="db", image="postgres:16", env_vars={"POSTGRES_PASSWORD": Secret("PW")})\n'
APP = 'app = DockerResource(name="app", image="example/app:1")\n'
OLD_COMPOSE = b"# an older docker-compose.yml that a failing build must not touch\nservices: {}\n"
OLD_ENV = b"USER_VALUE='kept'\nPW=\"old\"\n"


@dataclass(frozen=True)
class Case:
    id: str
    main: str | None  # None: no main.py at all
    resource: str | None  # named as "resource 'NAME'" (None: the message names main.py)
    field: str | None  # named as "field 'FIELD'"
    fix: str  # a fragment of the fix
    files: dict[str, str] = field(default_factory=dict)


CASES = [
    Case(
        "cycle",
        APP + 'b = DockerResource(name="bb", image="x/b")\napp.connect(b)\nb.connect(app)\n',
        "app",
        "connect",
        "remove one connect()",
    ),
    Case("self-dependency", APP + "app.connect(app)\n", "app", "connect", "remove this connect()"),
    Case(
        "unknown-placeholder",
        DB + APP + "app.connect(DatabaseConnection(to_resource=db, "
        'connection_string_template="postgresql://{user}:{pass}@{host}/{database}"))\n',
        "app",
        "connection_string_template",
        "use only {user}",
    ),
    Case(
        "broken-template-brace",
        DB + APP + 'app.connect(DatabaseConnection(to_resource=db, connection_string_template="postgresql://{user"))\n',
        "app",
        "connection_string_template",
        "{{",
    ),
    Case(
        "placeholder-with-format-spec",
        DB + APP + 'app.connect(DatabaseConnection(to_resource=db, connection_string_template="pg://{port:>5}"))\n',
        "app",
        "connection_string_template",
        "use only",
    ),
    Case(
        "missing-schema-file",
        DB + APP + 'app.connect(DatabaseConnection(to_resource=db, schema_file="schema.sql"))\n',
        "app",
        "schema_file",
        "create the file",
    ),
    Case(
        "missing-migrations-dir",
        DB + APP + 'app.connect(DatabaseConnection(to_resource=db, migrations_dir="migrations/"))\n',
        "app",
        "migrations_dir",
        "create the dir",
    ),
    Case(
        "secret-in-a-command",
        'c = DockerResource(name="cache", image="valkey/valkey:8", command=["valkey-server", "--requirepass", '
        'Secret("PW")])\n',
        "cache",
        "command",
        'password=Secret("NAME")',
    ),
    Case(
        "password-on-an-engine-configured-by-env",
        'db = DockerResource(name="db", image="postgres:16", password=Secret("PW"))\n',
        "db",
        "password",
        'env_vars={"POSTGRES_PASSWORD": Secret("DB_PASSWORD")}',
    ),
    Case(
        "password-on-an-unknown-image",
        'c = DockerResource(name="cache", image="example/cache:1", password=Secret("PW"))\n',
        "cache",
        "password",
        "in env_vars or command",
    ),
    Case(
        "password-and-requirepass",
        'c = DockerResource(name="cache", image="valkey/valkey:8", password=Secret("PW"),'
        ' command=["valkey-server", "--requirepass", "x"])\n',
        "cache",
        "password",
        "set the password once",
    ),
    Case(
        "password-with-a-command-that-is-not-the-server",
        'c = DockerResource(name="cache", image="valkey/valkey:8", password=Secret("PW"), command="sh -c true")\n',
        "cache",
        "password",
        "run the server in command",
    ),
    Case(
        "password-with-an-entrypoint",
        'c = DockerResource(name="cache", image="valkey/valkey:8", password=Secret("PW"),'
        ' entrypoint=["valkey-server"])\n',
        "cache",
        "password",
        "remove entrypoint",
    ),
    Case(
        "password-on-a-bitnami-image",
        'c = DockerResource(name="cache", image="bitnami/valkey:8", password=Secret("PW"))\n',
        "cache",
        "password",
        "REDIS_PASSWORD",
    ),
    Case(
        "two-databases-one-data-volume",
        'one = DockerResource(name="one", image="postgres:16", volumes=["pgdata:/var/lib/postgresql/data"])\n'
        'two = DockerResource(name="two", image="postgres:16", volumes=["pgdata:/var/lib/postgresql/data/"])\n',
        "two",
        "volumes",
        'volumes=["two_data:/var/lib/postgresql/data"] on two',
    ),
    Case(
        "two-engines-one-data-volume",
        'pg = DockerResource(name="pg", image="postgres:16", volumes=["data:/var/lib/postgresql"])\n'
        'my = DockerResource(name="my", image="mariadb:11", volumes=["data:/var/lib/mysql"])\n',
        "pg",  # resources are checked in name order: "my" owns it first
        "volumes",
        "give each its own volume",
    ),
    Case(
        "an-app-serving-a-database-volume",
        'db = DockerResource(name="db", image="postgres:16", volumes=["pgdata:/var/lib/postgresql/data"])\n'
        'copy = DockerResource(name="copy", image="example/pg-fork:1", volumes=["pgdata:/var/lib/postgresql/data"])\n',
        "copy",
        "volumes",
        "give each its own volume",
    ),
    Case(
        "connect-in-a-no-transaction-migration",
        DB + APP + 'app.connect(DatabaseConnection(to_resource=db, migrations_dir="migrations/"))\n',
        "app",
        "migrations_dir",
        "give that database its own DatabaseConnection",
        {"migrations/001_a.sql": "-- clockwork:no-transaction\n\\c other\nCREATE TABLE t (id int);\n"},
    ),
    Case(
        "connect-hidden-after-another-command",
        DB + APP + 'app.connect(DatabaseConnection(to_resource=db, migrations_dir="migrations/"))\n',
        "app",
        "migrations_dir",
        "give that database its own DatabaseConnection",
        {"migrations/001_a.sql": "-- clockwork:no-transaction\n\\echo switching \\connect other\n"},
    ),
    Case(
        "connect-in-an-included-file",
        DB + APP + 'app.connect(DatabaseConnection(to_resource=db, migrations_dir="migrations/"))\n',
        "app",
        "migrations_dir",
        "give that database its own DatabaseConnection",
        {"migrations/001_a.sql": "\\ir lib/other.sql\n", "migrations/lib/other.sql": "\\c other\n"},
    ),
    Case(
        "schema-file-outside-project",
        DB + APP + 'app.connect(DatabaseConnection(to_resource=db, schema_file="../outside.sql"))\n',
        "app",
        "schema_file",
        "allow_outside_project=True",
        {"../outside.sql": "select 1;"},
    ),
    Case(
        "schema-file-is-a-folder",
        DB + APP + 'app.connect(DatabaseConnection(to_resource=db, schema_file="migrations"))\n',
        "app",
        "schema_file",
        "create the file",
        {"migrations/001.sql": "select 1;"},
    ),
    Case("no-image-no-dockerfile", 'DockerResource(name="web")\n', "web", "image", "add web/Dockerfile"),
    Case(
        "build-context-outside-project",
        'DockerResource(name="web", build="..")\n',
        "web",
        "build",
        "allow_outside_project=True",
    ),
    Case("build-context-missing", 'DockerResource(name="web", build="./nope")\n', "web", "build", "create the dir"),
    Case(
        "duplicate-names",
        'DockerResource(name="web", image="a/b")\nDockerResource(name="web", image="a/c")\n',
        "web",
        "name",
        "unique name",
    ),
    Case("uppercase-name", 'DockerResource(name="Web", image="a/b")\n', "Web", "name", "lower-case"),
    Case("name-with-space", 'DockerResource(name="my web", image="a/b")\n', "my web", "name", "lower-case"),
    Case("name-missing", 'DockerResource(image="a/b")\n', "<unnamed DockerResource>", "name", "pass name="),
    Case(
        "port-out-of-range",
        'DockerResource(name="web", image="a/b", ports=["70000:80"])\n',
        "web",
        "ports",
        "ports 1-65535",
    ),
    Case("port-zero", 'DockerResource(name="web", image="a/b", ports=["0:80"])\n', "web", "ports", "ports 1-65535"),
    Case(
        "port-not-a-mapping",
        'DockerResource(name="web", image="a/b", ports=["http"])\n',
        "web",
        "ports",
        "HOST:CONTAINER",
    ),
    Case(
        "port-injection",
        'DockerResource(name="web", image="a/b", ports=["80:80\\n  evil: 1"])\n',
        "web",
        "ports",
        "HOST:CONTAINER",
    ),
    Case(
        "port-listed-twice",
        'DockerResource(name="web", image="a/b", ports=["80", "80"])\n',
        "web",
        "ports",
        "list each of ports once",
    ),
    Case(
        "mount-target-twice",
        'DockerResource(name="web", image="a/b", volumes=["a:/data", "b:/data/"])\n',
        "web",
        "volumes",
        "list each of volumes once",
    ),
    Case(
        "port-published-twice",
        'DockerResource(name="aa", image="a/b", ports=["8080:80"])\n'
        'DockerResource(name="bb", image="a/b", ports=["8080:81"])\n',
        "bb",
        "ports",
        "another host port",
    ),
    Case("port-as-int", 'DockerResource(name="web", image="a/b", ports=[8080])\n', "web", "ports.0", "in quotes"),
    Case(
        "env-value-as-int",
        'DockerResource(name="web", image="a/b", env_vars={"N": 1})\n',
        "web",
        "env_vars.N",
        "in quotes",
    ),
    Case(
        "env-name-invalid",
        'DockerResource(name="web", image="a/b", env_vars={"1ST=X": "a"})\n',
        "web",
        "env_vars",
        "DATABASE_URL",
    ),
    Case("misspelled-field", 'DockerResource(name="web", imgae="a/b")\n', "web", "imgae", "did you mean 'image'"),
    Case(
        "misspelled-connection-field",
        DB + APP + 'app.connect(DatabaseConnection(to_resource=db, passwrd="x"))\n',
        "db",
        "passwrd",
        "'password'",
    ),
    Case(
        "wrong-type-restart",
        'DockerResource(name="web", image="a/b", restart="sometimes")\n',
        "web",
        "restart",
        "see the README",
    ),
    Case(
        "timeout-zero",
        DB + APP + "app.connect(DatabaseConnection(to_resource=db, timeout=0))\n",
        "db",
        "timeout",
        "positive number",
    ),
    Case(
        "image-invalid",
        'DockerResource(name="web", image="Postgres:15 latest")\n',
        "web",
        "image",
        "postgres:15-alpine",
    ),
    Case(
        "working-dir-relative",
        'DockerResource(name="web", image="a/b", working_dir="app")\n',
        "web",
        "working_dir",
        "absolute path",
    ),
    Case(
        "label-name-invalid",
        'DockerResource(name="web", image="a/b", labels={"bad key": "v"})\n',
        "web",
        "labels",
        "label",
    ),
    Case(
        "secret-name-invalid",
        'DockerResource(name="web", image="a/b", env_vars={"P": Secret("db-pass")})\n',
        "db-pass",
        "name",
        'Secret("DB_PASSWORD")',
    ),
    Case(
        "bind-mount-outside-project",
        'DockerResource(name="web", image="a/b", volumes=["/etc:/host-etc"])\n',
        "web",
        "volumes",
        "allow_outside_project=True",
    ),
    Case(
        "bind-mount-missing",
        'DockerResource(name="web", image="a/b", volumes=["./data:/data"])\n',
        "web",
        "volumes",
        "create the path",
    ),
    Case(
        "volume-target-relative",
        'DockerResource(name="web", image="a/b", volumes=["data:data"])\n',
        "web",
        "volumes",
        "NAME:/path",
    ),
    Case(
        "volume-name-invalid",
        'DockerResource(name="web", image="a/b", volumes=["my data:/data"])\n',
        "web",
        "volumes",
        "NAME:/path",
    ),
    Case(
        "network-name-invalid",
        'DockerResource(name="web", image="a/b", networks=["front end"])\n',
        "web",
        "networks",
        "letters, digits",
    ),
    Case("connect-to-a-string", APP + 'app.connect("db")\n', "app", "connect", "pass a DockerResource"),
    Case(
        "env-var-set-twice",
        DB + 'app = DockerResource(name="app", image="a/b", env_vars={"DATABASE_URL": "x"})\n'
        "app.connect(DatabaseConnection(to_resource=db))\n",
        "app",
        "env_vars",
        "remove it from env_vars",
    ),
    Case(
        "two-connections-same-variable",
        DB + APP + "app.connect(DatabaseConnection(to_resource=db))\napp.connect(DatabaseConnection(to_resource=db))\n",
        "app",
        "env_var_name",
        "another env_var_name",
    ),
    Case(
        "unknown-engine-without-template",
        APP + 'q = DockerResource(name="queue", image="example/q:1", ports=["9"])\n'
        "app.connect(DatabaseConnection(to_resource=q))\n",
        "app",
        "connection_string_template",
        "connection_string_template=",
    ),
    Case(
        "migrations-on-redis",
        APP + 'r = DockerResource(name="cache", image="redis:7")\n'
        'app.connect(DatabaseConnection(to_resource=r, connection_string_template="redis://{host}:{port}", '
        'schema_file="schema.sql"))\n',
        "app",
        "schema_file",
        "remove schema_file",
        {"schema.sql": "select 1;"},
    ),
    Case(
        "different-schemas-for-one-database",
        DB + APP + 'b = DockerResource(name="bb", image="a/b")\n'
        'app.connect(DatabaseConnection(to_resource=db, schema_file="a.sql"))\n'
        'b.connect(DatabaseConnection(to_resource=db, schema_file="b.sql"))\n',
        "bb",
        "schema_file",
        "same value",
        {"a.sql": "select 1;", "b.sql": "select 2;"},
    ),
    Case(
        "migrator-name-taken",
        DB + APP + 'DockerResource(name="db-migrator", image="a/b")\n'
        'app.connect(DatabaseConnection(to_resource=db, schema_file="s.sql"))\n',
        "db-migrator",
        "name",
        "rename the resource",
        {"s.sql": "select 1;"},
    ),
    Case(
        "connection-needs-a-port",
        'q = DockerResource(name="queue", image="example/q:1")\n'
        + APP
        + 'app.connect(DatabaseConnection(to_resource=q, connection_string_template="q://{host}:{port}"))\n',
        "queue",
        "ports",
        "add ports=",
    ),
    Case(
        "healthcheck-wrong-type",
        'DockerResource(name="web", image="a/b", healthcheck="curl localhost")\n',
        "web",
        "healthcheck",
        "see the README",
    ),
    Case(
        "port-ip-not-an-address",
        'DockerResource(name="web", image="a/b", ports=["999.1.1.1:8080:80"])\n',
        "web",
        "ports",
        '"127.0.0.1:8080:80"',
    ),
    Case(
        "port-ipv6-not-an-address",
        'DockerResource(name="web", image="a/b", ports=["[1::2::3]:8080:80"])\n',
        "web",
        "ports",
        "IPv6 one in brackets",
    ),
    Case(
        "healthcheck-interval-below-a-millisecond",
        'DockerResource(name="web", image="a/b", healthcheck=HealthCheck(test=["CMD", "true"], interval=0.0001))\n',
        "web",
        "healthcheck.interval",
        "seconds from 0.001 to 999999",
    ),
    Case(
        "healthcheck-timeout-too-long-to-write",
        'DockerResource(name="web", image="a/b", healthcheck=HealthCheck(test="true", timeout=1e7))\n',
        "web",
        "healthcheck.timeout",
        "seconds from 0.001 to 999999",
    ),
    Case(
        "healthcheck-start-period-infinite",
        'DockerResource(name="web", image="a/b", healthcheck=HealthCheck(test="true", start_period=float("inf")))\n',
        "web",
        "healthcheck.start_period",
        "seconds from 0.001 to 999999",
    ),
    Case(
        "probe-interval-below-a-millisecond",
        'DockerResource(name="web", image="a/b", ports=["80"], readiness=HttpProbe("/health", interval=0.00001))\n',
        "web",
        "readiness.interval",
        "seconds from 0.001 to 999999",
    ),
    Case(
        "mount-target-twice-once-normalised",
        'DockerResource(name="web", image="a/b", volumes=["a:/data", "b:/srv/../data/."])\n',
        "web",
        "volumes",
        "list each of volumes once",
    ),
    Case(
        "mount-target-twice-double-slash",
        'DockerResource(name="web", image="a/b", volumes=["a:/var/data", "b://var//data"])\n',
        "web",
        "volumes",
        "list each of volumes once",
    ),
    Case(
        "two-redis-both-want-redis-url",
        APP + 'r1 = DockerResource(name="cache", image="redis:7")\n'
        'r2 = DockerResource(name="queue", image="valkey/valkey:8")\n'
        "app.connect(r1)\napp.connect(r2)\n",
        "app",
        "connect",
        'env_var_name="QUEUE_URL"',
    ),
    Case(
        "label-in-clockworks-namespace",
        'DockerResource(name="web", image="a/b", labels={"dev.clockwork.role": "database"})\n',
        "web",
        "labels",
        "a namespace of your own",
    ),
    Case("main-syntax-error", "DockerResource(name='web', image='a/b'\n", None, None, "fix the syntax of main.py"),
    Case("main-raises", 'raise RuntimeError("first line\\nsecond line")\n', None, None, "fix main.py"),
    Case("main-declares-nothing", "x = 1\n", None, None, "declare at least one resource"),
    Case("empty-folder", None, None, None, "create main.py"),
    Case(
        "database-query-unknown-scheme",
        'app = DockerResource(name="app", image="example/app:1", '
        'assertions=[DatabaseQuery(url="redis://:pw@127.0.0.1:6379/0")])\n',
        "app",
        "assertions",
        "start it with one of postgresql://",
    ),
    Case(
        "mariadb-migration-switches-database",
        'db = DockerResource(name="db", image="mariadb:11", env_vars={"MARIADB_ROOT_PASSWORD": Secret("PW")})\n'
        + APP
        + 'app.connect(DatabaseConnection(to_resource=db, migrations_dir="migrations"))\n',
        "app",
        "migrations_dir",
        "give that database its own DatabaseConnection",
        {"migrations/001_a.sql": "# it's MariaDB\nCREATE TABLE `o'brien` (id INT);\nUSE other;\n"},
    ),
]


def _project(root: Path, case: Case) -> Path:
    project = root / case.id / "project"
    project.mkdir(parents=True)
    if case.main is not None:
        (project / "main.py").write_text(HEADER + textwrap.dedent(case.main), encoding="utf-8")
    for relative, content in case.files.items():
        path = (project / relative).resolve()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")
    (project / "docker-compose.yml").write_bytes(OLD_COMPOSE)
    (project / ".env").write_bytes(OLD_ENV)
    os.chmod(project / ".env", 0o640)
    return project


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Result]]:
    root = tmp_path_factory.mktemp("bad-input")
    projects = {case.id: _project(root, case) for case in CASES}
    env = {"PW": "from-the-environment"}
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        futures = {name: pool.submit(run_cli, "build", "-C", str(path), env=env) for name, path in projects.items()}
        return {name: (projects[name], future.result()) for name, future in futures.items()}


def test_the_corpus_is_large_and_ids_are_unique():
    assert len(CASES) >= 30
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_one_clear_line_and_changes_nothing(case: Case, results: dict[str, tuple[Path, Result]]):
    project, result = results[case.id]
    assert result.code == 2, result.err
    assert "Traceback" not in result.err and "Traceback" not in result.out
    lines = result.err.splitlines()
    assert len(lines) == 1, result.err
    line = lines[0]
    assert line.startswith("error: ")
    if case.resource is not None:
        assert f"resource {case.resource!r}" in line, line
    else:
        assert "main.py" in line, line
    if case.field is not None:
        assert f"field {case.field!r}" in line, line
    assert case.fix in line, line
    assert (project / "docker-compose.yml").read_bytes() == OLD_COMPOSE
    assert (project / ".env").read_bytes() == OLD_ENV
    assert (project / ".env").stat().st_mode & 0o777 == 0o640
    assert sorted(p.name for p in project.iterdir() if p.name.startswith(".") and p.name != ".env") == []
