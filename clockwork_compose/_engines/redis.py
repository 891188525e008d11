"""Redis and the servers that speak its protocol: Valkey, KeyDB, Redis Stack.

The probe uses the client the image ships (``valkey-cli``, ``keydb-cli``, else
``redis-cli``); a password set with ``--requirepass`` (the official images' way) or the
image's env (``REDIS_PASSWORD``, ``VALKEY_PASSWORD``, ``KEYDB_PASSWORD``: Bitnami's contract)
goes into the URL and the probe.

``DockerResource.password`` on an official image (redis, valkey/valkey, eqalpha/keydb) sets
the image's password variable and runs the server through the image's own entrypoint with
``--requirepass "$VARIABLE"``, expanded by a shell in the container: the value is never in
the generated file, not even on a command line there. (An exec-form ``"$${VARIABLE}"`` would
not do: no shell expands it, and the server's password would be that literal text.)"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence

from .._model import EnvValue
from ._engine import Credentials, Engine, Refusal, argv, option, repository_name

#: The client each image repository ships, by repository name.
CLIENTS = {"valkey": "valkey-cli", "keydb": "keydb-cli"}
PASSWORD_VARIABLES = ("REDIS_PASSWORD", "VALKEY_PASSWORD", "KEYDB_PASSWORD")
#: Options of the server's command line that hold a password.
PASSWORD_OPTIONS = ("--requirepass", "--masterauth")
#: The first argument of the official images' entrypoint for ``password=``: ``$0`` of its shell.
PASSWORD_WRAPPER = "clockwork-password"


class Redis(Engine):
    name = "redis"
    images = ("redis", "valkey", "keydb", "redis-stack-server")
    default_port = 6379
    url_template = "redis://{host}:{port}/0"
    url_env_var = "REDIS_URL"
    data_dir = "/data"

    def credentials(self, env: Mapping[str, EnvValue], command: Sequence[str] | str | None = None) -> Credentials:
        password = option(argv(command), "--requirepass")
        if password is not None:
            return Credentials("", password, "0")
        for variable in PASSWORD_VARIABLES:
            if env.get(variable):
                return Credentials("", env[variable], "0", password_variable=variable)
        return Credentials("", "", "0")

    def url(self, creds: Credentials) -> str:
        """The URL template for these credentials: ``redis://:{password}@...`` with a password."""
        if creds.password == "":
            return self.url_template
        return "redis://:{password}@{host}:{port}/0"

    def with_password(
        self,
        password: EnvValue,
        environment: Mapping[str, EnvValue],
        command: Sequence[str] | str | None,
        image: str | None,
    ) -> tuple[dict[str, EnvValue], tuple[str, ...] | str | None]:
        """The image's password variable set to ``password``, and the command that runs the
        server through the official images' entrypoint (``docker-entrypoint.sh``: arguments
        that start with ``-`` mean its server) with ``--requirepass "$VARIABLE"``."""
        repository = repository_name(image or "")
        if (image or "").split("/")[-2:-1] == ["bitnami"] or repository == "redis-stack-server":
            raise Refusal(
                f"password= runs the server through the official images' entrypoint, which {image} does not have",
                'set the password the way the image reads it, e.g. env_vars={"REDIS_PASSWORD": Secret("NAME")} '
                "for Bitnami's",
            )
        variable = {"valkey": "VALKEY_PASSWORD", "keydb": "KEYDB_PASSWORD"}.get(repository, "REDIS_PASSWORD")
        taken = next((name for name in PASSWORD_VARIABLES if name in environment), None)
        if taken is not None:
            raise Refusal(f"env_vars sets {taken} too", "set the password once: remove it from env_vars")
        words = argv(command)
        if option(words, "--requirepass") is not None:
            raise Refusal("command sets --requirepass too", "set the password once: remove it from command")
        server = words[0] if words else "-"
        if not (server.startswith("-") or server.endswith(".conf") or server.rsplit("/", 1)[-1].endswith("-server")):
            raise Refusal(
                f"password= adds --requirepass to the server's command line, and command runs {server}",
                'run the server in command (e.g. ["valkey-server", "--appendonly", "yes"]), or set the password '
                "there yourself",
            )
        script = f'exec docker-entrypoint.sh "$@" --requirepass "${variable}"'
        return {**environment, variable: password}, ("/bin/sh", "-c", script, PASSWORD_WRAPPER, *words)

    def readiness(self, creds: Credentials, port: int, image: str | None = None) -> list[EnvValue]:
        # `redis-cli ping` exits 0 on LOADING or NOAUTH errors: require the PONG itself.
        client = CLIENTS.get(repository_name(image or ""), "redis-cli")
        ping = f"{client} -h 127.0.0.1 -p {port} ping | grep -q PONG"
        if creds.password == "":
            return ["CMD-SHELL", ping]
        # The password reaches the client through its environment (REDISCLI_AUTH), not argv.
        if creds.password_variable is not None:
            secret = f'"${creds.password_variable}"'
        else:
            secret = shlex.quote(str(creds.password))
        return ["CMD-SHELL", f"REDISCLI_AUTH={secret} {ping}"]


ENGINE = Redis()
