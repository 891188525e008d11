"""`--target swarm` on a real single-node swarm: order, a failed job, re-apply, assert, destroy.

The swarm is created here (`docker swarm init` on 127.0.0.1) and left again in a finalizer,
also on failure, with docker_gwbridge removed when this module created it. The project is a
copy of the example named like it (so it runs the stand-in images already built) with its
own host ports (16032, 16079, 16080), the stack is ``swm-e2e``, and the PostgreSQL password
is a Secret that reaches the services through the deploy's environment (from .env).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e_support import EXAMPLE, swarm_mode, swarm_state
from engine_support import docker

from clockwork_compose import _docker
from clockwork_compose._targets.swarm import runtime as swarm_runtime

pytestmark = pytest.mark.e2e

STACK = "swm-e2e"
PLAIN = "swm-e2e-plain"
PASSWORD = "swm-Pa$$ word"  # pragma: allowlist secret
PORTS = {"5432:5432": "16032:5432", "6379:6379": "16079:6379", "8000:80": "16080:80"}


def clockwork(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "clockwork_compose", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
    )


@pytest.fixture(scope="module")
def swarm() -> Iterator[None]:
    with swarm_mode():
        yield


@pytest.fixture(scope="module")
def project(swarm: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    folder = tmp_path_factory.mktemp("swarm") / "connected-services"
    shutil.copytree(EXAMPLE, folder, ignore=shutil.ignore_patterns(".env", "docker-compose.yml"))
    main = (folder / "main.py").read_text()
    for old, new in PORTS.items():
        main = main.replace(f'"{old}"', f'"{new}"')
    main = main.replace("import DatabaseConnection,", "import DatabaseConnection, Secret,")
    main = main.replace('"secret123",  # pragma: allowlist secret', 'Secret("SWM_PG_PASSWORD"),')
    main = main.replace('name="worker-service",', 'name="worker-service",\n    replicas=2,')
    (folder / "main.py").write_text(main)
    built = clockwork("build", "--target", "swarm", cwd=folder, env={"SWM_PG_PASSWORD": PASSWORD})
    assert built.returncode == 0, built.stderr
    try:
        yield folder
    finally:
        for stack in (STACK, PLAIN):
            swarm_runtime.remove(stack)


def service(name: str) -> dict | None:
    out = docker("service", "inspect", f"{STACK}_{name}", check=False)
    return json.loads(out.stdout)[0] if out.returncode == 0 else None


def task_times(name: str) -> list[dict]:
    ids = docker("service", "ps", "-q", "--no-trunc", f"{STACK}_{name}").stdout.split()
    return json.loads(docker("inspect", *ids).stdout) if ids else []


def test_apply_outside_a_swarm_says_how_to_make_one(tmp_path: Path):
    """Runs before the module's swarm exists (the fixture is first used below)."""
    if swarm_state() != "inactive":
        pytest.skip("the engine is in a swarm")
    folder = tmp_path / "swm-none"
    folder.mkdir()
    main = "from clockwork_compose import DockerResource\nDockerResource(name='a', image='x:1')\n"
    (folder / "main.py").write_text(main)
    result = clockwork("apply", "--target", "swarm", cwd=folder)
    assert result.returncode == 1 and "not a swarm manager: run `docker swarm init`" in result.stderr, result.stderr


def test_no_secret_value_in_the_stack_file(project: Path):
    text = (project / "docker-stack.yml").read_text()
    assert PASSWORD not in text and "${SWM_PG_PASSWORD:?" in text
    assert "replicated-job" in text


def test_apply_refuses_while_a_compose_project_of_that_name_runs(project: Path):
    """Its volumes would have the same names: two databases on one data directory."""
    name = "swm-e2e-compose-twin"
    docker("run", "-d", "--name", name, "--label", f"com.docker.compose.project={STACK}", "redis:7-alpine")
    try:
        result = clockwork("apply", "--target", "swarm", "--stack", STACK, cwd=project)
    finally:
        docker("rm", "-f", "-v", name)  # -v: and its image's anonymous /data volume
    assert result.returncode == 1, result.stderr
    assert f"Compose project {STACK} runs on this engine" in result.stderr
    assert service("postgres-db") is None  # nothing deployed


