"""RabbitMQ (``rabbitmq`` images, with or without the management plugin). No migrations.

RabbitMQ keys its data by node name, ``rabbit@<hostname>``: a container recreated with a
new hostname does not find its data, so the container gets a fixed hostname."""

from __future__ import annotations

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


ENGINE = RabbitMQ()
