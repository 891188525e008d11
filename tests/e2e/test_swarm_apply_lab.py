"""`clockwork apply/assert/destroy --target swarm` on three nodes (scripts/swarm-lab.sh).

The connected-services example, its API at two replicas, is taken through its migrations
with its data (PostgreSQL, Redis) on a worker, node2; then the MariaDB
example with its database on node3. In order: the refusal without a registry, apply with
one (images by digest), placement, assert on the workers, data kept through a re-apply, a
forced update and a reboot of the database's node, a rolling re-apply that never leaves
the API without a healthy task, a worker stopped under the API, and destroy leaving nothing
on any node. The host engine is never touched but for `docker exec` into the lab's nodes.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from e2e_support import REPO, eventually
from lab_support import NODES, Lab, host, lab_script

pytestmark = pytest.mark.e2e

STACK = "connected-services"
SHOP = "mariadb-app"
PSQL = ("psql", "-X", "-At", "-U", "admin", "-d", "appdb", "-c")


@dataclass(frozen=True)
class Done:
    code: int
    text: str
    out: str = ""


def clockwork(lab: Lab, *args: str, cwd: Path, env: dict[str, str] | None = None) -> Done:
    """`clockwork ARGS` as a process working on the lab's manager."""
    proc = subprocess.run(
        [sys.executable, "-m", "clockwork_compose", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
        env={**lab.env, **(env or {})},
    )
    return Done(proc.returncode, proc.stdout + proc.stderr, proc.stdout)


def node_ids(lab: Lab) -> dict[str, str]:
    rows = lab.docker("node", "ls", "--format", "{{.ID}} {{.Hostname}}").split("\n")
    return {node_id: name for node_id, name in (row.split() for row in rows if row)}


def running(lab: Lab, service: str) -> list[dict[str, object]]:
    """The running tasks of the lab's service ``service`` (``<stack>_<name>``)."""
    done = subprocess.run(
        ["docker", "service", "ps", "-q", "--no-trunc", "--filter", "desired-state=running", service],
        capture_output=True,
        text=True,
        env=lab.env,
        timeout=60,
    )
    ids = done.stdout.split()
    if done.returncode != 0 or not ids:
        return []
    tasks = json.loads(lab.docker("inspect", "--type", "task", *ids, check=False) or "[]")
    return [t for t in tasks if t["Status"]["State"] == "running"]


def nodes_of(lab: Lab, service: str) -> list[str]:
    names = node_ids(lab)
    return sorted(names[str(t["NodeID"])] for t in running(lab, service))


def psql(lab: Lab, sql: str) -> str:
    """SQL in the PostgreSQL task's container, on the node that runs it."""
    (node,) = nodes_of(lab, f"{STACK}_postgres-db")
    found = lab.in_node(node, "ps", "-q", "--filter", f"label=com.docker.swarm.service.name={STACK}_postgres-db")
    (container,) = found.stdout.split()
    done = lab.in_node(node, "exec", container, *PSQL, sql)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def on_nodes(kind: str, stack: str) -> dict[str, list[str]]:
    """What of ``stack`` each node's own engine has: containers or volumes, by node."""
    out = {}
    for node in NODES:
        if kind == "container":
            listed = host("exec", node, "docker", "ps", "-a", "--format", "{{.Names}}").stdout.split()
        else:
            listed = host("exec", node, "docker", "volume", "ls", "-q").stdout.split()
        out[node] = [name for name in listed if name.startswith((f"{stack}_", "clockwork-job"))]
    return out


@pytest.fixture(scope="module")
def images(lab: Lab) -> None:
    """The stand-in images in the lab registry, as each node's Docker Hub mirror; the
    example's two built images on the manager only (as if built there)."""
    mirrored = lab_script(
        "mirror",
        "postgres:15-alpine",
        "redis:7-alpine",
        "connected-services-api-server",
        "connected-services-worker-service",
        "mariadb:11",
        "clockwork-examples/shop-api:1",
    )
    assert mirrored.returncode == 0, mirrored.stderr
    for image in ("connected-services-api-server", "connected-services-worker-service"):
        lab.docker("pull", "-q", image)


@pytest.fixture(scope="module")
def project(lab: Lab, images: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A copy of the example, its API at two replicas, its data (PostgreSQL and Redis) placed
    on node2, a worker: the API's tasks then go to node1 and node3 (Swarm spreads them to
    the nodes with the fewest tasks). The stack is destroyed at the end, whatever happened."""
    root = tmp_path_factory.mktemp("lab") / STACK
    shutil.copytree(REPO / "examples" / "connected-services", root, ignore=shutil.ignore_patterns("docker-*.yml"))
    main = root / "main.py"
    main.write_text(main.read_text().replace('name="api-server",', 'name="api-server",\n    replicas=2,'))
    lab.docker("node", "update", "--label-add", f"clockwork.data.{STACK}.postgres-db=true", NODES[1])
    lab.docker("node", "update", "--label-add", f"clockwork.data.{STACK}.redis-cache=true", NODES[1])
    try:
        yield root
    finally:
        clockwork(lab, "destroy", "--target", "swarm", cwd=root)
        for data in ("postgres-db", "redis-cache"):
            lab.docker("node", "update", "--label-rm", f"clockwork.data.{STACK}.{data}", NODES[1], check=False)


def test_apply_without_a_registry_stops_before_deploying(lab: Lab, project: Path) -> None:
    done = clockwork(lab, "apply", "--target", "swarm", cwd=project)
    assert done.code != 0, done.text
    assert "api-server is built from ./api-server on this node, and this swarm has 3 nodes" in done.text
    assert "--registry HOST:PORT" in done.text
    assert "Traceback" not in done.text
    assert lab.docker("service", "ls", "-q", "--filter", f"label=com.docker.stack.namespace={STACK}") == ""


def test_apply_places_every_service_and_runs_the_same_bits_everywhere(lab: Lab, project: Path) -> None:
    done = clockwork(lab, "apply", "--target", "swarm", "--registry", lab.registry, cwd=project)
    assert done.code == 0, done.text
    assert f"applied stack {STACK}" in done.text
    spec = json.loads(lab.docker("service", "inspect", f"{STACK}_api-server"))[0]["Spec"]
    image = spec["TaskTemplate"]["ContainerSpec"]["Image"]
    assert image.startswith(f"{lab.registry}/connected-services-api-server:") and "@sha256:" in image
    digests = {str(t["Spec"]["ContainerSpec"]["Image"]) for t in running(lab, f"{STACK}_api-server")}  # type: ignore[index]
    assert digests == {image}
    assert nodes_of(lab, f"{STACK}_postgres-db") == [NODES[1]]
    assert nodes_of(lab, f"{STACK}_redis-cache") == [NODES[1]]
    api = nodes_of(lab, f"{STACK}_api-server")
    assert len(api) == 2 and len(set(api)) == 2, api  # a host port: one task per node


def test_assert_checks_what_runs_on_the_workers(lab: Lab, project: Path) -> None:
    done = clockwork(lab, "assert", "--target", "swarm", cwd=project)
    assert done.code == 0, done.text
    assert "migrations of postgres-db recorded in clockwork_migrations  4 of 4 recorded" in done.text
    assert "database postgres-db/appdb (from inside its container) reachable" in done.text  # on node2, not here
    assert f"ports 5432 (postgres-db) accept TCP on every node that runs it  on {NODES[1]}" in done.text
    api = ", ".join(nodes_of(lab, f"{STACK}_api-server"))
    assert f"ports 8000 (api-server) accept TCP on every node that runs it  on {api}" in done.text
    # The jobs' containers are gone (the last removes its own a moment after it ends).
    eventually(lambda: on_nodes("container", "clockwork-job") == {node: [] for node in NODES}, timeout=20)


def test_ps_and_logs_cover_every_node(lab: Lab, project: Path) -> None:
    done = clockwork(lab, "ps", "--target", "swarm", "--json", cwd=project)
    assert done.code == 0, done.text
    rows = {row["service"]: row for row in json.loads(done.out)}
    assert rows["postgres-db"]["nodes"] == [NODES[1]]
    assert sorted(rows["api-server"]["nodes"]) == nodes_of(lab, f"{STACK}_api-server")
    assert len(rows["api-server"]["nodes"]) == 2
    logs = clockwork(lab, "logs", "--target", "swarm", "postgres-db", "--tail", "5", cwd=project)
    assert logs.code == 0, logs.text
    assert logs.out.strip() and all(line.startswith("postgres-db") for line in logs.out.splitlines())


def test_the_database_keeps_its_rows_through_reapply_update_and_reboot(lab: Lab, project: Path) -> None:
    psql(lab, "CREATE TABLE IF NOT EXISTS kept (note text); INSERT INTO kept VALUES ('before')")
    again = clockwork(lab, "apply", "--target", "swarm", "--registry", lab.registry, cwd=project)
    assert again.code == 0 and "nothing changed, nothing deployed" in again.text, again.text
    assert psql(lab, "SELECT note FROM kept") == "before"

    lab.docker("service", "update", "--force", "--detach", f"{STACK}_postgres-db")
    eventually(lambda: bool(running(lab, f"{STACK}_postgres-db")) and psql(lab, "SELECT 1") == "1", timeout=120)
    assert psql(lab, "SELECT note FROM kept") == "before"

    node = NODES[1]
    assert host("stop", node).returncode == 0
    assert host("start", node).returncode == 0
    eventually(lambda: lab.docker("node", "inspect", "--format", "{{.Status.State}}", node).strip() == "ready", 120)
    eventually(lambda: nodes_of(lab, f"{STACK}_postgres-db") == [node], timeout=180, interval=2)
    eventually(lambda: psql(lab, "SELECT note FROM kept") == "before", timeout=60)
    done = clockwork(lab, "assert", "--target", "swarm", "--timeout", "120", cwd=project)
    assert done.code == 0, done.text


def test_a_rolling_reapply_keeps_a_healthy_task_at_every_moment(lab: Lab, project: Path) -> None:
    main = project / "main.py"
    main.write_text(main.read_text().replace("    replicas=2,", '    replicas=2,\n    env_vars={"RELEASE": "2"},'))
    samples: list[int] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            samples.append(len(running(lab, f"{STACK}_api-server")))
            time.sleep(0.2)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        started = time.monotonic()
        done = clockwork(lab, "apply", "--target", "swarm", "--registry", lab.registry, cwd=project)
        took = time.monotonic() - started
    finally:
        stop.set()
        sampler.join()
    assert done.code == 0, done.text
    assert "api-server               app       healthy    updated" in done.text
    # Swarm counts a task with a healthcheck as running only once it is healthy.
    assert len(samples) > 10 and min(samples) >= 1, samples
    tasks = running(lab, f"{STACK}_api-server")
    envs = [t["Spec"]["ContainerSpec"].get("Env", []) for t in tasks]  # type: ignore[index, union-attr]
    assert len(tasks) == 2 and all("RELEASE=2" in env for env in envs), envs
    print(f"rolling re-apply: {took:.1f}s, fewest running API tasks {min(samples)} of 2 over {len(samples)} samples")


def test_a_stopped_worker_moves_its_task_and_nothing_is_duplicated(lab: Lab, project: Path) -> None:
    node = NODES[2]  # a worker without data
    if node not in nodes_of(lab, f"{STACK}_api-server"):
        # Swarm spreads tasks, but not to a node of our choosing: with the manager paused, a
        # forced update places the API on node2 and node3.
        lab.docker("node", "update", "--availability", "pause", NODES[0])
        try:
            lab.docker("service", "update", "--force", "--detach", f"{STACK}_api-server")
            eventually(lambda: nodes_of(lab, f"{STACK}_api-server") == [NODES[1], node], timeout=120, interval=1)
        finally:
            lab.docker("node", "update", "--availability", "active", NODES[0])
    assert host("stop", node).returncode == 0
    try:
        started = time.monotonic()
        checked = clockwork(lab, "assert", "--target", "swarm", "--timeout", "5", cwd=project)
        while checked.code != 0 and time.monotonic() - started < 60:
            time.sleep(2)
            checked = clockwork(lab, "assert", "--target", "swarm", "--timeout", "5", cwd=project)
        assert checked.code == 0, checked.text
        print(f"assert passed {time.monotonic() - started:.1f}s after {node} stopped")
        moved = nodes_of(lab, f"{STACK}_api-server")
        assert len(moved) == 2 and node not in moved, moved
    finally:
        assert host("start", node).returncode == 0
    eventually(lambda: lab.docker("node", "inspect", "--format", "{{.Status.State}}", node).strip() == "ready", 120)
    time.sleep(5)  # what the node ran before is shut down when it reports in
    assert len(running(lab, f"{STACK}_api-server")) == 2
    left = host(
        "exec", node, "docker", "ps", "-q", "--filter", f"label=com.docker.swarm.service.name={STACK}_api-server"
    )
    assert left.stdout.split() == []


def test_the_mariadb_example_on_a_worker(lab: Lab, images: None, tmp_path: Path) -> None:
    root = tmp_path / SHOP
    shutil.copytree(REPO / "examples" / SHOP, root, ignore=shutil.ignore_patterns("docker-*.yml"))
    env = {"DB_PASSWORD": "lab-pw-1", "DB_ROOT_PASSWORD": "lab-root-1"}  # pragma: allowlist secret
    lab.docker("node", "update", "--label-add", f"clockwork.data.{SHOP}.shop-db=true", NODES[2])
    try:
        done = clockwork(lab, "apply", "--target", "swarm", cwd=root, env=env)
        assert done.code == 0, done.text
        assert nodes_of(lab, f"{SHOP}_shop-db") == [NODES[2]]
        checked = clockwork(lab, "assert", "--target", "swarm", cwd=root, env=env)
        assert checked.code == 0, checked.text
        assert "migrations of shop-db recorded in clockwork_migrations" in checked.text
    finally:
        gone = clockwork(lab, "destroy", "--target", "swarm", cwd=root, env=env)
        lab.docker("node", "update", "--label-rm", f"clockwork.data.{SHOP}.shop-db", NODES[2], check=False)
    assert gone.code == 0, gone.text
    eventually(lambda: on_nodes("container", SHOP) == {node: [] for node in NODES}, timeout=20)
    assert on_nodes("volume", SHOP) == {node: [] for node in NODES}


def test_destroy_leaves_nothing_on_any_node_and_only_from_its_folder(lab: Lab, project: Path, tmp_path: Path) -> None:
    other = tmp_path / STACK  # same name, another folder
    other.mkdir()
    refused = clockwork(lab, "destroy", "--target", "swarm", cwd=other)
    assert refused.code == 0, refused.text
    assert "nothing to remove" in refused.text and f"made from {project}" in refused.text
    assert nodes_of(lab, f"{STACK}_postgres-db") == [NODES[1]]
    assert on_nodes("volume", STACK)[NODES[1]] == [f"{STACK}_postgres-db_data", f"{STACK}_redis-cache_data"]

    done = clockwork(lab, "destroy", "--target", "swarm", cwd=project)
    assert done.code == 0, done.text
    assert f"{STACK}_postgres-db_data" in done.text and f"{STACK}_redis-cache_data" in done.text
    eventually(lambda: on_nodes("container", STACK) == {node: [] for node in NODES}, timeout=20)
    assert on_nodes("volume", STACK) == {node: [] for node in NODES}
    label = f"label=com.docker.stack.namespace={STACK}"
    for kind in ("service", "network", "config", "secret"):
        assert lab.docker(kind, "ls", "-q", "--filter", label) == "", kind
    again = clockwork(lab, "destroy", "--target", "swarm", cwd=project)
    assert again.code == 0 and "nothing to remove" in again.text, again.text
