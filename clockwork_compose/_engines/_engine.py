"""What an engine is: everything clockwork must know about one kind of server image.

Lowering, the compose emitter, ``apply`` and ``assert`` ask an :class:`Engine` and never
name one. An engine module subclasses :class:`Engine` and overrides only what differs
(sqlglot's dialect shape); :mod:`clockwork_compose._engines` lists them in ``CATALOG``.
"""

from __future__ import annotations

import importlib
import shlex
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .._model import DatabaseTarget, EnvValue, Interpolation, Project, SecretRef, Var

if TYPE_CHECKING:
    from .._sql import Dialect

#: Runs argv in a container (``docker exec``) with extra environment variables; returns its
#: stdout. ``assert`` passes ``_runtime``'s, a unit test passes a fake.
ExecIn = Callable[[str, Sequence[str], Mapping[str, str]], str]
#: A row of a query's result.
Row = tuple[object, ...]
#: Where an engine's readiness probe reaches it from inside its own container.
LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class Credentials:
    """Who a connection logs in as, read from the database resource's own settings."""

    user: EnvValue
    password: EnvValue
    database: EnvValue
    #: The engine container's own variable that holds the password, when it comes from the
    #: image's env: a probe reads it there, so the password is not written twice.
    password_variable: str | None = None


@dataclass(frozen=True)
class Migrator:
    """How an engine runs schema files and migrations: a driver template (a POSIX sh script
    executing the plan of :mod:`clockwork_compose._migrations`) on the image's own client."""

    #: The client program the driver runs inside the engine's image.
    client: str
    #: The driver template, in ``templates/``.
    template: str
    #: The module of this package that scans the client's scripts (its ``DIALECT``):
    #: imported when a build first plans migrations, so its regexes stay off start-up.
    lexer: str
    #: The bookkeeping table (the same shape for every engine; see each driver).
    history_table: str
    #: The values the template renders besides the engine-neutral ones (table, lock...).
    context: Mapping[str, object] = field(default_factory=dict)
    #: The migrator's environment: (database host, port, credentials) -> variables.
    environment: Callable[[str, int, Credentials], dict[str, EnvValue]] = lambda host, port, creds: {}
    #: A condition on the history table's rows that marks a step applied (None: every row).
    applied_where: str | None = None
    #: A POSIX sh command running the SQL file at the path it is given with the client,
    #: logged in from the migrator's environment, printing each row's values bare (a
    #: Kubernetes wait polls the history table with it). None: no such command.
    run_file: Callable[[str], str] | None = None

    def dialect(self) -> Dialect:
        """The client's script language: how planning splits, checks and checksums files."""
        dialect: Dialect = importlib.import_module(f"{__package__}.{self.lexer}").DIALECT
        return dialect

    def applied_sql(self) -> str:
        """The query ``assert`` runs for the record names of the applied steps."""
        where = f" WHERE {self.applied_where}" if self.applied_where else ""
        return f"SELECT version FROM {self.history_table}{where} ORDER BY version"

    def history_sql(self) -> str:
        """The query `migrations status` runs: each applied record's name, checksum and time."""
        where = f" WHERE {self.applied_where}" if self.applied_where else ""
        return f"SELECT version, checksum, applied_at FROM {self.history_table}{where} ORDER BY version"

    def unfinished_sql(self) -> str | None:
        """The records of steps that started and did not finish (failed, or cut off while
        applying); None when the driver never leaves one (each step is one transaction)."""
        if not self.applied_where:
            return None
        return f"SELECT version, state FROM {self.history_table} WHERE NOT ({self.applied_where}) ORDER BY version"

    def clear_sql(self) -> str | None:
        """Forget the unfinished records, so that the next apply runs those steps again."""
        if not self.applied_where:
            return None
        return f"DELETE FROM {self.history_table} WHERE NOT ({self.applied_where})"


