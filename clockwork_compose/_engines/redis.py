"""Redis and the servers that speak its protocol: Valkey, KeyDB, Redis Stack.

The probe uses the client the image ships (``valkey-cli``, ``keydb-cli``, else
``redis-cli``); a password set with ``--requirepass`` (the official images' way) or the
image's env (``REDIS_PASSWORD``, ``VALKEY_PASSWORD``, ``KEYDB_PASSWORD``: Bitnami's contract)
goes into the URL and the probe."""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence

from .._model import EnvValue
from ._engine import Credentials, Engine, argv, option, repository_name

#: The client each image repository ships, by repository name.
CLIENTS = {"valkey": "valkey-cli", "keydb": "keydb-cli"}
PASSWORD_VARIABLES = ("REDIS_PASSWORD", "VALKEY_PASSWORD", "KEYDB_PASSWORD")


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
