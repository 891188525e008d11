"""Swarm on many nodes, at the seams: what docker-stack.yml asks of the scheduler, the
registry rule, the jobs' scripts, and one project lock per engine. The behaviour on three
real nodes is in tests/e2e/test_swarm_apply_lab.py."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from support import EXAMPLE

from clockwork_compose import _api, _docker
from clockwork_compose._errors import DeclarationError
from clockwork_compose._targets.swarm import nodes, runtime


@pytest.fixture
def example(tmp_path: Path) -> Path:
    folder = tmp_path / "connected-services"
    shutil.copytree(EXAMPLE, folder, ignore=shutil.ignore_patterns(".env", "docker-*.yml"))
    main = folder / "main.py"
    main.write_text(main.read_text().replace('name="api-server",', 'name="api-server",\n    replicas=2,'))
    return folder


def stack(folder: Path) -> tuple[object, dict]:
    project, text, _ = _api.compile_project(folder, None, "swarm")
    return project, yaml.safe_load(text)


def test_replicas_with_a_host_port_go_one_per_node_and_roll_one_at_a_time(example: Path):
    _, doc = stack(example)
    api = doc["services"]["api-server"]["deploy"]
    assert api["replicas"] == 2
    assert api["placement"] == {"max_replicas_per_node": 1}
    assert api["update_config"] == {"parallelism": 1, "order": "stop-first"}  # its port is the node's
    # No port: the new task starts before the old one stops.
    assert doc["services"]["worker-service"]["deploy"]["update_config"]["order"] == "start-first"
    assert "placement" not in doc["services"]["worker-service"]["deploy"]
    # Never two servers on one data directory.
    postgres = doc["services"]["postgres-db"]["deploy"]
    assert postgres["update_config"]["order"] == "stop-first"
    assert postgres["placement"]["constraints"] == ["node.labels.clockwork.data.connected-services.postgres-db == true"]
    assert "update_config" not in doc["services"]["postgres-db-migrator"]["deploy"]  # a job


def test_images_built_here_need_a_registry_on_many_nodes_and_nothing_runs_before(
    example: Path, monkeypatch: pytest.MonkeyPatch
):
    project, doc = stack(example)
    calls: list[tuple[str, ...]] = []
    monkeypatch.setattr(runtime, "docker", lambda *args, **kw: calls.append(args) or "")
    with pytest.raises(runtime.SwarmError) as refused:
        runtime.ensure_images(project, doc, example, registry=None, node_count=3)  # type: ignore[arg-type]
    message = str(refused.value)
    assert "api-server is built from ./api-server on this node, and this swarm has 3 nodes" in message
    assert "--registry HOST:PORT" in message
    assert calls == []


def test_with_a_registry_the_image_is_pushed_under_its_content_and_deployed_by_digest(
    example: Path, monkeypatch: pytest.MonkeyPatch
):
    project, doc = stack(example)
    calls: list[tuple[str, ...]] = []

    def docker(*args: str, **kw: object) -> str:
        calls.append(args)
        if args[:2] == ("image", "inspect") and "--format" in args:
            return f"sha256:{'ab' * 32}\n"
        if args[0] == "push":
            return f"1: Pushed\n{args[1].rsplit(':', 1)[1]}: digest: sha256:{'cd' * 32} size: 1234\n"
        return ""

    monkeypatch.setattr(runtime, "docker", docker)
    notes = runtime.ensure_images(project, doc, example, registry="127.0.0.1:17000", node_count=3)  # type: ignore[arg-type]
    reference = f"127.0.0.1:17000/connected-services-api-server:{'ab' * 6}@sha256:{'cd' * 32}"
    assert doc["services"]["api-server"]["image"] == reference
    assert ("push", f"127.0.0.1:17000/connected-services-api-server:{'ab' * 6}") in calls
    assert any(reference in note for note in notes)


@pytest.mark.parametrize("value", ["", "http://registry:5000", "reg istry", "-x:5000"])
def test_a_registry_that_is_not_one_is_refused_naming_the_option(value: str):
    with pytest.raises(DeclarationError) as refused:
        runtime.valid_registry(value)
    assert "--registry" in str(refused.value) and "HOST:PORT" in str(refused.value)


def test_published_host_ports_resolve_their_variables():
    entry = {
        "ports": [
            {"target": 80, "published": 8000, "protocol": "tcp", "mode": "host"},
            {"target": 81, "published": "${WEB_PORT:-8081}", "protocol": "tcp", "mode": "host"},
            {"target": 53, "published": 53, "protocol": "udp", "mode": "host"},
            {"target": 82, "published": 8082, "protocol": "tcp", "mode": "ingress"},
        ]
    }
    assert runtime.published(entry, {}) == [8000, 8081]
    assert runtime.published(entry, {"WEB_PORT": "9000"}) == [8000, 9000]


def run_sh(script: str, fake_docker: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """``script`` under sh, with a ``docker`` on PATH that logs its arguments and answers
    from ``fake_docker`` (a case statement on "$*")."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    fake = bin_dir / "docker"
    fake.write_text(f'#!/bin/sh\necho "$*" >> {tmp_path}/calls\ncase "$*" in\n{fake_docker}\nesac\n')
    fake.chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    return subprocess.run(["sh", "-c", script], capture_output=True, text=True, env=env, timeout=30)


