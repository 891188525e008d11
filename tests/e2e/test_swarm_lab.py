"""scripts/swarm-lab.sh on the real engine: three nodes, a registry, traffic across nodes, a
node reboot, `up` again, and `down` leaving nothing (the ``lab`` fixture: tests/e2e/conftest.py).
"""

from __future__ import annotations

import json

import pytest
from e2e_support import eventually
from lab_support import LABEL, NODES, Lab, host, lab_script, parse_up

pytestmark = pytest.mark.e2e

STACK = "clockwork-lab-smoke"
SERVICE = f"{STACK}_echo"
IMAGE = "redis:7-alpine"  # a stand-in built on the host (scripts/build-test-images.sh)


def labelled_on_host() -> dict[str, list[str]]:
    """Everything on this machine's engine that carries the lab's label, by kind."""
    listings = {
        "containers": ("ps", "-a", "--filter", f"label={LABEL}", "--format", "{{.Names}}"),
        "volumes": ("volume", "ls", "--filter", f"label={LABEL}", "--format", "{{.Name}}"),
        "networks": ("network", "ls", "--filter", f"label={LABEL}", "--format", "{{.Name}}"),
        "images": ("image", "ls", "-a", "--filter", f"label={LABEL}", "--format", "{{.Repository}}:{{.Tag}}"),
    }
    return {kind: host(*args).stdout.split() for kind, args in listings.items()}


def named_on_host() -> dict[str, list[str]]:
    """Everything on this machine's engine named like the lab's objects, by kind."""
    listings = {
        "containers": ("ps", "-a", "--format", "{{.Names}}"),
        "volumes": ("volume", "ls", "--format", "{{.Name}}"),
        "networks": ("network", "ls", "--format", "{{.Name}}"),
        "images": ("image", "ls", "--format", "{{.Repository}}:{{.Tag}}"),
    }
    named = {kind: host(*args).stdout.split() for kind, args in listings.items()}
    return {kind: [n for n in names if n.startswith("clockwork-lab")] for kind, names in named.items()}


@pytest.fixture(scope="module")
def node_ids(lab: Lab) -> dict[str, str]:
    """Swarm node ID by host name, as the manager lists them."""
    rows = lab.docker("node", "ls", "--format", "{{.ID}} {{.Hostname}}").split("\n")
    return {name: node_id for node_id, name in (row.split() for row in rows if row)}


def running_tasks(lab: Lab) -> list[dict[str, object]]:
    ids = lab.docker("service", "ps", "-q", "--filter", "desired-state=running", SERVICE).split()
    if not ids:
        return []
    tasks = json.loads(lab.docker("inspect", "--type", "task", *ids))
    return [t for t in tasks if t["Status"]["State"] == "running"]


def nodes_running_a_task(lab: Lab, node_ids: dict[str, str]) -> list[str]:
    names = {node_id: name for name, node_id in node_ids.items()}
    return sorted(names[str(t["NodeID"])] for t in running_tasks(lab))


