"""The containers kubernetes.yaml describes, run for real with `docker run` (no cluster runs
here): the init containers' waits block while a database is down and return once it is
ready and migrated; the migrator Job applies the plan from the ConfigMap's files, laid out
as the kubelet lays out a ConfigMap volume (``..data`` symlinks), and a second run applies
nothing; PostgreSQL initialises its data in a subdirectory of a volume that holds
lost+found. The same for the MariaDB example (its client, its history table's state).

Each pod container becomes one `docker run` on a network of this test's own, with the
Service's name as a network alias; command, args and env are what Kubernetes hands the
container (``$$`` is ``$``, secretKeyRef values from the Secret `clockwork secrets` prints).
Every Docker name starts with ``k8s-`` and a per-run id, and is removed afterwards.
"""

from __future__ import annotations

import re
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from clockwork_compose import _api
from clockwork_compose._targets import kubernetes

pytestmark = pytest.mark.e2e

PASSWORD = "pa$$ 'w\"d $(HOME)"  # pragma: allowlist secret
MAIN = """
from clockwork_compose import *  # noqa: F403

db = DockerResource(
    name="postgres-db",
    image="postgres:15-alpine",
    env_vars={"POSTGRES_DB": "appdb", "POSTGRES_USER": "admin", "POSTGRES_PASSWORD": Secret("DB_PASSWORD")},
)
cache = DockerResource(name="cache", image="redis:7-alpine", command=["redis-server", "--requirepass", "x$y"])
api = DockerResource(name="api", image="example/api:1", ports=["8000:80"])
api.connect(
    DatabaseConnection(
        to_resource=db,
        username="admin",
        password=Secret("DB_PASSWORD"),
        database_name="appdb",
        schema_file="schema.sql",
        migrations_dir="migrations",
    )
)
api.connect(cache)
"""
FILES = {
    "schema.sql": "CREATE TABLE t (id int);\n",
    "migrations/001_a.sql": "ALTER TABLE t ADD COLUMN a int;\n",
    "migrations/002_b.sql": "ALTER TABLE t ADD COLUMN b text DEFAULT 'x$y';\n",
}
#: Seconds a wait is given to notice that what it waits for is there.
WAIT = 300


def docker(*args: str, check: bool = True, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"docker {' '.join(args[:3])}... failed: {proc.stderr}")
    return proc


def expand(value: str, env: dict[str, str]) -> str:
    """Kubernetes' expansion of command, args and env values: ``$$`` -> ``$``, ``$(NAME)``
    -> NAME's value when defined before (else left as written)."""

    def one(match: re.Match[str]) -> str:
        return "$" if match[0] == "$$" else env.get(match[1], match[0])

    return re.sub(r"\$\$|\$\(([^)]*)\)", one, value)


class Pods:
    """Containers of the manifests on one network; removes everything it made."""

    def __init__(self, secret: dict[str, str]) -> None:
        self.id = uuid.uuid4().hex[:8]
        self.network = f"k8s-{self.id}"
        self.secret = secret
        self.containers: list[str] = []
        self.volumes: list[str] = []
        docker("network", "create", "--label", f"k8s-test={self.id}", self.network)

    def name(self, what: str) -> str:
        return f"k8s-{self.id}-{what}"

    def volume(self, what: str) -> str:
        name = self.name(what)
        docker("volume", "create", name)
        self.volumes.append(name)
        return name

    def argv(self, c: dict[str, Any], name: str, alias: str | None, mounts: list[str]) -> list[str]:
        env: dict[str, str] = {}
        for e in c.get("env", []):
            if "valueFrom" in e:
                env[e["name"]] = self.secret[e["valueFrom"]["secretKeyRef"]["key"]]
            else:
                env[e["name"]] = expand(e["value"], env)
        out = ["run", "--name", name, "--network", self.network]
        if alias:
            out += ["--network-alias", alias]
        for key, value in env.items():
            out += ["-e", f"{key}={value}"]
        out += mounts
        command = [expand(w, env) for w in c.get("command", [])]
        if command:
            out += ["--entrypoint", command[0]]
        return [*out, c["image"], *command[1:], *(expand(a, env) for a in c.get("args", []))]

    def start(
        self, c: dict[str, Any], what: str, alias: str | None = None, mounts: tuple[str, ...] | list[str] = ()
    ) -> str:
        name = self.name(what)
        self.containers.append(name)
        run, *rest = self.argv(c, name, alias, list(mounts))
        docker(run, "-d", *rest)
        return name

    def run(
        self, c: dict[str, Any], what: str, mounts: tuple[str, ...] | list[str] = ()
    ) -> subprocess.CompletedProcess[str]:
        name = self.name(what)
        self.containers.append(name)
        return docker(*self.argv(c, name, None, list(mounts)), check=False, timeout=WAIT)

    def running(self, name: str) -> bool:
        return docker("inspect", "-f", "{{.State.Running}}", name).stdout.strip() == "true"

    def exit_code(self, name: str) -> int:
        return int(docker("wait", name, timeout=WAIT).stdout.strip())

    def logs(self, name: str) -> str:
        proc = docker("logs", name, check=False)
        return proc.stdout + proc.stderr

    def remove(self) -> None:
        for name in self.containers:
            docker("rm", "-f", "-v", name, check=False)
        for name in self.volumes:
            docker("volume", "rm", "-f", name, check=False)
        docker("network", "rm", self.network, check=False)


