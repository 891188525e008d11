"""The containers kubernetes.yaml describes, run for real with `docker run` (no cluster runs
here): the init containers' waits block while a database is down and return once it is
ready and migrated; the migrator Job applies the plan from the ConfigMap's files, laid out
as the kubelet lays out a ConfigMap volume (``..data`` symlinks), and a second run applies
nothing; PostgreSQL initialises its data in a subdirectory of a volume that holds
lost+found. The same for the MariaDB example (its client, its history table's state).

Each pod container becomes one `docker run` on a network of this test's own, with the
Service's name as a network alias; command, args and env are what Kubernetes hands the
container (``$$`` is ``$``, secretKeyRef values from the Secret `clockwork secrets` prints);
a claim is a Docker volume, its ``subPath`` that folder of the volume. A headless Service's
name resolves only to ready pods: here a second network, "endpoints", where the test gives a
container that name once the pod's own readiness probe passes in it (what the kubelet and
the endpoints controller do on a cluster). Every Docker name starts with ``k8s-e2e-`` and a
per-run id, and is removed afterwards.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from engine_support import docker

from clockwork_compose import _api, _migrations
from clockwork_compose._engines import rabbitmq
from clockwork_compose._targets.kubernetes import emit as kubernetes

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
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
#: A pod that needs the rabbitmq-worker example's worker ready (its CommandProbe) first.
REPORTER = """
reporter = DockerResource(name="reporter", image="clockwork-examples/rabbitmq-worker:1", command=["sleep", "infinity"])
reporter.connect(worker)
"""


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
        self.network = f"k8s-e2e-{self.id}"
        self.endpoints = f"k8s-e2e-{self.id}-endpoints"
        self.secret = secret
        self.containers: list[str] = []
        self.volumes: list[str] = []
        docker("network", "create", "--label", f"k8s-test={self.id}", self.network)
        docker("network", "create", "--label", f"k8s-test={self.id}", self.endpoints)

    def name(self, what: str) -> str:
        return f"k8s-e2e-{self.id}-{what}"

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
        self,
        c: dict[str, Any],
        what: str,
        alias: str | None = None,
        mounts: tuple[str, ...] | list[str] = (),
        endpoints: bool = False,
    ) -> str:
        """Run ``c`` detached; ``endpoints``: it also resolves the names of the endpoints
        network (a wait on a headless Service)."""
        name = self.name(what)
        self.containers.append(name)
        run, *rest = self.argv(c, name, alias, list(mounts))
        if not endpoints:
            docker(run, "-d", *rest)
            return name
        docker("create", *rest)
        docker("network", "connect", self.endpoints, name)
        docker("start", name)
        return name

    def publish(self, container: str, name: str) -> None:
        """The endpoints controller's part: the headless Service ``name`` now lists this pod."""
        docker("network", "connect", "--alias", name, self.endpoints, container)

    def claims(self, c: dict[str, Any], volumes: dict[str, str]) -> list[str]:
        """`docker run` options mounting the claims (claim name -> Docker volume) as the
        kubelet mounts them: a ``subPath`` is that folder of the volume, made when missing."""
        out: list[str] = []
        for mount in c.get("volumeMounts", []):
            volume = volumes.get(mount["name"])
            if volume is None:
                continue
            source = volume
            if "subPath" in mount:
                docker(
                    "run",
                    "--rm",
                    "-v",
                    f"{volume}:/v",
                    "--entrypoint",
                    "mkdir",
                    c["image"],
                    "-p",
                    f"/v/{mount['subPath']}",
                )
                root = docker("volume", "inspect", "-f", "{{.Mountpoint}}", volume).stdout.strip()
                source = f"{root}/{mount['subPath']}"
            out += ["-v", f"{source}:{mount['mountPath']}" + (":ro" if mount.get("readOnly") else "")]
        return out

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
        docker("network", "rm", self.network, self.endpoints, check=False)


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