def test_a_broken_migration_is_reported_and_blocks_the_app(project: Path):
    broken = project / "migrations" / "004_broken.sql"
    broken.write_text("SELECT * FROM no_such_table;\n")
    try:
        result = clockwork("apply", "--target", "swarm", "--stack", STACK, cwd=project)
    finally:
        broken.unlink()
    assert result.returncode == 1, result.stderr
    assert "job postgres-db-migrator failed (exit code 1); not deployed: api-server" in result.stderr
    assert "no_such_table" in result.stderr  # the job's own log lines
    assert service("api-server") is None
    assert service("postgres-db") is not None  # what it depends on was deployed


def test_apply_deploys_in_order_and_the_app_answers(project: Path):
    result = clockwork("apply", "--target", "swarm", "--stack", STACK, cwd=project)
    assert result.returncode == 0, result.stderr
    assert f"applied stack {STACK}" in result.stderr
    (job,) = [t for t in task_times("postgres-db-migrator") if t["Status"]["State"] == "complete"]
    app = task_times("api-server")
    assert app and all(t["CreatedAt"] > job["Status"]["Timestamp"] for t in app), (job, app)
    with urllib.request.urlopen("http://127.0.0.1:16080/health", timeout=10) as response:
        assert response.status == 200
        assert json.loads(response.read())["database"] == "ok"
    workers = [t for t in task_times("worker-service") if t["Status"]["State"] == "running"]
    assert len(workers) == 2  # replicas=2, and apply waited for both
    env = service("api-server")["Spec"]["TaskTemplate"]["ContainerSpec"]["Env"]
    (url,) = [e for e in env if e.startswith("DATABASE_URL=")]
    assert "swm-Pa%24%24%20word" in url  # the secret arrived, URL-encoded, through the environment