@dataclass(frozen=True)
class Snapshots:
    """How an engine dumps a database and loads it back (`clockwork restore`): POSIX sh
    scripts run by the image's own clients in a throwaway container that shares the
    database's network, so its server is on 127.0.0.1. Each takes the dump's path as ``$1``;
    the login comes from :attr:`environment`, never the script's text."""

    #: The dump's file name ends with this (what makes it a snapshot in the volume).
    suffix: str
    #: Writes the dump to ``$1``: to ``$1.part`` first, renamed once complete.
    dump: str
    #: Drops and recreates the database, then loads the dump at ``$1`` into it.
    restore: str
    #: (target, the run's values) -> the clients' environment: login, port, database.
    environment: Callable[[DatabaseTarget, Mapping[str, str]], dict[str, str]]


class Refusal(Exception):
    """A declaration an engine cannot carry out as written: what is wrong, and the fix."""

    def __init__(self, problem: str, fix: str) -> None:
        super().__init__(f"{problem}; {fix}")
        self.problem, self.fix = problem, fix


class Engine:
    """An engine with its defaults; subclasses override what differs."""

    name: str = ""
    #: Image repository names (last path component) that run this engine.
    images: tuple[str, ...] = ()
    default_port: int = 0
    #: Ports the engine also serves that clients of the engine never connect to (a
    #: management UI): a connection does not pick them when the default port is not mapped.
    other_ports: tuple[int, ...] = ()
    #: The engine's usual URL, with clockwork's placeholders.
    url_template: str = ""
    #: The variable a plain ``connect()`` injects.
    url_env_var: str = ""
    #: The URL schemes that name this engine (``DatabaseQuery(url=...)`` goes to it).
    url_schemes: tuple[str, ...] = ()
    #: Where the image keeps its data (clockwork mounts a named volume there).
    data_dir: str = ""
    #: The folder of a fresh volume that holds the data where the volume's root holds
    #: ``lost+found`` (a Kubernetes claim): the image's initialisation refuses or misreads a
    #: data directory that is not empty. "": the volume's root.
    data_subdir: str = ""
    #: The image's variable that moves its data into ``data_subdir`` (None: the target
    #: mounts that folder of the volume at ``data_dir``).
    data_subdir_variable: str | None = None
    #: Whether the container needs a hostname that does not change when it is recreated.
    fixed_hostname: bool = False
    #: Seconds one readiness probe may take (None: lowering's default).
    probe_timeout: float | None = None
    #: Schema files and migrations; None: this engine has none.
    migrator: Migrator | None = None
    #: Dumps and restores (`snapshot=True`, `clockwork restore`); None: this engine has none.
    snapshots: Snapshots | None = None
    #: Words the engine writes when a login fails, and what to do: apply adds the advice to
    #: a failure whose logs hold them (the images apply passwords only to a fresh volume).
    log_hints: tuple[tuple[str, str], ...] = ()
    #: How env_vars sets the password, for the message that refuses ``password=``.
    password_example: str = '"PASSWORD": Secret("DB_PASSWORD")'

    def recognises(self, image: str | None) -> bool:
        return bool(image) and repository_name(image or "") in self.images

    def credentials(self, env: Mapping[str, EnvValue], command: Sequence[str] | str | None = None) -> Credentials:
        """The user, password and database a client logs in with, from the image's own
        environment contract (and, for engines configured on the command line, its command)."""
        return Credentials("", "", "")

    def url(self, creds: Credentials) -> str:
        """The URL template a plain ``connect()`` fills (some depend on the credentials)."""
        return self.url_template

    def with_password(
        self,
        password: EnvValue,
        environment: Mapping[str, EnvValue],
        command: Sequence[str] | str | None,
        image: str | None,
    ) -> tuple[dict[str, EnvValue], tuple[str, ...] | str | None]:
        """The environment and command that give the server ``password``
        (``DockerResource.password``), so that ``credentials`` reads it back. Raises Refusal
        where the engine takes its password another way (its image's environment)."""
        raise Refusal(
            f"password= is for engines configured on the command line, and {self.name} reads its password "
            "from its environment",
            f"set it in env_vars, e.g. env_vars={{{self.password_example}}}",
        )

    def readiness(self, creds: Credentials, port: int, image: str | None = None) -> list[EnvValue]:
        """Healthcheck ``test`` true only once the engine serves clients over TCP (so false
        while the image's init-time server runs)."""
        raise NotImplementedError(self.name)

    def readiness_from(self, host: str, creds: Credentials, port: int, image: str | None = None) -> list[EnvValue]:
        """A check run in another container, on this engine's image, true once the engine at
        ``host``:``port`` serves clients (a Kubernetes init container, through the engine's
        Service). ``readiness`` reaches the engine over TCP on ``LOOPBACK``: by default the
        same probe, aimed at ``host``."""
        return [w.replace(LOOPBACK, host) if isinstance(w, str) else w for w in self.readiness(creds, port, image)]

    # -- how `assert` reaches the engine from the host ------------------------------------

    def queryable(self, target: DatabaseTarget) -> bool:
        """Whether ``assert`` can run SQL on this target (a host port, or a client in the image)."""
        return False

    def where(self, target: DatabaseTarget) -> str:
        """How a report line names the target's database."""
        return f"{target.service}/{shown(target.database)}"

    def query(self, target: DatabaseTarget, env: Mapping[str, str], sql: str, exec_in: ExecIn) -> list[Row]:
        """Run ``sql`` on the target's database as its connection logs in; the rows."""
        raise LookupError(f"clockwork cannot query {self.name}")

    def query_url(self, url: str, sql: str, project: Project, exec_in: ExecIn) -> list[Row]:
        """Run ``sql`` on the database ``url`` names (one of :attr:`url_schemes`); the rows."""
        raise LookupError(f"clockwork cannot query {self.name}")

    def __repr__(self) -> str:
        return f"<engine {self.name}>"