def config_map_volume(root: Path, config: dict[str, Any], items: list[dict[str, str]]) -> Path:
    """The ConfigMap as the kubelet mounts it: files in a timestamped folder, ``..data``
    pointing at it, and each top-level entry a symlink through ``..data``."""
    root.mkdir(parents=True)
    real = root / "..2026_11_27_00_00_00.000000001"
    for item in items:
        path = real / item["path"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(config["data"][item["key"]])
    (root / "..data").symlink_to(real.name)
    for top in sorted({item["path"].split("/", 1)[0] for item in items}):
        (root / top).symlink_to(f"..data/{top}")
    root.chmod(0o755)
    for path in real.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    real.chmod(0o755)
    return root


def volume_mounts(docs: list[dict[str, Any]], pod: dict[str, Any], c: dict[str, Any], tmp: Path) -> list[str]:
    """`docker run` options for the container's ConfigMap and emptyDir volumes (claims are
    the caller's: they outlive a container)."""
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    out: list[str] = []
    for mount in c.get("volumeMounts", []):
        volume = volumes.get(mount["name"], {})
        if "configMap" in volume:
            config = next(
                d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"] == volume["configMap"]["name"]
            )
            folder = config_map_volume(tmp / uuid.uuid4().hex[:8], config, volume["configMap"]["items"])
            out += ["-v", f"{folder}:{mount['mountPath']}:ro"]
        elif "emptyDir" in volume:
            out += ["--tmpfs", mount["mountPath"]]
    return out


def pod_of(docs: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    doc = next(d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name))
    return doc["spec"]["template"]["spec"]


@pytest.fixture
def project(tmp_path: Path) -> tuple[Path, list[dict[str, Any]], dict[str, str]]:
    root = tmp_path / "shop"
    for relative, content in {"main.py": MAIN, **FILES}.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(content)
    built = _api.build(root, target="kubernetes", environ={"DB_PASSWORD": PASSWORD})
    docs = [d for d in yaml.safe_load_all(built.text) if d]
    assert kubernetes.problems(docs) == []
    secret = yaml.safe_load(_api.kubernetes_secret(root))["stringData"]
    return root, docs, secret


@pytest.fixture
def pods(project) -> Iterator[Pods]:
    _, _, secret = project
    made = Pods(secret)
    try:
        yield made
    finally:
        made.remove()


def until_exited(pods: Pods, name: str) -> int:
    code = pods.exit_code(name)
    assert code == 0, pods.logs(name)
    return code


def test_waits_block_until_the_databases_are_ready_and_migrated_and_the_job_migrates_once(project, pods, tmp_path):
    _, docs, _ = project
    api = pod_of(docs, "Deployment", "api")
    waits = {c["name"]: c for c in api["initContainers"]}
    assert sorted(waits) == ["wait-cache", "wait-postgres-db", "wait-postgres-db-migrator"]

    # Nothing is up: every wait blocks.
    started = {name: pods.start(c, name, mounts=volume_mounts(docs, api, c, tmp_path)) for name, c in waits.items()}
    time.sleep(5)
    for name, container in started.items():
        assert pods.running(container), (name, pods.logs(container))

    # The databases come up (their StatefulSet containers, reachable under the Service names);
    # PostgreSQL's volume holds lost+found, as a fresh cluster volume does.
    data = pods.volume("pgdata")
    docker("run", "--rm", "-v", f"{data}:/v", "postgres:15-alpine", "mkdir", "/v/lost+found")
    pg = pod_of(docs, "StatefulSet", "postgres-db")["containers"][0]
    mount = pg["volumeMounts"][0]["mountPath"]
    pods.start(pg, "postgres-db", alias="postgres-db", mounts=["-v", f"{data}:{mount}"])
    cache = pod_of(docs, "StatefulSet", "cache")["containers"][0]
    pods.start(cache, "cache", alias="cache")

    until_exited(pods, started["wait-postgres-db"])
    until_exited(pods, started["wait-cache"])
    assert "is ready" in pods.logs(started["wait-postgres-db"])
    # Ready, but not migrated: the migrations wait still blocks.
    time.sleep(3)
    assert pods.running(started["wait-postgres-db-migrator"]), pods.logs(started["wait-postgres-db-migrator"])

    # The Job: its own wait, then the driver on the ConfigMap's files.
    job = pod_of(docs, "Job")
    job_mounts = volume_mounts(docs, job, job["containers"][0], tmp_path)
    assert job_mounts[:2] == ["-v", job_mounts[1]] and job_mounts[1].endswith(f":{kubernetes.ROOT}:ro")
    job_wait = pods.run(job["initContainers"][0], "job-wait")
    assert job_wait.returncode == 0, job_wait.stderr
    first = pods.run(job["containers"][0], "job-1", job_mounts)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "3 applied" in first.stdout + first.stderr

    until_exited(pods, started["wait-postgres-db-migrator"])
    assert "the current migrations are applied" in pods.logs(started["wait-postgres-db-migrator"])

    # The data sits in the subdirectory; the Job run again applies nothing.
    listing = docker("run", "--rm", "-v", f"{data}:/v", "postgres:15-alpine", "ls", "/v").stdout.split()
    assert sorted(listing) == ["lost+found", "pgdata"]
    second = pods.run(job["containers"][0], "job-2", job_mounts)
    assert second.returncode == 0, second.stderr
    assert "0 applied" in second.stdout + second.stderr and "3 already applied" in second.stdout + second.stderr


def test_a_new_migration_blocks_the_wait_until_the_new_job_ran(project, pods, tmp_path):
    root, docs, secret = project
    pg = pod_of(docs, "StatefulSet", "postgres-db")["containers"][0]
    data = pods.volume("pgdata")
    pods.start(pg, "postgres-db", alias="postgres-db", mounts=["-v", f"{data}:{pg['volumeMounts'][0]['mountPath']}"])

    def run_job(manifests: list[dict[str, Any]], what: str) -> str:
        job = pod_of(manifests, "Job")
        assert pods.run(job["initContainers"][0], f"{what}-wait").returncode == 0
        done = pods.run(job["containers"][0], what, volume_mounts(manifests, job, job["containers"][0], tmp_path))
        assert done.returncode == 0, done.stderr
        return done.stdout + done.stderr

    run_job(docs, "job-old")
    (root / "migrations" / "003_c.sql").write_text("ALTER TABLE t ADD COLUMN c int;\n")
    new = [d for d in yaml.safe_load_all(_api.build(root, target="kubernetes").text) if d]
    old_names = {d["metadata"]["name"] for d in docs if d["kind"] in ("Job", "ConfigMap")}
    assert not old_names & {d["metadata"]["name"] for d in new if d["kind"] in ("Job", "ConfigMap")}
    wait = next(c for c in pod_of(new, "Deployment", "api")["initContainers"] if "migrator" in c["name"])
    blocked = pods.start(wait, "wait-new", mounts=volume_mounts(new, pod_of(new, "Deployment", "api"), wait, tmp_path))
    time.sleep(4)
    assert pods.running(blocked), pods.logs(blocked)
    assert "waiting for the migrator" in pods.logs(blocked)
    assert "1 applied" in run_job(new, "job-new")
    until_exited(pods, blocked)


def test_mariadb_example_waits_for_its_database_and_its_job(tmp_path):
    import shutil

    root = tmp_path / "mariadb-app"
    example = Path(__file__).resolve().parents[2] / "examples" / "mariadb-app"
    shutil.copytree(example, root, ignore=shutil.ignore_patterns(".env", "kubernetes.yaml"))
    environ = {"DB_PASSWORD": PASSWORD, "DB_ROOT_PASSWORD": "root $(pw)"}  # pragma: allowlist secret
    docs = [d for d in yaml.safe_load_all(_api.build(root, target="kubernetes", environ=environ).text) if d]
    assert kubernetes.problems(docs) == []
    pods = Pods(yaml.safe_load(_api.kubernetes_secret(root))["stringData"])
    try:
        api = {c["name"]: c for c in pod_of(docs, "Deployment", "shop-api")["initContainers"]}
        assert sorted(api) == ["wait-shop-db", "wait-shop-db-migrator"]
        api_pod = pod_of(docs, "Deployment", "shop-api")
        wait = api["wait-shop-db-migrator"]
        migrated = pods.start(wait, "wait-migrated", mounts=volume_mounts(docs, api_pod, wait, tmp_path))
        db = pod_of(docs, "StatefulSet", "shop-db")["containers"][0]
        data = pods.volume("mysql")
        pods.start(db, "shop-db", alias="shop-db", mounts=["-v", f"{data}:{db['volumeMounts'][0]['mountPath']}"])
        ready = pods.run(api["wait-shop-db"], "wait-ready")
        assert ready.returncode == 0, ready.stdout + ready.stderr
        time.sleep(3)
        assert pods.running(migrated), pods.logs(migrated)  # the database is up, not migrated

        job = pod_of(docs, "Job")
        assert pods.run(job["initContainers"][0], "job-wait").returncode == 0
        mounts = volume_mounts(docs, job, job["containers"][0], tmp_path)
        done = pods.run(job["containers"][0], "job", mounts)
        assert done.returncode == 0, done.stdout + done.stderr
        until_exited(pods, migrated)
        logs = pods.logs(migrated)
        assert "waiting for the migrator" in logs and "the current migrations are applied" in logs
        again = pods.run(job["containers"][0], "job-again", mounts)
        assert again.returncode == 0, again.stdout + again.stderr
    finally:
        pods.remove()