@pytest.fixture(scope="module")
def service(lab: Lab, node_ids: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> str:
    """A stand-in image pushed to the lab registry, deployed as 3 replicas, one per node,
    dnsrr on an overlay network; its image reference is returned once all three run."""
    pushed = lab_script("push", IMAGE)
    assert pushed.returncode == 0, pushed.stderr
    reference = pushed.stdout.strip().splitlines()[-1]
    assert reference == f"{lab.registry}/{IMAGE}"
    stack = tmp_path_factory.mktemp("lab") / "stack.yml"
    stack.write_text(
        f"""version: "3.8"
services:
  echo:
    image: {reference}
    networks: [net]
    deploy:
      replicas: 3
      endpoint_mode: dnsrr
      placement:
        max_replicas_per_node: 1
networks:
  net:
    driver: overlay
"""
    )
    lab.docker("stack", "deploy", "--compose-file", str(stack), STACK)
    eventually(lambda: len(running_tasks(lab)) == 3, timeout=240, interval=2)
    return reference


def test_three_ready_nodes_one_manager(lab: Lab) -> None:
    rows = lab.docker("node", "ls", "--format", "{{.Hostname}} {{.Status}} {{.ManagerStatus}}").split("\n")
    nodes = sorted(tuple(row.split(" ", 2)) for row in rows if row)
    assert [name for name, *_ in nodes] == list(NODES)
    assert all(status == "Ready" for _, status, _ in nodes), nodes
    assert [name for name, _, manager in nodes if manager] == ["clockwork-lab-node1"]
    assert [manager for *_, manager in nodes] == ["Leader", "", ""]


def test_push_leaves_no_tag_on_the_host(lab: Lab, service: str) -> None:
    assert host("image", "inspect", service).returncode != 0
    spec = json.loads(lab.docker("service", "inspect", SERVICE))[0]["Spec"]
    # The manager resolved the tag in the registry: every node runs the same digest.
    assert spec["TaskTemplate"]["ContainerSpec"]["Image"].startswith(f"{service}@sha256:")


def test_one_replica_on_each_node(lab: Lab, node_ids: dict[str, str], service: str) -> None:
    assert nodes_running_a_task(lab, node_ids) == list(NODES)


def test_a_task_reaches_tasks_on_the_other_nodes(lab: Lab, node_ids: dict[str, str], service: str) -> None:
    names = {node_id: name for name, node_id in node_ids.items()}
    address = {
        names[str(t["NodeID"])]: a["Addresses"][0].split("/")[0]
        for t in running_tasks(lab)
        for a in t["NetworksAttachments"]  # type: ignore[attr-defined]
        if a["Network"]["Spec"]["Name"] == f"{STACK}_net"
    }
    assert sorted(address) == list(NODES)
    for node in NODES:
        found = lab.in_node(node, "ps", "-q", "--filter", f"label=com.docker.swarm.service.name={SERVICE}")
        task = found.stdout.split()
        assert len(task) == 1, (node, task)
        # dnsrr: the service name resolves to the task addresses themselves (no VIP, no IPVS).
        resolved = lab.in_node(node, "exec", task[0], "getent", "ahostsv4", "echo").stdout.split("\n")
        assert {row.split()[0] for row in resolved if row} == set(address.values())
        for other, ip in address.items():
            if other == node:
                continue
            ping = lab.in_node(node, "exec", task[0], "redis-cli", "-h", ip, "ping")
            assert ping.stdout.strip() == "PONG", (node, other, ip, ping.stderr)


def test_a_node_reboots_and_rejoins(lab: Lab, node_ids: dict[str, str], service: str) -> None:
    node = "clockwork-lab-node2"
    assert host("stop", node).returncode == 0
    assert host("start", node).returncode == 0
    # Its /var/lib/docker is on a volume: same swarm identity, and its task runs again.
    eventually(lambda: lab.in_node(node, "info", "--format", "{{.Swarm.NodeID}}").stdout.strip() == node_ids[node])
    eventually(lambda: lab.docker("node", "inspect", "--format", "{{.Status.State}}", node).strip() == "ready", 90)
    eventually(lambda: nodes_running_a_task(lab, node_ids) == list(NODES), timeout=120, interval=2)


def test_up_again_keeps_the_lab_and_repairs_a_stopped_node(lab: Lab, node_ids: dict[str, str]) -> None:
    containers = (*NODES, "clockwork-lab-registry")
    before = {c: host("inspect", "--format", "{{.Id}} {{.State.StartedAt}}", c).stdout for c in containers}
    assert host("stop", "clockwork-lab-node3").returncode == 0
    again = lab_script("up", "3")
    assert again.returncode == 0, again.stderr
    assert parse_up(again.stdout) == lab
    after = {c: host("inspect", "--format", "{{.Id}} {{.State.StartedAt}}", c).stdout for c in containers}
    # Nothing made again; the running ones untouched, the stopped one started.
    assert {c: a.split()[0] for c, a in after.items()} == {c: b.split()[0] for c, b in before.items()}
    assert [c for c in containers if after[c] != before[c]] == ["clockwork-lab-node3"]
    rows = lab.docker("node", "ls", "--format", "{{.ID}} {{.Hostname}} {{.Status}}").split("\n")
    assert sorted(row.split() for row in rows if row) == sorted([node_ids[n], n, "Ready"] for n in NODES)


def test_down_removes_the_lab_and_nothing_else(lab: Lab) -> None:
    bystander = "clockwork-lab-bystander"  # our prefix, without our label: not ours
    assert host("volume", "create", bystander).returncode == 0
    try:
        down = lab_script("down")
        assert down.returncode == 0, down.stderr
        assert labelled_on_host() == {"containers": [], "volumes": [], "networks": [], "images": []}
        assert named_on_host() == {"containers": [], "volumes": [bystander], "networks": [], "images": []}
        assert host("volume", "inspect", bystander).returncode == 0
        assert host("image", "inspect", IMAGE).returncode == 0
        assert lab_script("status").returncode == 3
    finally:
        host("volume", "rm", bystander)
