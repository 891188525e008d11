"""RabbitMQ (and a Valkey with a password) end to end, on the real engine: the
rabbitmq-worker example under names and ports of its own (eng-*, 15911), applied once and
shared by the checks in file order: apply, the worker's own round trip through the injected
AMQP_URL, assert, a second apply that changes nothing, data kept across a recreated
container (fixed hostname), destroy."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import engine_support
import pytest
from e2e_support import REPO, clockwork

from clockwork_compose import _docker

pytestmark = pytest.mark.e2e
LOCK = Path("/tmp/clockwork-e2e-eng-rabbitmq.lock")

EXAMPLE = REPO / "examples" / "rabbitmq-worker"
IMAGES = ("rabbitmq:3-management", "clockwork-examples/rabbitmq-worker:1", "valkey/valkey:8")
MQ, WORKER, CACHE = "eng-mq", "eng-worker", "eng-cache"
UI_PORT = 15911
PASSWORD = "s/cr@t:pw#"  # pragma: allowlist secret
CACHE_PASSWORD = "v@lkey pw"  # pragma: allowlist secret

MAIN = f'''
from clockwork_compose import CommandProbe, DockerResource, Secret

mq = DockerResource(name="{MQ}", image="rabbitmq:3-management", ports=["127.0.0.1:{UI_PORT}:15672"], env_vars={{
    "RABBITMQ_DEFAULT_USER": "app", "RABBITMQ_DEFAULT_PASS": Secret("RABBITMQ_PASSWORD"),
    "RABBITMQ_DEFAULT_VHOST": "jobs/v1"}})
cache = DockerResource(name="{CACHE}", image="valkey/valkey:8",
                       command=["valkey-server", "--requirepass", "{CACHE_PASSWORD}"])
worker = DockerResource(name="{WORKER}", image="clockwork-examples/rabbitmq-worker:1", build="./worker",
                        readiness=CommandProbe(["test", "-e", "/tmp/consuming"]))
worker.connect(mq)
worker.connect(cache)
'''


def _remove_dead_runs(names: tuple[str, ...], prefix: str) -> None:
    """Under the lock, a container with one of our names from a project of ours is what a
    killed run left: remove that project (by its labels, never by name alone)."""
    projects = {state.project for name in names if (state := _docker.container(name)) is not None}
    dead = tuple(p for p in projects if p.startswith(prefix))
    if dead:
        engine_support.remove_leftovers(projects=dead)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    missing = [image for image in IMAGES if not engine_support.image_exists(image)]
    if missing:
        message = f"images missing: {', '.join(missing)}; run scripts/build-test-images.sh"
        if os.environ.get("CLOCKWORK_E2E") == "required":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    folder = tmp_path_factory.mktemp("e2e") / f"eng-rabbitmq-{uuid.uuid4().hex[:8]}"
    folder.mkdir()
    shutil.copytree(EXAMPLE / "worker", folder / "worker")
    (folder / "main.py").write_text(MAIN)
    (folder / ".env").write_text(f"RABBITMQ_PASSWORD='{PASSWORD}'\n")
    # The container names are fixed: two runs of this module on one engine take turns.
    with LOCK.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        _remove_dead_runs((MQ, WORKER, CACHE), "eng-rabbitmq-")
        try:
            yield folder
        finally:
            clockwork("destroy", cwd=folder)
            engine_support.remove_leftovers(projects=(folder.name,))
            fcntl.flock(handle, fcntl.LOCK_UN)


def send(text: str) -> str:
    """The worker's own client: one job through RabbitMQ with the worker's AMQP_URL."""
    return _docker.exec_in(WORKER, ["python3", "worker.py", "send", text]).strip()


def test_apply_starts_rabbitmq_then_the_worker(stack: Path) -> None:
    result = clockwork("apply", cwd=stack)
    assert result.code == 0, result.text
    compose = (stack / "docker-compose.yml").read_text()
    assert "check_port_connectivity" in compose and f"hostname: {MQ}" in compose


def test_the_worker_round_trips_through_the_injected_url(stack: Path) -> None:
    env = engine_support.container_env(WORKER)
    assert env["AMQP_URL"] == f"amqp://app:s%2Fcr%40t%3Apw%23@{MQ}:5672/jobs%2Fv1"
    assert send("hello") == "HELLO"


def test_a_valkey_password_reaches_the_url_and_the_probe(stack: Path) -> None:
    env = engine_support.container_env(WORKER)
    assert env["REDIS_URL"] == f"redis://:v%40lkey%20pw@{CACHE}:6379/0"
    state = _docker.container(CACHE)
    assert state is not None and state.health == "healthy"
    compose = (stack / "docker-compose.yml").read_text()
    assert "valkey-cli -h 127.0.0.1 -p 6379 ping | grep -q PONG" in compose


def test_assert_passes(stack: Path) -> None:
    result = clockwork("assert", "--json", cwd=stack)
    assert result.code == 0, result.text
    names = {c["name"] for c in json.loads(result.out) if c["passed"]}
    assert {f"service {MQ} healthy", f"service {WORKER} healthy", f"service {CACHE} healthy"} <= names


def test_a_second_apply_changes_nothing(stack: Path) -> None:
    before = {name: _docker.container(name).id for name in (MQ, WORKER, CACHE)}  # type: ignore[union-attr]
    result = clockwork("apply", cwd=stack)
    assert result.code == 0, result.text
    assert {name: _docker.container(name).id for name in before} == before  # type: ignore[union-attr]


def test_a_recreated_broker_finds_its_data(stack: Path) -> None:
    """The node is rabbit@<fixed hostname>: a new container on the same volume keeps queues."""
    declare = "import os, pika; pika.BlockingConnection(pika.URLParameters(os.environ['AMQP_URL'])).channel()"
    _docker.exec_in(WORKER, ["python3", "-c", declare + ".queue_declare('kept', durable=True)"])
    assert "kept" in _docker.exec_in(MQ, ["rabbitmqctl", "-q", "-p", "jobs/v1", "list_queues", "name"])
    old = _docker.container(MQ).id  # type: ignore[union-attr]
    _docker.remove_containers([[WORKER], [MQ]])  # the worker would crash-loop without its broker
    result = clockwork("apply", cwd=stack)
    assert result.code == 0, result.text
    assert _docker.container(MQ).id != old  # type: ignore[union-attr]
    assert "kept" in _docker.exec_in(MQ, ["rabbitmqctl", "-q", "-p", "jobs/v1", "list_queues", "name"])
    assert send("again") == "AGAIN"


def test_destroy_removes_everything(stack: Path) -> None:
    result = clockwork("destroy", cwd=stack)
    assert result.code == 0, result.text
    assert _docker.project_containers(stack.name) == []
    assert _docker.volumes(stack.name) == []