def test_cleanup_removes_only_the_stacks_things_that_this_folder_made(tmp_path: Path):
    answers = """
  "ps -aq --filter label=com.docker.stack.namespace=shop") echo c1 ;;
  "inspect --format {{.Name}} c1") echo /shop_db.1.x ;;
  "volume ls -q --filter label=com.docker.stack.namespace=shop --filter label=dev.clockwork.working-dir=/srv/my shop")
     [ -f "$0.gone" ] || echo shop_db_data ;;
  "volume rm shop_db_data") touch "$0.gone" ;;
"""
    done = run_sh(nodes.cleanup_script("shop", "/srv/my shop", keep_volumes=False), answers, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:2] == ["container shop_db.1.x", "volume shop_db_data"]
    calls = (tmp_path / "calls").read_text()
    assert "rm -f -v c1" in calls and "volume rm shop_db_data" in calls
    removed = nodes.parse_removed([nodes.Done("n1", 0, done.stdout), nodes.Done("n2", 0, "volume shop_db_data\n")])
    assert removed == {"container": ["shop_db.1.x"], "volume": ["shop_db_data"]}

    (tmp_path / "calls").unlink()
    kept = run_sh(nodes.cleanup_script("shop", "/srv/my shop", keep_volumes=True), answers, tmp_path)
    assert kept.returncode == 0 and "volume" not in (tmp_path / "calls").read_text()


def test_a_client_runs_in_the_container_of_its_task_with_the_password_off_its_argv(tmp_path: Path):
    answers = """
  "ps -q --filter label=com.docker.swarm.task.id=t1") echo c9 ;;
  "exec -e PGPASSWORD c9 psql -c SELECT 1") echo 1 ;;
"""
    done = run_sh(nodes.exec_script("t1", ["psql", "-c", "SELECT 1"], ["PGPASSWORD"]), answers, tmp_path)
    assert (done.returncode, done.stdout) == (0, "1\n")
    missing = run_sh(nodes.exec_script("t2", ["true"], []), answers, tmp_path)
    assert missing.returncode == 97 and "no container of task t2 on this node" in missing.stderr


def test_the_project_lock_is_the_engines(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setattr(_docker, "LOCK_DIR", tmp_path)
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    assert _docker.engine_key() == ""
    with _docker.project_lock("shop", "apply"):
        with pytest.raises(_docker.Busy), _docker.project_lock("shop", "destroy"):  # this engine: one at a time
            pass
        monkeypatch.setenv("DOCKER_HOST", "tcp://127.0.0.1:17001")  # a swarm's manager elsewhere
        key = _docker.engine_key()
        assert key.startswith("@") and key != ""
        with _docker.project_lock("shop", "apply"):
            monkeypatch.setenv("DOCKER_HOST", "tcp://127.0.0.1:17002")
            assert _docker.engine_key() != key
            with _docker.project_lock("shop", "apply"):
                pass
        monkeypatch.setenv("DOCKER_HOST", "unix:///var/run/docker.sock")
        assert _docker.engine_key() == ""


def test_digest_of_reads_what_docker_push_prints():
    pushed = "The push refers to repository [r/x]\n5f70bf18a086: Pushed\nab12: digest: sha256:0123 size: 528\n"
    assert nodes.digest_of(pushed) == "sha256:0123"
    assert nodes.digest_of("nothing\n") is None
