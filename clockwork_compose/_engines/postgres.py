"""PostgreSQL (``postgres``, ``postgis`` images)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from urllib.parse import quote

from .._model import DatabaseTarget, EnvValue, Project
from ._engine import Credentials, Engine, ExecIn, Migrator, Row, Snapshots, resolve, shown

HOST = "127.0.0.1"
CONNECT_TIMEOUT = 2
#: Bookkeeping table: ``(version text primary key, checksum text, applied_at timestamptz,
#: note text)``; ``note`` says where an adopted step's history came from.
HISTORY_TABLE = "clockwork_migrations"
#: ``pg_advisory_lock`` key serialising concurrent migrator runs on one database
#: (the first 8 bytes of sha256("clockwork-compose:migrations"), as a signed bigint).
LOCK_KEY = 3567609838304158359


def _run_file(path: str) -> str:
    return f"psql -X -q -w -A -t -v ON_ERROR_STOP=1 -f {path}"


def _environment(host: str, port: int, creds: Credentials) -> dict[str, EnvValue]:
    # libpq reads these; the driver passes nothing on psql's command line.
    return {
        "PGHOST": host,
        "PGPORT": str(port),
        "PGUSER": creds.user,
        "PGPASSWORD": creds.password,
        "PGDATABASE": creds.database,
    }


#: pg_dump's custom format: compressed, and pg_restore loads it into a fresh database.
_DUMP = 'set -e; pg_dump -w --format=custom --file="$1.part"; mv "$1.part" "$1"'
#: From template1 (the database itself is dropped): ``WITH (FORCE)`` ends the sessions
#: still on it (PostgreSQL 13 and later); then one transaction loads the dump.
_RESTORE = (
    "set -e; printf '%s\\n' 'DROP DATABASE IF EXISTS :\"db\" WITH (FORCE);' 'CREATE DATABASE :\"db\";' "
    '| psql -X -q -w -v ON_ERROR_STOP=1 -v db="$PGDATABASE" -d template1; '
    'pg_restore -w --exit-on-error --single-transaction -d "$PGDATABASE" "$1"'
)


def _snapshot_environment(target: DatabaseTarget, env: Mapping[str, str]) -> dict[str, str]:
    return {
        "PGHOST": HOST,
        "PGPORT": str(target.container_port),
        "PGUSER": resolve(target.user, env),
        "PGPASSWORD": resolve(target.password, env),
        "PGDATABASE": resolve(target.database, env),
    }


class Postgres(Engine):
    name = "postgres"
    images = ("postgres", "postgis")
    log_hints = (
        (
            'FATAL:  database "',  # ... "two" does not exist: libpq's words, in the client's log
            "hint: the postgres image creates POSTGRES_DB only when its data volume is first created, and this "
            "volume was created with another database: put the old POSTGRES_DB back, or create this one in the "
            "database (CREATE DATABASE ...), or start from an empty volume with `clockwork destroy` (deletes the "
            "data) and `clockwork apply`",
        ),
        (
            "password authentication failed",
            "hint: the postgres image applies POSTGRES_PASSWORD (and POSTGRES_USER) only when its data volume "
            "is first created, and this volume was created with another password: put the old password back, "
            "or change it in the database (ALTER USER ... PASSWORD ...), or start from an empty volume with "
            "`clockwork destroy` (deletes the data) and `clockwork apply`",
        ),
    )
    password_example = '"POSTGRES_PASSWORD": Secret("DB_PASSWORD")'
    default_port = 5432
    url_template = "postgresql://{user}:{password}@{host}:{port}/{database}"
    url_env_var = "DATABASE_URL"
    url_schemes = ("postgresql", "postgres")
    data_dir = "/var/lib/postgresql/data"
    data_subdir = "pgdata"
    data_subdir_variable = "PGDATA"
    migrator = Migrator(
        client="psql",
        lexer="postgres_lexer",
        template="migrator.sh.j2",
        history_table=HISTORY_TABLE,
        context={"table": HISTORY_TABLE, "lock_key": LOCK_KEY},
        environment=_environment,
        run_file=_run_file,
    )

    snapshots = Snapshots(suffix=".pgdump", dump=_DUMP, restore=_RESTORE, environment=_snapshot_environment)

    def credentials(self, env: Mapping[str, EnvValue], command: Sequence[str] | str | None = None) -> Credentials:
        user = env.get("POSTGRES_USER", "postgres")
        return Credentials(user, env.get("POSTGRES_PASSWORD", ""), env.get("POSTGRES_DB", user))

    def readiness(self, creds: Credentials, port: int, image: str | None = None) -> list[EnvValue]:
        # Over TCP: during initdb the official image listens on its Unix socket only.
        return ["CMD", "pg_isready", "-h", "127.0.0.1", "-p", str(port), "-U", creds.user, "-d", creds.database]

    # -- assert: psycopg through the published port ------------------------------------------

    def queryable(self, target: DatabaseTarget) -> bool:
        return target.host_port is not None

    def where(self, target: DatabaseTarget) -> str:
        return f"{target.service}/{shown(target.database)} on {HOST}:{target.host_port}"

    def query(self, target: DatabaseTarget, env: Mapping[str, str], sql: str, exec_in: ExecIn) -> list[Row]:
        if getattr(exec_in, "inside_only", False):  # the host cannot dial the port (a swarm node elsewhere)
            return query_inside(target, env, sql, exec_in)
        if target.host_port is None:
            raise LookupError(f"{target.service} publishes no host port: give the assertion a url")
        return query_url(dsn(target, env), sql)

    def query_url(self, url: str, sql: str, project: Project, exec_in: ExecIn) -> list[Row]:
        return query_url(url, sql)


def dsn(target: DatabaseTarget, env: Mapping[str, str]) -> str:
    """A libpq connection string to the target's database through its host port."""
    user = quote(resolve(target.user, env), safe="")
    password = quote(resolve(target.password, env), safe="")
    database = quote(resolve(target.database, env), safe="")
    return f"postgresql://{user}:{password}@{HOST}:{target.host_port}/{database}"


def query_inside(target: DatabaseTarget, env: Mapping[str, str], sql: str, exec_in: ExecIn) -> list[Row]:
    """The image's psql, in the database's container, over its TCP port there."""
    argv = ["psql", "-X", "-q", "-At", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1"]
    argv += ["-p", str(target.container_port), "-U", resolve(target.user, env), "-d", resolve(target.database, env)]
    out = exec_in(target.service, [*argv, "-c", sql], {"PGPASSWORD": resolve(target.password, env)})
    return [tuple(line.split("\t")) for line in out.splitlines()]


def query_url(url: str, sql: str) -> list[Row]:
    import psycopg  # only when a check runs: keeps it off the start-up path

    with psycopg.connect(url, connect_timeout=CONNECT_TIMEOUT, autocommit=True) as conn:
        cursor = conn.execute(sql)  # type: ignore[call-overload]
        return list(cursor.fetchall()) if cursor.description else []


ENGINE = Postgres()