def test_assert_passes(project: Path):
    result = clockwork("assert", "--target", "swarm", "--stack", STACK, cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "migrator postgres-db-migrator completed" in result.stdout
    assert "4 of 4 recorded" in result.stdout
    # Engines whose assert runs their client in the container reach it in the stack's task.
    exec_in = swarm_runtime._exec_in(STACK)
    out = exec_in("postgres-db", ["psql", "-U", "admin", "-d", "appdb", "-tAc", "SELECT 41 + 1"], {})
    assert out.strip() == "42"


def test_reapply_with_nothing_changed_deploys_nothing_and_runs_no_job(project: Path):
    before = {t["ID"] for t in task_times("postgres-db-migrator")}
    version = service("postgres-db-migrator")["Version"]["Index"]
    result = clockwork("apply", "--target", "swarm", "--stack", STACK, cwd=project)
    assert result.returncode == 0, result.stderr
    assert "nothing changed, nothing deployed" in result.stderr
    assert {t["ID"] for t in task_times("postgres-db-migrator")} == before
    assert service("postgres-db-migrator")["Version"]["Index"] == version


def test_destroy_leaves_nothing_of_the_stack(project: Path):
    result = clockwork("destroy", "--target", "swarm", "--stack", STACK, cwd=project)
    assert result.returncode == 0, result.stderr
    label = f"label=com.docker.stack.namespace={STACK}"
    assert docker("service", "ls", "-q", "--filter", label).stdout.split() == []
    assert docker("ps", "-aq", "--filter", label).stdout.split() == []  # finished job containers too
    assert docker("network", "ls", "-q", "--filter", label).stdout.split() == []
    assert docker("config", "ls", "-q", "--filter", label).stdout.split() == []
    volumes = docker("volume", "ls", "--format", "{{.Name}}").stdout.split()
    assert [v for v in volumes if v.startswith(f"{STACK}_")] == []
    again = clockwork("destroy", "--target", "swarm", "--stack", STACK, cwd=project)
    assert again.returncode == 0 and "nothing to remove" in again.stderr
    assert swarm_runtime.stack_services(STACK) == {}


def test_a_plain_docker_stack_deploy_converges_with_the_secrets_exported(project: Path):
    """The README's commands, without clockwork: order then rests on restart policies and
    the migrator's retries; the secrets come from .env through the shell's environment."""
    from clockwork_compose import _api

    model, _, _ = _api.compile_project(project, None, "swarm")
    deploy = "set -a; . ./.env; set +a; docker stack deploy --detach=true --resolve-image never -c docker-stack.yml "
    env = {k: v for k, v in os.environ.items() if k != "SWM_PG_PASSWORD"}
    proc = subprocess.run(["sh", "-c", deploy + PLAIN], cwd=project, capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    deadline = time.monotonic() + 180
    converged = False
    while not converged and time.monotonic() < deadline:
        services = swarm_runtime.stack_services(PLAIN)
        converged = len(services) == len(model.services) and all(
            swarm_runtime.state(model.services[n], s, None).ready for n, s in services.items()
        )
        time.sleep(0.5)
    assert converged, {n: swarm_runtime.state(model.services[n], s, None) for n, s in services.items()}
    with urllib.request.urlopen("http://127.0.0.1:16080/health", timeout=10) as response:
        assert json.loads(response.read())["database"] == "ok"  # the exported password is exact
    # clockwork did not make it, so its destroy does not remove it: it says how to.
    refused = clockwork("destroy", "--target", "swarm", "--stack", PLAIN, cwd=project)
    assert refused.returncode == 1, refused.stderr
    assert f"stack {PLAIN} has no record of the folder that made it" in refused.stderr
    assert f"`docker stack rm {PLAIN}`" in refused.stderr and "nothing was changed" in refused.stderr
    assert set(swarm_runtime.stack_services(PLAIN)) == set(model.services)
    swarm_runtime.remove(PLAIN)
    assert docker("ps", "-aq", "--filter", f"label=com.docker.stack.namespace={PLAIN}").stdout.split() == []


def test_a_build_only_resource_is_built_under_its_tag_once(tmp_path: Path):
    """No swarm needed: the image a build-only resource runs on Swarm is built when absent,
    and an image already there under that tag is used as it is (offline)."""
    from clockwork_compose import _api

    folder = tmp_path / "swm-build"
    (folder / "app").mkdir(parents=True)
    (folder / "app" / "Dockerfile").write_text("FROM postgres:15-alpine\nLABEL dev.clockwork.test=swm-build\n")
    (folder / "main.py").write_text(
        "from clockwork_compose import DockerResource\nDockerResource(name='app', build='./app')\n"
    )
    project, text, _ = _api.compile_project(folder, None, "swarm")
    doc = {"services": {"app": {"image": "swm-build-app:latest"}}}
    assert "image: swm-build-app:latest" in text
    docker("image", "rm", "swm-build-app:latest", check=False)
    try:
        notes = swarm_runtime.ensure_images(project, doc, folder)
        assert len(notes) == 1 and "multi-node swarm needs it in a registry" in notes[0]
        labels = json.loads(docker("image", "inspect", "swm-build-app:latest").stdout)[0]["Config"]["Labels"]
        assert labels["dev.clockwork.test"] == "swm-build"
        assert swarm_runtime.ensure_images(project, doc, folder) == []  # present: used, not rebuilt
    finally:
        docker("image", "rm", "swm-build-app:latest", check=False)


def test_a_missing_volume_is_missing_on_an_engine_in_swarm_mode(swarm: None):
    """In swarm mode the engine says "volume X not found" (outside, "no such volume"): what
    the Compose target's guards measure, and destroy removes, is then still just missing."""
    gone = "swm-nowhere_data"
    said = docker("volume", "inspect", gone, check=False)
    assert said.returncode != 0 and f"volume {gone} not found" in said.stderr, said.stderr
    assert _docker.volume_usage([gone], ["redis:7-alpine"]) == {gone: _docker.VolumeUsage(gone, False)}
    _docker.remove_volumes([gone])
    assert docker("volume", "inspect", gone, check=False).returncode != 0  # measuring never created it


def test_a_service_that_never_gets_healthy_fails_within_its_budget(swarm: None, tmp_path: Path):
    """Its probe rests once ready, so Docker keeps the task "starting" for 180 s past its
    budget: apply calls it unhealthy once the budget and one more check have passed, well
    before its deadline (the budget plus a minute)."""
    folder = tmp_path / "swm-sick"
    folder.mkdir()
    (folder / "main.py").write_text(
        "from clockwork_compose import DockerResource, TcpProbe\n"
        "DockerResource(name='sick', image='connected-services-worker-service',\n"
        "               command=['sleep', 'infinity'], readiness=TcpProbe(8080, retries=2))\n"
    )
    stack = "swm-e2e-sick"
    try:
        result = clockwork("apply", "--target", "swarm", "--stack", stack, cwd=folder)
        assert result.returncode == 1, result.stderr
        assert "service sick failed (not healthy 2s after it started: its healthcheck still fails)" in result.stderr
        failed_after = re.search(r"apply failed after ([0-9.]+)s", result.stderr)
        assert failed_after is not None and float(failed_after.group(1)) < 45, result.stderr
    finally:
        clockwork("destroy", "--target", "swarm", "--stack", stack, cwd=folder)
    assert swarm_runtime.stack_services(stack) == {}
