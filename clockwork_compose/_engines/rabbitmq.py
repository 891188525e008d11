"""RabbitMQ (``rabbitmq`` images, with or without the management plugin). No migrations.

RabbitMQ keys its data by node name, ``rabbit@<hostname>``: a container recreated with a
new hostname does not find its data, so the container gets a fixed hostname."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from .._model import EnvValue
from ._engine import Credentials, Engine


class RabbitMQ(Engine):
    name = "rabbitmq"
    images = ("rabbitmq",)
    password_example = '"RABBITMQ_DEFAULT_PASS": Secret("BROKER_PASSWORD")'
    default_port = 5672
    #: The management UI and API, Prometheus metrics, epmd and inter-node traffic.
    other_ports = (15672, 15692, 4369, 25672)
    #: The vhost is the path, percent-encoded: the default vhost "/" is ``%2F``.
    url_template = "amqp://{user}:{password}@{host}:{port}/{database}"
    url_env_var = "AMQP_URL"
    data_dir = "/var/lib/rabbitmq"
    fixed_hostname = True
    #: rabbitmq-diagnostics starts an Erlang VM of its own: a second or two per probe.
    probe_timeout = 10.0

    def credentials(self, env: Mapping[str, EnvValue], command: Sequence[str] | str | None = None) -> Credentials:
        return Credentials(
            env.get("RABBITMQ_DEFAULT_USER", "guest"),
            env.get("RABBITMQ_DEFAULT_PASS", "guest"),
            env.get("RABBITMQ_DEFAULT_VHOST", "/"),
        )

    def readiness(self, creds: Credentials, port: int, image: str | None = None) -> list[EnvValue]:
        # True only once the AMQP listener accepts clients (`ping` goes true 2-3 s earlier,
        # while the node still boots); it tries every listener of the node.
        return ["CMD", "rabbitmq-diagnostics", "-q", "check_port_connectivity"]

    def readiness_from(self, host: str, creds: Credentials, port: int, image: str | None = None) -> list[EnvValue]:
        # check_port_connectivity asks the node of the container it runs in (rabbit@<that
        # container's hostname>): from another container there is none, and it exits 69.
        # From afar, speak AMQP: the broker opens its client listeners last in its boot and
        # answers the protocol header with Connection.Start. bash's /dev/tcp where the image
        # has bash, else Erlang, which every rabbitmq image has (a VM start: slower).
        if not re.fullmatch(r"[A-Za-z0-9.-]+", host):
            raise ValueError(f"not a host name: {host!r}")
        return ["CMD-SHELL", amqp_handshake(host, port)]


#: The first 11 bytes of Connection.Start, as ``od -An -tx1`` prints them without spaces: a
#: method frame (1) on channel 0, its size, class 10 (connection), method 10 (start).
CONNECTION_START = "010000????????000a000a"
_HANDSHAKE = r"""if command -v bash >/dev/null 2>&1 && command -v timeout >/dev/null 2>&1; then
  reply=$(timeout 10 bash -c 'exec 3<>"/dev/tcp/$0/$1" && printf "AMQP\0\0\11\1" >&3 && head -c 11 <&3' \
    @HOST@ @PORT@ 2>/dev/null | od -An -tx1 | tr -d ' \n')
  case $reply in @START@) true ;; *) false ;; esac
else
  erl -noshell -eval 'case gen_tcp:connect("@HOST@", @PORT@, [binary, {active, false}], 5000) of
    {ok, S} -> gen_tcp:send(S, <<"AMQP", 0, 0, 9, 1>>),
      case gen_tcp:recv(S, 11, 5000) of {ok, <<1, 0:16, _:32, 10:16, 10:16>>} -> halt(0); _ -> halt(1) end;
    _ -> halt(1) end.'
fi"""


def amqp_handshake(host: str, port: int) -> str:
    """A POSIX sh command true when ``host``:``port`` answers AMQP 0-9-1's protocol header
    with Connection.Start: the broker accepts clients."""
    return _HANDSHAKE.replace("@HOST@", host).replace("@PORT@", str(port)).replace("@START@", CONNECTION_START)


ENGINE = RabbitMQ()
