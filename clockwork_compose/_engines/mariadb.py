"""MariaDB and MySQL (``mariadb``, ``mysql`` images).

Credentials come from the images' env contract: ``MARIADB_*`` (the mariadb image) and
``MYSQL_*`` (both). The readiness probe pings over TCP on 127.0.0.1: the images run their
init-time server with ``--skip-networking``, so the probe is false until initialisation is
over. Migrations run through ``templates/migrator-mariadb.sh.j2`` on the image's own client
(``mariadb``, else ``mysql``) and execute the same plan as postgres's driver; MySQL commits
DDL implicitly, so the history table adds a ``state`` column (applying, applied, failed).
``assert`` queries from inside the container with the image's client (no host port needed).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from urllib.parse import unquote, urlsplit

from .._model import DatabaseTarget, EnvValue, Project
from ._engine import Credentials, Engine, ExecIn, Migrator, Row, Snapshots, repository_name, resolve, shown

#: The history table: postgres's shape (version, checksum, applied_at, note) plus ``state``.
HISTORY_TABLE = "clockwork_migrations"
#: GET_LOCK name prefix (the database name is appended: one lock per database).
LOCK_NAME = "clockwork-compose.migrations"
#: Runs the image's client, whichever name it has (mariadb 11 images have no ``mysql``).
_CLIENT = 'if command -v mariadb >/dev/null 2>&1; then exec mariadb "$@"; else exec mysql "$@"; fi'


def _setting(env: Mapping[str, EnvValue], name: str) -> EnvValue | None:
    """``MARIADB_<name>``, else ``MYSQL_<name>`` (the mariadb image reads both)."""
    for prefix in ("MARIADB_", "MYSQL_"):
        value = env.get(prefix + name)
        if value is not None and value != "":
            return value
    return None


def _run_file(path: str) -> str:
    return (
        "if command -v mariadb >/dev/null 2>&1; then c=mariadb; else c=mysql; fi; "
        '"$c" --protocol=tcp --host="$MYSQL_HOST" --port="${MYSQL_TCP_PORT:-3306}" --user="$MYSQL_USER" '
        f'${{MYSQL_DATABASE:+"--database=$MYSQL_DATABASE"}} --batch --skip-column-names <{path}'
    )


def _environment(host: str, port: int, creds: Credentials) -> dict[str, EnvValue]:
    # The driver passes host, port, user and database to the client; MYSQL_PWD keeps the
    # password off its command line.
    return {
        "MYSQL_HOST": host,
        "MYSQL_TCP_PORT": str(port),
        "MYSQL_USER": creds.user,
        "MYSQL_PWD": creds.password,
        "MYSQL_DATABASE": creds.database,
    }


#: The login every snapshot client shares; ``MYSQL_PWD`` carries the password.
_LOGIN = '--protocol=tcp --host=127.0.0.1 --port="$CW_PORT" --user="$CW_USER"'
#: A plain SQL dump (mariadb-dump, else mysqldump): one consistent read of InnoDB tables.
_DUMP = (
    "set -e; if command -v mariadb-dump >/dev/null 2>&1; then d=mariadb-dump; else d=mysqldump; fi; "
    f'"$d" {_LOGIN} --single-transaction --triggers --hex-blob "$CW_DATABASE" >"$1.part"; mv "$1.part" "$1"'
)
#: The name is quoted as an identifier (backticks doubled) inside the script, never spliced.
_RESTORE = (
    "set -e; if command -v mariadb >/dev/null 2>&1; then c=mariadb; else c=mysql; fi; "
    "q=$(printf '%s' \"$CW_DATABASE\" | sed 's/`/``/g'); "
    f'"$c" {_LOGIN} -e "DROP DATABASE IF EXISTS \\`$q\\`; CREATE DATABASE \\`$q\\`"; '
    f'"$c" {_LOGIN} --database="$CW_DATABASE" <"$1"'
)


def _snapshot_environment(target: DatabaseTarget, env: Mapping[str, str]) -> dict[str, str]:
    return {
        "CW_PORT": str(target.container_port),
        "CW_USER": resolve(target.user, env),
        "MYSQL_PWD": resolve(target.password, env),
        "CW_DATABASE": resolve(target.database, env),
    }


class MariaDB(Engine):
    name = "mariadb"
    images = ("mariadb", "mysql")
    log_hints = (
        # A database the user may not use ("Access denied for user 'app'@'%' to database 'two'")
        # or that root does not find: before the password's hint, whose words it shares.
        *(
            (
                words,
                "hint: the mariadb/mysql images create MARIADB_DATABASE/MYSQL_DATABASE (and grant it to their user) "
                "only when the data volume is first created, and this volume was created with another database: "
                "put the old name back, or create this one and grant it as root (CREATE DATABASE ...; GRANT ALL ON "
                "... TO ...), or start from an empty volume with `clockwork destroy` (deletes the data) and "
                "`clockwork apply`",
            )
            for words in ("' to database '", "Unknown database '")
        ),
        (
            "Access denied for user",
            "hint: the mariadb/mysql images apply their *_PASSWORD variables only when the data volume is first "
            "created: put the old password back, change it in the database (ALTER USER), or start from an empty "
            "volume with `clockwork destroy` (deletes the data) and `clockwork apply`",
        ),
    )
    password_example = '"MARIADB_USER": "app", "MARIADB_PASSWORD": Secret("DB_PASSWORD")'
    default_port = 3306
    url_template = "mysql://{user}:{password}@{host}:{port}/{database}"
    url_env_var = "DATABASE_URL"
    url_schemes = ("mysql", "mariadb")
    data_dir = "/var/lib/mysql"
    #: A '-' no database directory has (the server writes it as @002d): never a database.
    data_subdir = "mysql-data"
    snapshots = Snapshots(suffix=".sql", dump=_DUMP, restore=_RESTORE, environment=_snapshot_environment)
    migrator = Migrator(
        client="mariadb",
        lexer="mariadb_lexer",
        template="migrator-mariadb.sh.j2",
        history_table=HISTORY_TABLE,
        context={"lock_key": LOCK_NAME},
        environment=_environment,
        applied_where="state = 'applied'",
        run_file=_run_file,
    )

    def credentials(self, env: Mapping[str, EnvValue], command: Sequence[str] | str | None = None) -> Credentials:
        database = _setting(env, "DATABASE") or ""
        user = _setting(env, "USER")
        if user is not None:
            return Credentials(user, _setting(env, "PASSWORD") or "", database)
        return Credentials("root", _setting(env, "ROOT_PASSWORD") or "", database)

    def readiness(self, creds: Credentials, port: int, image: str | None = None) -> list[EnvValue]:
        # Over TCP: the init-time server has no network. `ping` exits 0 once the server
        # answers, even when it refuses the login, so no password is needed here.
        admin = "mysqladmin" if repository_name(image or "") == "mysql" else "mariadb-admin"
        return ["CMD", admin, "ping", "-h", "127.0.0.1", "--protocol=tcp", "-P", str(port), "--silent"]

    # -- assert: the image's own client, from inside the container ----------------------------

    def queryable(self, target: DatabaseTarget) -> bool:
        return True

    def where(self, target: DatabaseTarget) -> str:
        return f"{target.service}/{shown(target.database)} (from inside its container)"

    def query(self, target: DatabaseTarget, env: Mapping[str, str], sql: str, exec_in: ExecIn) -> list[Row]:
        argv = ["sh", "-c", _CLIENT, "clockwork", *client_arguments(target, env), "-e", sql]
        out = exec_in(target.service, argv, {"MYSQL_PWD": resolve(target.password, env)})
        return [tuple(line.split("\t")) for line in out.splitlines()]

    def query_url(self, url: str, sql: str, project: Project, exec_in: ExecIn) -> list[Row]:
        """The image's client, in the container of the project's MariaDB/MySQL service the URL
        reaches: its service name (``mysql://u:p@db:3306/shop``), or its published port on
        127.0.0.1. The host has no client of its own to rely on."""
        parts = urlsplit(url)
        service, port = _service_for(project, self, parts.hostname or "", parts.port or self.default_port)
        database = unquote(parts.path.lstrip("/"))
        argv = ["sh", "-c", _CLIENT, "clockwork", "--protocol=tcp", "-h", "127.0.0.1", "-P", str(port)]
        argv += ["-u", unquote(parts.username or "root"), "--batch", "--skip-column-names"]
        argv += [*([f"--database={database}"] if database else []), "-e", sql]
        out = exec_in(service, argv, {"MYSQL_PWD": unquote(parts.password or "")})
        return [tuple(line.split("\t")) for line in out.splitlines()]


def _service_for(project: Project, engine: Engine, host: str, port: int) -> tuple[str, int]:
    """The service of ``engine`` that ``host:port`` reaches, and its port in the container."""
    ours = [s for s in project.ordered() if s.engine == engine.name and s.migrator is None]
    for service in ours:
        if service.name == host:
            return service.name, port
        if host in ("127.0.0.1", "localhost") and any(p.host == port for p in service.ports):
            return service.name, next(p.container for p in service.ports if p.host == port)
    names = ", ".join(s.name for s in ours) or "none"
    raise LookupError(
        f"{host}:{port} is no {engine.name} service of this project ({names}): clockwork runs the query with "
        "the client inside that service's container, so give a url whose host is the service's name, or "
        "127.0.0.1 and the port it publishes"
    )


def client_arguments(target: DatabaseTarget, env: Mapping[str, str]) -> list[str]:
    """The client's options to log in as the target's connection does (over TCP)."""
    database = resolve(target.database, env)
    return [
        "--protocol=tcp",
        "-h",
        "127.0.0.1",
        "-P",
        str(target.container_port),
        "-u",
        resolve(target.user, env),
        "--batch",
        "--skip-column-names",
        *([f"--database={database}"] if database else []),
    ]


ENGINE = MariaDB()