def until(condition: Any, what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        assert time.monotonic() < deadline, f"never: {what}"
        time.sleep(0.5)


def example(tmp_path: Path, name: str, environ: dict[str, str], extra: str = "") -> tuple[list[dict[str, Any]], Pods]:
    """The example's manifests, built in a copy (``extra`` appended to its main.py), and a
    Pods holding its Secret's values."""
    root = tmp_path / name
    shutil.copytree(EXAMPLES / name, root, ignore=shutil.ignore_patterns(".env", "kubernetes.yaml"))
    (root / "main.py").write_text((root / "main.py").read_text() + extra)
    docs = [d for d in yaml.safe_load_all(_api.build(root, target="kubernetes", environ=environ).text) if d]
    assert kubernetes.problems(docs) == []
    return docs, Pods(yaml.safe_load(_api.kubernetes_secret(root))["stringData"])


def env_of(c: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in c.get("env", [])}


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
    statefulset = pod_of(docs, "StatefulSet", "postgres-db")
    guard = statefulset["initContainers"][0]
    checked = pods.run(guard, "pg-check", pods.claims(guard, {"data": data}))
    assert checked.returncode == 0, checked.stderr  # lost+found alone is not data
    pg = statefulset["containers"][0]
    pods.start(pg, "postgres-db", alias="postgres-db", mounts=pods.claims(pg, {"data": data}))
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
    assert job_mounts[:2] == ["-v", job_mounts[1]] and job_mounts[1].endswith(f":{_migrations.ROOT}:ro")
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
    pods.start(pg, "postgres-db", alias="postgres-db", mounts=pods.claims(pg, {"data": data}))

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


MARIADB_ENV = {"DB_PASSWORD": PASSWORD, "DB_ROOT_PASSWORD": "root $(pw)"}  # pragma: allowlist secret


def test_mariadb_example_waits_for_its_database_and_its_job(tmp_path):
    docs, pods = example(tmp_path, "mariadb-app", MARIADB_ENV)
    try:
        api = {c["name"]: c for c in pod_of(docs, "Deployment", "shop-api")["initContainers"]}
        assert sorted(api) == ["wait-shop-db", "wait-shop-db-migrator"]
        api_pod = pod_of(docs, "Deployment", "shop-api")
        wait = api["wait-shop-db-migrator"]
        migrated = pods.start(wait, "wait-migrated", mounts=volume_mounts(docs, api_pod, wait, tmp_path))
        # The claim's root holds lost+found; the data goes to the subPath.
        statefulset = pod_of(docs, "StatefulSet", "shop-db")
        db = statefulset["containers"][0]
        data = pods.volume("mysql")
        docker("run", "--rm", "-v", f"{data}:/v", "--entrypoint", "mkdir", db["image"], "/v/lost+found")
        guard = statefulset["initContainers"][0]
        checked = pods.run(guard, "db-check", pods.claims(guard, {"data": data}))
        assert checked.returncode == 0, checked.stderr
        pods.start(db, "shop-db", alias="shop-db", mounts=pods.claims(db, {"data": data}))
        ready = pods.run(api["wait-shop-db"], "wait-ready")
        assert ready.returncode == 0, ready.stdout + ready.stderr
        listing = docker("run", "--rm", "-v", f"{data}:/v", "--entrypoint", "ls", db["image"], "/v").stdout.split()
        assert sorted(listing) == ["lost+found", "mysql-data"]
        login = f"MYSQL_PWD={pods.secret['DB_ROOT_PASSWORD']}"
        show = ["mariadb", "-uroot", "--batch", "--skip-column-names", "-e", "SHOW DATABASES"]
        databases = docker("exec", "-e", login, pods.name("shop-db"), *show).stdout.split()
        assert "shop" in databases and not [d for d in databases if "lost" in d], databases
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


@pytest.mark.parametrize(
    ("name", "database", "old_layout"),
    [("postgres", "postgres-db", ["PG_VERSION", "base/"]), ("mariadb", "shop-db", ["ibdata1", "mysql/"])],
)
def test_a_database_does_not_start_beside_data_at_the_root_of_its_claim(project, tmp_path, name, database, old_layout):
    """Data a kubernetes.yaml of before kept at the claim's root (MariaDB's) would be unseen
    from the subdirectory: the pod's first init container stops it, naming what is there."""
    docs, pods = (project[1], Pods(project[2])) if name == "postgres" else example(tmp_path, "mariadb-app", MARIADB_ENV)
    try:
        statefulset = pod_of(docs, "StatefulSet", database)
        guard = statefulset["initContainers"][0]
        assert guard["name"] == "check-data-dir"
        data = pods.volume(name)
        files = " ".join(f"/v/{f.rstrip('/')}" for f in old_layout)
        make = " ".join(f"mkdir /v/{f.rstrip('/')};" if f.endswith("/") else f"touch /v/{f};" for f in old_layout)
        docker(
            "run",
            "--rm",
            "-v",
            f"{data}:/v",
            "--entrypoint",
            "/bin/sh",
            guard["image"],
            "-c",
            f"mkdir /v/lost+found; {make}",
        )
        refused = pods.run(guard, "check", pods.claims(guard, {"data": data}))
        assert refused.returncode == 1
        subdir = "pgdata" if name == "postgres" else "mysql-data"
        line = refused.stderr.strip()
        assert line.startswith(f"{database}: its data volume holds ") and f"move them into {subdir}/" in line
        assert all(f.rstrip("/") in line for f in old_layout) and "lost+found" not in line
        listing = docker("run", "--rm", "-v", f"{data}:/v", "--entrypoint", "ls", guard["image"], "/v").stdout.split()
        assert sorted(listing) == sorted(["lost+found", *(f.rstrip("/") for f in old_layout)])  # nothing moved
        # Moved into the subdirectory, the pod starts.
        moved = f"mkdir /v/{subdir}; mv {files} /v/{subdir}/"
        docker("run", "--rm", "-v", f"{data}:/v", "--entrypoint", "/bin/sh", guard["image"], "-c", moved)
        assert pods.run(guard, "check-again", pods.claims(guard, {"data": data})).returncode == 0
    finally:
        pods.remove()


def test_the_rabbitmq_wait_speaks_amqp_and_a_wait_for_an_app_follows_its_command_probe(tmp_path):
    """rabbitmq-diagnostics from another pod asks a node of its own and exits 69: the wait
    sends AMQP's protocol header to the broker's Service and needs Connection.Start back.
    A pod that needs the worker (CommandProbe: a file only the worker's container has) waits
    until the worker's headless Service lists a ready pod."""
    docs, pods = example(tmp_path, "rabbitmq-worker", {"RABBITMQ_PASSWORD": PASSWORD}, REPORTER)
    try:
        worker_pod = pod_of(docs, "Deployment", "rabbitmq-worker")
        (amqp_wait,) = worker_pod["initContainers"]
        handshake = rabbitmq.amqp_handshake("rabbitmq", 5672)
        assert amqp_wait["name"] == "wait-rabbitmq" and handshake in expand(amqp_wait["command"][2], {})
        (listed_wait,) = pod_of(docs, "Deployment", "reporter")["initContainers"]
        assert env_of(listed_wait) == {kubernetes.WAIT_HOST: "rabbitmq-worker-headless"}

        # Nothing runs: the waits block (one of them on an image without getent: python).
        amqp = pods.start(amqp_wait, "wait-amqp")
        listed = pods.start(listed_wait, "wait-listed", endpoints=True)
        no_getent = ["-v", "/dev/null:/usr/bin/getent:ro"]
        listed_py = pods.start(listed_wait, "wait-listed-py", mounts=no_getent, endpoints=True)

        # The broker boots under its Service's name. While it boots, the wait's check fails.
        broker = pod_of(docs, "StatefulSet", "rabbitmq")["containers"][0]
        data = pods.volume("rabbitmq")
        started = pods.start(broker, "rabbitmq", alias="rabbitmq", mounts=pods.claims(broker, {"data": data}))
        until(lambda: "Starting RabbitMQ" in pods.logs(started), "the broker boots")

        def listening() -> bool:
            return "started TCP listener on [::]:5672" in pods.logs(started)

        failed_while_booting = blocked_while_booting = 0
        while not listening():
            wait_was_running = pods.running(amqp)
            once = docker(
                "run",
                "--rm",
                "--network",
                pods.network,
                "--entrypoint",
                "/bin/sh",
                broker["image"],
                "-c",
                handshake,
                check=False,
            )
            if once.returncode == 0:
                until(listening, "the broker says it listens once the check passed")
            elif not listening():
                failed_while_booting += 1
                blocked_while_booting += wait_was_running
        # The check failed while the broker booted, and the wait was blocked then. (Once the
        # broker listens, the wait may pass before this loop sees the log line: it polls every
        # 2 s, and CI once saw it done by then.)
        assert failed_while_booting >= 1 and blocked_while_booting >= 1
        until_exited(pods, amqp)
        assert "waiting for rabbitmq:5672 to be ready" in pods.logs(amqp) and "rabbitmq is ready" in pods.logs(amqp)

        # The worker starts and becomes ready (its probe, run in its container as the kubelet
        # runs it); no Service lists it yet, and the waits for it still block.
        worker = pods.start(worker_pod["containers"][0], "rabbitmq-worker")
        probe = worker_pod["containers"][0]["readinessProbe"]["exec"]["command"]
        until(lambda: docker("exec", worker, *probe, check=False).returncode == 0, "the worker is ready")
        time.sleep(3)
        assert pods.running(listed) and pods.running(listed_py)
        assert "waiting for rabbitmq-worker-headless to list a ready pod" in pods.logs(listed)

        pods.publish(worker, "rabbitmq-worker-headless")
        until_exited(pods, listed)
        until_exited(pods, listed_py)
        assert "rabbitmq-worker is ready" in pods.logs(listed)
        # Ready meant serving: a job's round trip through the broker's Service.
        reply = docker("exec", worker, "python3", "worker.py", "send", "hello")
        assert reply.stdout.strip() == "HELLO"
    finally:
        pods.remove()