def repository_name(image: str) -> str:
    """``docker.io/library/postgres:15-alpine@sha256:...`` -> ``postgres``."""
    without_digest = image.split("@", 1)[0]
    last = without_digest.rsplit("/", 1)[-1]
    return last.split(":", 1)[0]


def argv(command: Sequence[str] | str | None) -> list[str]:
    """A service's command as words (a string is split as Compose splits it)."""
    if command is None:
        return []
    if isinstance(command, str):
        try:
            return shlex.split(command)
        except ValueError:
            return command.split()
    return list(command)


def option(words: Sequence[str], name: str) -> str | None:
    """The value of ``--name value`` or ``--name=value`` in ``words`` (the last one wins)."""
    found = None
    for i, word in enumerate(words):
        if word == name and i + 1 < len(words):
            found = words[i + 1]
        elif word.startswith(name + "="):
            found = word[len(name) + 1 :]
    return found


def resolve(value: EnvValue, env: Mapping[str, str]) -> str:
    """A value, with a secret read from ``env`` (the environment and .env)."""
    if isinstance(value, SecretRef):
        if value.variable not in env:
            raise LookupError(f"secret {value.variable} has no value: export it or add it to .env")
        return env[value.variable]
    if isinstance(value, Interpolation):
        return "".join(p if isinstance(p, str) else _variable(p, env) for p in value.parts)
    return value


def _variable(var: Var, env: Mapping[str, str]) -> str:
    """What Compose makes of one variable with ``env`` as its environment and .env."""
    value = env.get(var.name)
    if var.required and not value:
        raise LookupError(f"{var.name} has no value: export it or add it to .env")
    if var.default is not None and (value is None or (value == "" and not var.keep_empty)):
        return var.default
    return value or ""


def shown(value: EnvValue) -> str:
    """A value for a report line: a secret shows as its variable, never its value."""
    if isinstance(value, Interpolation):
        return "".join(p if isinstance(p, str) else f"${{{p.name}}}" for p in value.parts)
    return f"${{{value.variable}}}" if isinstance(value, SecretRef) else value
