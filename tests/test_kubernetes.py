"""`clockwork build --target kubernetes`: kubernetes.yaml, validated offline.

No cluster runs here. Proof is: every generated manifest passes kubernetes-validate's strict
schemas for every Kubernetes version it bundles (1.25 to the newest), clockwork's own checks
of what the schemas miss (``problems``), and assertions on what the manifests mean. The
init-container waits and the migrator Job run for real in tests/e2e/test_kubernetes_waits.py.
"""

from __future__ import annotations

import re
import shutil
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import yaml
from support import EXAMPLE, run_cli

from clockwork_compose import _api, _envfile
from clockwork_compose._engines import rabbitmq
from clockwork_compose._errors import DeclarationError
from clockwork_compose._targets.kubernetes import emit as kubernetes

PASSWORD = 'p@ss$w"rd/#1 $(HOME) ü'  # pragma: allowlist secret
SECRET_MAIN = """
db = DockerResource(
    name="postgres-db",
    image="postgres:15-alpine",
    env_vars={"POSTGRES_DB": "appdb", "POSTGRES_USER": "admin", "POSTGRES_PASSWORD": Secret("DB_PASSWORD")},
)
cache = DockerResource(name="cache", image="redis:7-alpine", command=["redis-server", "--requirepass", "x$y"])
api = DockerResource(
    name="api",
    image="example/api:1",
    ports=["8000:80"],
    replicas=3,
    env_vars={"GREETING": "costs $5 and $(HOME)"},
    readiness=TcpProbe(80),
)
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


def manifests(folder: Path) -> tuple[Any, str, list[dict[str, Any]]]:
    project, text, _ = _api.compile_project(folder, None, "kubernetes")
    return project, text, [d for d in yaml.safe_load_all(text) if d is not None]


def by(docs: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    found = [d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]
    assert len(found) == 1, (kind, name, [d["metadata"]["name"] for d in docs if d["kind"] == kind])
    return found[0]


def pod(doc: dict[str, Any]) -> dict[str, Any]:
    return doc["spec"]["template"]["spec"]


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


def expand(value: str, env: dict[str, str] | None = None) -> str:
    """What Kubernetes makes of a command, args or env value: ``$$`` is ``$``, ``$(NAME)``
    is NAME's value when the container defines it (else left as written)."""
    env = env or {}

    def one(match: re.Match[str]) -> str:
        if match[0] == "$$":
            return "$"
        return env.get(match[1], match[0])

    return re.sub(r"\$\$|\$\(([^)]*)\)", one, value)


@cache
def _versions() -> list[str]:
    from kubernetes_validate import utils

    # Each validation reads and parses its schema files again: read each once per run.
    if not hasattr(utils.schema_contents, "cache_info"):
        utils.schema_contents = cache(utils.schema_contents)
    return utils.all_versions()


def schema_errors(docs: list[dict[str, Any]]) -> list[str]:
    """kubernetes-validate --strict, in-process, for every bundled version from 1.25 on."""
    from kubernetes_validate import utils

    errors = []
    for version in _versions():
        for d in docs:
            try:
                utils.validate(d, version, strict=True)
            except Exception as exc:  # noqa: BLE001 (each error is reported with its version)
                errors.append(f"{version} {d['kind']}/{d['metadata']['name']}: {getattr(exc, 'message', exc)}")
    return errors


@pytest.fixture
def example(tmp_path: Path) -> Path:
    folder = tmp_path / "connected-services"
    shutil.copytree(EXAMPLE, folder, ignore=shutil.ignore_patterns(".env", "kubernetes.yaml"))
    return folder


@pytest.fixture
def secret_project(make_project, monkeypatch) -> Path:
    root = make_project(SECRET_MAIN, FILES, name="shop")
    monkeypatch.setenv("DB_PASSWORD", PASSWORD)
    result = _api.build(root, target="kubernetes", environ={"DB_PASSWORD": PASSWORD})
    assert result.path == root / "kubernetes.yaml"
    return root


def test_versions_bundled_cover_1_25_to_the_newest():
    versions = _versions()
    assert versions[0].startswith("1.25") and len(versions) >= 13


def test_example_manifests_pass_every_bundled_schema_strictly_and_clockworks_checks(example: Path):
    _, _, docs = manifests(example)
    assert schema_errors(docs) == []
    assert kubernetes.problems(docs) == []


def test_secret_project_and_its_secret_pass_every_bundled_schema_strictly(secret_project: Path):
    _, _, docs = manifests(secret_project)
    secret = yaml.safe_load(_api.kubernetes_secret(secret_project))
    assert schema_errors([*docs, secret]) == []
    assert kubernetes.problems([*docs, secret]) == []


def test_the_schema_check_and_clockworks_checks_can_fail(example: Path):
    _, _, docs = manifests(example)
    job = by(docs, "Job")
    pod(job)["restartPolicy"] = "Always"
    pod(job)["containers"][0]["imagePulPolicy"] = "Always"  # a typo strict schemas refuse
    problems = kubernetes.problems(docs)
    assert any("restartPolicy must be Never or OnFailure" in p for p in problems)
    assert any("imagePulPolicy" in e for e in schema_errors([job]))
    api = by(docs, "Deployment", "api-server")
    wait = pod(api)["initContainers"][0]
    for e in wait["env"]:
        if e["name"] == kubernetes.WAIT_PORT:
            e["value"] = "5433"
    by(docs, "Service", "redis-cache")["metadata"]["name"] = "redis_cache"
    problems = kubernetes.problems(docs)
    assert any("waits for port 5433" in p for p in problems), problems
    assert any("Service 'redis_cache': not a valid name" in p for p in problems), problems
    assert any("'redis-cache', which is no Service" in p for p in problems), problems


def test_example_snapshot_and_what_it_means(example: Path, snapshot):
    project, text, docs = manifests(example)
    assert text == snapshot
    assert text.startswith(kubernetes.HEADER)
    kinds = [(d["kind"], d["metadata"]["name"]) for d in docs]
    assert kinds == sorted(kinds, key=lambda k: (kubernetes._KIND_ORDER.index(k[0]), k[1]))
    assert {k for k in kinds if k[0] in ("StatefulSet", "Deployment", "Service")} == {
        ("StatefulSet", "postgres-db"),
        ("StatefulSet", "redis-cache"),
        ("Service", "postgres-db"),
        ("Service", "redis-cache"),
        ("Service", "postgres-db-headless"),  # the StatefulSets' serviceName
        ("Service", "redis-cache-headless"),
        ("Service", "api-server"),
        ("Deployment", "api-server"),
        ("Deployment", "worker-service"),  # publishes no port: no Service
    }
    # Databases: one replica, data on a claim; PostgreSQL's data in a subdirectory of it.
    pg = by(docs, "StatefulSet", "postgres-db")
    assert pg["spec"]["replicas"] == 1 and pg["spec"]["serviceName"] == "postgres-db-headless"
    assert [t["metadata"]["name"] for t in pg["spec"]["volumeClaimTemplates"]] == ["data"]
    container = pod(pg)["containers"][0]
    assert container["volumeMounts"] == [{"name": "data", "mountPath": "/var/lib/postgresql/data"}]
    assert env_of(container)["PGDATA"] == "/var/lib/postgresql/data/pgdata"
    guard = pod(pg)["initContainers"][0]
    assert guard["name"] == "check-data-dir" and guard["image"] == "postgres:15-alpine"
    assert guard["volumeMounts"] == [{"name": "data", "mountPath": kubernetes.CLAIM_ROOT, "readOnly": True}]
    assert "lost+found | pgdata)" in expand(guard["command"][2])
    assert container["readinessProbe"]["exec"]["command"][:2] == ["pg_isready", "-h"]
    assert "PGDATA" not in env_of(pod(by(docs, "StatefulSet", "redis-cache"))["containers"][0])
    # The Services keep the names and ports the injected URLs use.
    url = env_of(pod(by(docs, "Deployment", "api-server"))["containers"][0])["DATABASE_URL"]
    assert url == "postgresql://admin:secret123@postgres-db:5432/appdb"  # pragma: allowlist secret
    assert by(docs, "Service", "postgres-db")["spec"]["ports"][0]["port"] == 5432
    assert by(docs, "Service", "api-server")["spec"]["ports"][0]["port"] == 80
    # Apps: readiness and startup probes from the typed HttpProbe, not liveness.
    api = pod(by(docs, "Deployment", "api-server"))
    main = api["containers"][0]
    assert main["readinessProbe"]["httpGet"] == {"path": "/health", "port": 80}
    assert main["startupProbe"]["httpGet"] == {"path": "/health", "port": 80}
    assert "livenessProbe" not in main
    assert main["image"] == "connected-services-api-server:latest" and main["imagePullPolicy"] == "IfNotPresent"
    # Order: the API waits for PostgreSQL, its migrations and Redis; the worker for Redis.
    assert [c["name"] for c in api["initContainers"]] == [
        "wait-postgres-db",
        "wait-postgres-db-migrator",
        "wait-redis-cache",
    ]
    assert [c["name"] for c in pod(by(docs, "Deployment", "worker-service"))["initContainers"]] == ["wait-redis-cache"]
    redis_wait = api["initContainers"][2]
    assert expand(redis_wait["command"][2]).startswith("until ( redis-cli -h redis-cache -p 6379 ping | grep -q PONG")
    # The Job runs the driver and the plan the Compose migrator runs, on the same image.
    migrator = project.services["postgres-db-migrator"]
    job = by(docs, "Job")
    runner = pod(job)["containers"][0]
    assert [expand(w) for w in runner["command"]] == list(migrator.entrypoint)
    assert [expand(a) for a in runner["args"]] == list(migrator.command)
    assert runner["image"] == "postgres:15-alpine"
    assert pod(job)["restartPolicy"] == "Never" and "ttlSecondsAfterFinished" not in job["spec"]
    assert job["metadata"]["annotations"]["clockwork.dev/migrations"] == migrator.migrator.digest
    assert [c["name"] for c in pod(job)["initContainers"]] == ["wait-postgres-db"]


def test_the_configmap_holds_every_file_at_the_path_the_plan_names(example: Path):
    project, _, docs = manifests(example)
    config = by(docs, "ConfigMap")
    assert config["immutable"] is True
    volume = next(v for v in pod(by(docs, "Job"))["volumes"] if v["name"] == "migrations")
    assert volume["configMap"]["name"] == config["metadata"]["name"]
    files = {item["path"]: config["data"][item["key"]] for item in volume["configMap"]["items"]}
    plan = project.services["postgres-db-migrator"].migrator.plan
    for step in plan.steps:
        assert files[step.path] == (example / ("schema.sql" if step.kind == "schema" else step.path)).read_text()
    assert all("/" not in item["key"] for item in volume["configMap"]["items"])
    mount = pod(by(docs, "Job"))["containers"][0]["volumeMounts"][0]
    assert mount == {"name": "migrations", "mountPath": "/clockwork", "readOnly": True}


def test_new_migration_content_is_a_new_configmap_and_job_unchanged_is_the_same_bytes(example: Path):
    _, first, docs = manifests(example)
    _, again, _ = manifests(example)
    assert again == first  # deterministic: re-applying changes nothing, nothing re-runs
    names = {d["kind"]: d["metadata"]["name"] for d in docs if d["kind"] in ("ConfigMap", "Job")}
    (example / "migrations" / "004_more.sql").write_text("CREATE TABLE more (id int);\n")
    _, _, changed = manifests(example)
    new = {d["kind"]: d["metadata"]["name"] for d in changed if d["kind"] in ("ConfigMap", "Job")}
    assert new["ConfigMap"] != names["ConfigMap"] and new["Job"] != names["Job"]
    assert all(n.startswith("postgres-db-migrator-") and len(n) <= 63 for n in new.values())
    # The app now waits for four versioned steps and the schema to be recorded.
    wait = next(c for c in pod(by(changed, "Deployment", "api-server"))["initContainers"] if "migrator" in c["name"])
    assert wait["volumeMounts"] == [{"name": wait["name"], "mountPath": kubernetes.WAIT_DIR, "readOnly": True}]
    volume = next(v for v in pod(by(changed, "Deployment", "api-server"))["volumes"] if v["name"] == wait["name"])
    assert volume["configMap"] == {"name": new["ConfigMap"], "items": [{"key": "wait.sql", "path": "wait.sql"}]}
    assert "'004_more.sql'" in by(changed, "ConfigMap")["data"]["wait.sql"]


def test_no_secret_value_in_kubernetes_yaml_and_every_secret_key_ref_has_its_key(secret_project: Path):
    project, text, docs = manifests(secret_project)
    for form in (PASSWORD, quote(PASSWORD, safe=""), "p@ss", "p%40ss"):
        assert form not in text
    secret = yaml.safe_load(_api.kubernetes_secret(secret_project))
    assert secret["metadata"]["name"] == kubernetes.secret_name(project) == "shop-secrets"
    refs = kubernetes.secret_refs(docs)
    assert refs and refs <= {(secret["metadata"]["name"], key) for key in secret["stringData"]}
    broken = {**secret, "stringData": {k: v for k, v in secret["stringData"].items() if k != "DB_PASSWORD"}}
    assert "secretKeyRef shop-secrets/DB_PASSWORD: Secret 'shop-secrets' has no key 'DB_PASSWORD'" in (
        kubernetes.problems([*docs, broken])
    )
    # The values that reach the pods are exact: no quotes from .env, URL-encoded in the URL.
    values = secret["stringData"]
    assert values["DB_PASSWORD"] == PASSWORD
    env = _envfile.parse((secret_project / ".env").read_text())
    url_var = next(k for k in values if k != "DB_PASSWORD")
    assert values[url_var] == env[url_var] == f"postgresql://admin:{quote(PASSWORD, safe='')}@postgres-db:5432/appdb"
    api = env_of(pod(by(docs, "Deployment", "api"))["containers"][0])
    assert api["DATABASE_URL"] == {"secretKeyRef": {"name": "shop-secrets", "key": url_var}}
    db = env_of(pod(by(docs, "StatefulSet", "postgres-db"))["containers"][0])
    assert db["POSTGRES_PASSWORD"] == {"secretKeyRef": {"name": "shop-secrets", "key": "DB_PASSWORD"}}
    job = env_of(pod(by(docs, "Job"))["containers"][0])
    assert job["PGPASSWORD"] == {"secretKeyRef": {"name": "shop-secrets", "key": "DB_PASSWORD"}}


def test_dollar_signs_reach_the_container_as_declared_and_replicas_and_tcp_probes(secret_project: Path):
    _, _, docs = manifests(secret_project)
    api = by(docs, "Deployment", "api")
    assert api["spec"]["replicas"] == 3
    container = pod(api)["containers"][0]
    assert expand(env_of(container)["GREETING"], {"HOME": "/root"}) == "costs $5 and $(HOME)"
    assert container["readinessProbe"]["tcpSocket"] == {"port": 80}
    cache = pod(by(docs, "StatefulSet", "cache"))["containers"][0]
    assert [expand(a) for a in cache["args"]] == ["redis-server", "--requirepass", "x$y"]
    # The readiness probe is not expanded by Kubernetes: written as it runs.
    assert "REDISCLI_AUTH='x$y'" in cache["readinessProbe"]["exec"]["command"][2]


def test_cli_build_writes_kubernetes_yaml_next_to_main_and_check_and_secrets(secret_project: Path):
    (secret_project / "kubernetes.yaml").unlink()
    built = run_cli("build", "--target", "kubernetes", cwd=secret_project, env={"DB_PASSWORD": PASSWORD})
    assert built.code == 0, built.err
    assert "wrote kubernetes.yaml" in built.err
    assert run_cli("build", "--target", "kubernetes", "--check", cwd=secret_project).code == 0
    printed = run_cli("secrets", "--target", "kubernetes", cwd=secret_project)
    assert printed.code == 0, printed.err
    assert yaml.safe_load(printed.out)["stringData"]["DB_PASSWORD"] == PASSWORD
    refused = run_cli("apply", "--target", "kubernetes", cwd=secret_project)
    assert refused.code == 2 and "kubectl apply -f kubernetes.yaml" in refused.err


def test_secrets_without_a_value_in_env_names_the_variable(secret_project: Path):
    (secret_project / ".env").write_text("")
    with pytest.raises(
        DeclarationError,
        match=r"^CLOCKWORK_API_DATABASE_URL has no value in \.env; run `clockwork build --target kubernetes`",
    ):
        _api.kubernetes_secret(secret_project, environ={})  # the fixture's environment would give DB_PASSWORD


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("api_server", "lowercase letters, digits and '-'"),
        ("api.server", "lowercase letters, digits and '-'"),
        ("9api", "starting with a letter"),
        ("api-", "ending with a letter or digit"),
    ],
)
def test_a_name_kubernetes_cannot_use_is_an_error_naming_the_resource_and_the_fix(make_project, name, why):
    root = make_project(f'app = DockerResource(name="{name}", image="example/app:1")\n')
    result = run_cli("build", "--target", "kubernetes", cwd=root)
    assert result.code == 2, result.err
    line = result.err.strip().splitlines()[-1]
    assert f"resource '{name}', field 'name'" in line and why in line and "rename the resource" in line
    assert not (root / "kubernetes.yaml").exists()
    # The same name is fine on Compose.
    assert run_cli("build", cwd=root).code == 0


def test_a_database_name_leaves_room_for_the_statefulset_revision_label(make_project):
    name = "d" * 53
    root = make_project(f'db = DockerResource(name="{name}", image="redis:7")\n')
    with pytest.raises(DeclarationError, match="at most 52 characters"):
        _api.compile_project(root, None, "kubernetes")


def test_a_bind_mount_is_an_error_naming_the_fix(make_project):
    root = make_project('app = DockerResource(name="app", image="x:1", volumes=["./conf:/etc/app"])\n', {"conf/a": ""})
    with pytest.raises(DeclarationError, match="build the files into the image"):
        _api.compile_project(root, None, "kubernetes")


def test_waits_carry_only_what_the_probe_reads_and_an_app_waits_for_an_app(make_project):
    root = make_project(
        """
        cache = DockerResource(name="cache", image="redis:7-alpine", env_vars={"REDIS_PASSWORD": Secret("CACHE_PW")})
        web = DockerResource(
            name="web", image="x/web:1", ports=["8080"], readiness=HttpProbe("/", port=8080, status=418)
        )
        worker = DockerResource(name="worker", image="x/w:1")
        worker.connect(cache)
        worker.connect(web)
        """,
        name="my_shop",
    )
    _api.build(root, target="kubernetes", environ={"CACHE_PW": "a$b"})
    project, _, docs = manifests(root)
    assert schema_errors(docs) == [] and kubernetes.problems(docs) == []
    assert kubernetes.secret_name(project) == "my-shop-secrets"  # the folder's '_' is not a DNS name
    waits = {c["name"]: c for c in pod(by(docs, "Deployment", "worker"))["initContainers"]}
    cache = waits["wait-cache"]
    assert env_of(cache)["REDIS_PASSWORD"] == {"secretKeyRef": {"name": "my-shop-secrets", "key": "CACHE_PW"}}
    assert set(env_of(cache)) == {"REDIS_PASSWORD", kubernetes.WAIT_HOST, kubernetes.WAIT_PORT}
    assert 'REDISCLI_AUTH="$REDIS_PASSWORD" redis-cli -h cache -p 6379' in expand(cache["command"][2])
    web = waits["wait-web"]
    assert web["image"] == "x/web:1" and "'http://web:8080/'" in expand(web["command"][2])
    assert env_of(web)[kubernetes.WAIT_PORT] == "8080"
    # A status outside Kubernetes' 200-399 keeps clockwork's exact check, in the container.
    probe = pod(by(docs, "Deployment", "web"))["containers"][0]["readinessProbe"]
    assert "httpGet" not in probe and "= 418 ]" in probe["exec"]["command"][2]


def test_the_mariadb_example_waits_with_its_own_client_for_applied_records(tmp_path: Path):
    root = tmp_path / "mariadb-app"
    shutil.copytree(EXAMPLE.parent / "mariadb-app", root, ignore=shutil.ignore_patterns(".env", "kubernetes.yaml"))
    _api.build(root, target="kubernetes", environ={"DB_PASSWORD": "pw", "DB_ROOT_PASSWORD": "root"})
    _, _, docs = manifests(root)
    secret = yaml.safe_load(_api.kubernetes_secret(root))
    assert schema_errors([*docs, secret]) == [] and kubernetes.problems([*docs, secret]) == []
    wait = next(c for c in pod(by(docs, "Deployment", "shop-api"))["initContainers"] if "migrator" in c["name"])
    assert wait["image"] == "mariadb:11" and '"$c" --protocol=tcp' in expand(wait["command"][2])
    sql = by(docs, "ConfigMap")["data"]["wait.sql"]
    assert "FROM clockwork_migrations r" in sql and "AND (state = 'applied')" in sql
    assert env_of(wait)["MYSQL_PWD"] == {"secretKeyRef": {"name": "mariadb-app-secrets", "key": "DB_PASSWORD"}}


def headless_services(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == "Service" and d["spec"].get("clusterIP") == "None"}


def test_every_statefulset_names_a_headless_service_of_its_pods_and_keeps_its_clusterip_service(example: Path):
    _, _, docs = manifests(example)
    headless = headless_services(docs)
    for stateful in [d for d in docs if d["kind"] == "StatefulSet"]:
        name = stateful["metadata"]["name"]
        governing = headless[stateful["spec"]["serviceName"]]
        assert governing["metadata"]["name"] == f"{name}-headless"
        assert governing["spec"]["selector"] == stateful["spec"]["selector"]["matchLabels"]
        assert governing["spec"]["publishNotReadyAddresses"] is False  # DNS lists ready pods only
        # The URLs' host stays a ClusterIP Service with the resource's name.
        assert "clusterIP" not in by(docs, "Service", name)["spec"]
    # problems() sees a serviceName that is not headless, and a Service that selects nothing.
    by(docs, "StatefulSet", "redis-cache")["spec"]["serviceName"] = "redis-cache"
    by(docs, "Service", "postgres-db-headless")["spec"]["selector"]["app.kubernetes.io/name"] = "postgres"
    found = kubernetes.problems(docs)
    assert "StatefulSet 'redis-cache': serviceName 'redis-cache' is no headless Service of its pods" in found
    assert "Service 'postgres-db-headless': selects no pod" in found
    assert "StatefulSet 'postgres-db': serviceName 'postgres-db-headless' is no headless Service of its pods" in found


def test_no_pod_gets_service_links_in_its_environment(example: Path):
    _, _, docs = manifests(example)
    templates = [pod(d) for d in docs if d["kind"] in ("Deployment", "StatefulSet", "Job")]
    assert len(templates) == 5 and all(t["enableServiceLinks"] is False for t in templates)


def rabbitmq_example(tmp_path: Path, extra: str = "") -> list[dict[str, Any]]:
    root = tmp_path / "rabbitmq-worker"
    shutil.copytree(EXAMPLE.parent / "rabbitmq-worker", root, ignore=shutil.ignore_patterns(".env", "kubernetes.yaml"))
    (root / "main.py").write_text((root / "main.py").read_text() + extra)
    _api.build(root, target="kubernetes", environ={"RABBITMQ_PASSWORD": "pw"})
    _, _, docs = manifests(root)
    secret = yaml.safe_load(_api.kubernetes_secret(root))
    assert schema_errors([*docs, secret]) == [] and kubernetes.problems([*docs, secret]) == []
    return docs


def test_rabbitmq_is_waited_for_over_amqp_on_the_port_its_clients_use(tmp_path: Path):
    docs = rabbitmq_example(tmp_path)
    # Only the management UI is mapped; the Service still forwards AMQP, which AMQP_URL names.
    ports = {p["port"] for p in by(docs, "Service", "rabbitmq")["spec"]["ports"]}
    assert ports == {5672, 15672}
    (wait,) = pod(by(docs, "Deployment", "rabbitmq-worker"))["initContainers"]
    assert env_of(wait) == {kubernetes.WAIT_HOST: "rabbitmq", kubernetes.WAIT_PORT: "5672"}
    script = expand(wait["command"][2])
    # Not rabbitmq-diagnostics, which asks a node of the wait's own pod (exit 69).
    assert "rabbitmq-diagnostics" not in script and "check_port_connectivity" not in script
    assert rabbitmq.amqp_handshake("rabbitmq", 5672) in script
    assert "rabbitmq 5672" in script and 'gen_tcp:connect("rabbitmq", 5672' in script
    # In its own pod the broker's probe still asks its own node.
    broker = pod(by(docs, "StatefulSet", "rabbitmq"))["containers"][0]
    assert broker["readinessProbe"]["exec"]["command"] == ["rabbitmq-diagnostics", "-q", "check_port_connectivity"]


def test_a_wait_for_an_app_with_a_command_probe_waits_for_its_headless_service_to_list_a_ready_pod(tmp_path: Path):
    reporter = (
        "\nfrom clockwork_compose import HttpProbe\n"
        'reporter = DockerResource(name="reporter", image="x/reporter:1")\n'
        "reporter.connect(worker)\n"
        'web = DockerResource(name="web", image="x/web:1", ports=["8080"], readiness=HttpProbe("/", port=9090))\n'
        "reporter.connect(web)\n"
    )
    docs = rabbitmq_example(tmp_path, reporter)
    waits = {c["name"]: c for c in pod(by(docs, "Deployment", "reporter"))["initContainers"]}
    assert sorted(waits) == ["wait-rabbitmq-worker", "wait-web"]
    # The worker publishes no port: its headless Service lists its ready pods, no ports.
    headless = headless_services(docs)
    worker = headless["rabbitmq-worker-headless"]
    assert "ports" not in worker["spec"] and worker["spec"]["publishNotReadyAddresses"] is False
    assert worker["spec"]["selector"] == by(docs, "Deployment", "rabbitmq-worker")["spec"]["selector"]["matchLabels"]
    wait = waits["wait-rabbitmq-worker"]
    assert wait["image"] == "clockwork-examples/rabbitmq-worker:1"
    assert env_of(wait) == {kubernetes.WAIT_HOST: "rabbitmq-worker-headless"}
    script = expand(wait["command"][2])
    assert 'getent hosts "$1"' in script and "until listed rabbitmq-worker-headless\n" in script
    assert "test -e /tmp/consuming" not in script  # the probe runs in the worker's pod only
    # An HttpProbe on a port the app's Service lacks (9090 of 8080) waits the same way.
    assert env_of(waits["wait-web"]) == {kubernetes.WAIT_HOST: "web-headless"}
    assert set(headless) == {"rabbitmq-headless", "rabbitmq-worker-headless", "web-headless"}
    assert {p["port"] for p in headless["web-headless"]["spec"]["ports"]} == {8080}
    # problems() refuses such a wait on a Service that is not headless.
    del headless["web-headless"]["spec"]["clusterIP"]
    assert "Deployment 'reporter': wait-web waits for 'web-headless' to list ready pods: it is not headless" in (
        kubernetes.problems(docs)
    )


def test_a_wait_that_names_its_service_only_inside_another_word_does_not_reach_it(tmp_path: Path):
    docs = rabbitmq_example(tmp_path)
    (wait,) = pod(by(docs, "Deployment", "rabbitmq-worker"))["initContainers"]
    wait["command"][2] = "until rabbitmq-diagnostics -q check_port_connectivity; do sleep 2; done"
    assert "Deployment 'rabbitmq-worker': wait-rabbitmq does not reach 'rabbitmq'" in kubernetes.problems(docs)


@pytest.mark.parametrize("image", ["mariadb:11", "mysql:8.4"])
def test_mariadb_and_mysql_keep_their_data_in_a_subpath_of_the_claim(make_project, image):
    root = make_project(
        f"""
        db = DockerResource(name="db", image="{image}", env_vars={{"MYSQL_ROOT_PASSWORD": "root"}})
        app = DockerResource(name="app", image="x/app:1")
        app.connect(db)
        """
    )
    _, _, docs = manifests(root)
    assert schema_errors(docs) == [] and kubernetes.problems(docs) == []
    stateful = by(docs, "StatefulSet", "db")
    container = pod(stateful)["containers"][0]
    assert container["volumeMounts"] == [{"name": "data", "mountPath": "/var/lib/mysql", "subPath": "mysql-data"}]
    assert [t["metadata"]["name"] for t in stateful["spec"]["volumeClaimTemplates"]] == ["data"]
    guard = pod(stateful)["initContainers"][0]
    assert guard["name"] == "check-data-dir" and guard["image"] == image
    assert guard["volumeMounts"] == [{"name": "data", "mountPath": kubernetes.CLAIM_ROOT, "readOnly": True}]
    assert "lost+found | mysql-data)" in expand(guard["command"][2])


def test_a_data_volume_the_user_names_is_kept_in_the_subdirectory_too_and_pgdata_set_by_the_user_is_left_alone(
    make_project,
):
    root = make_project(
        """
        maria = DockerResource(name="maria", image="mariadb:11", volumes=["mdata:/var/lib/mysql/"],
                               env_vars={"MARIADB_ROOT_PASSWORD": "root"})
        pg = DockerResource(name="pg", image="postgres:16", env_vars={"POSTGRES_PASSWORD": "pw",
                            "PGDATA": "/var/lib/postgresql/data/mine"})
        """
    )
    _, _, docs = manifests(root)
    maria = pod(by(docs, "StatefulSet", "maria"))
    assert maria["containers"][0]["volumeMounts"] == [
        {"name": "mdata", "mountPath": "/var/lib/mysql/", "subPath": "mysql-data"}
    ]
    assert maria["initContainers"][0]["volumeMounts"][0]["name"] == "mdata"
    pg = pod(by(docs, "StatefulSet", "pg"))
    assert env_of(pg["containers"][0])["PGDATA"] == "/var/lib/postgresql/data/mine"
    assert "initContainers" not in pg and "subPath" not in pg["containers"][0]["volumeMounts"][0]


def test_a_deployment_with_a_claim_stops_its_old_pod_before_starting_the_new_one(make_project):
    root = make_project(
        """
        files = DockerResource(name="files", image="x/files:1", volumes=["uploads:/srv/uploads"])
        web = DockerResource(name="web", image="x/web:1")
        """
    )
    _, _, docs = manifests(root)
    assert by(docs, "Deployment", "files")["spec"]["strategy"] == {"type": "Recreate"}
    assert "strategy" not in by(docs, "Deployment", "web")["spec"]
    project, _, _ = manifests(root)
    assert not project.warnings


def test_replicas_sharing_a_claim_are_a_warning_naming_the_claim_and_the_fixes(make_project):
    root = make_project(
        'files = DockerResource(name="files", image="x/files:1", replicas=3, volumes=["uploads:/srv/uploads"])\n'
    )
    result = run_cli("build", "--target", "kubernetes", cwd=root)
    assert result.code == 0, result.err
    warning = next(line for line in result.err.splitlines() if "ReadWriteOnce" in line)
    assert "files (3 replicas): 3 pods share the volume 'uploads', on Kubernetes the claim 'uploads'" in warning
    assert "give the volume one pod" in warning and "ReadWriteMany" in warning


def test_resources_sharing_a_volume_share_its_claim_as_on_compose(make_project):
    root = make_project(
        """
        db = DockerResource(name="db", image="postgres:16", volumes=["pg:/var/lib/postgresql/data"],
                            env_vars={"POSTGRES_PASSWORD": "pw"})
        backup = DockerResource(name="backup", image="x/backup:1", volumes=["pg:/source:ro", "shared:/srv"])
        web = DockerResource(name="web", image="x/web:1", volumes=["shared:/srv"])
        """
    )
    project, _, docs = manifests(root)
    assert schema_errors(docs) == [] and kubernetes.problems(docs) == []
    # One claim per volume: the app's is written once; the database's is its StatefulSet's.
    assert [d["metadata"]["name"] for d in docs if d["kind"] == "PersistentVolumeClaim"] == ["shared"]
    assert [t["metadata"]["name"] for t in by(docs, "StatefulSet", "db")["spec"]["volumeClaimTemplates"]] == ["pg"]
    claims = {
        v["name"]: v["persistentVolumeClaim"]["claimName"] for v in pod(by(docs, "Deployment", "backup"))["volumes"]
    }
    assert claims == {"pg": "pg-db-0", "shared": "shared"}  # the controller names it <template>-<statefulset>-0
    assert pod(by(docs, "Deployment", "web"))["volumes"][0]["persistentVolumeClaim"]["claimName"] == "shared"
    warnings = [w for w in project.warnings if "ReadWriteOnce" in w]
    assert [w.split(":")[0] for w in warnings] == ["backup, db", "backup, web"]


def test_two_volumes_that_would_be_one_claim_are_an_error_naming_both(make_project):
    root = make_project(
        """
        a = DockerResource(name="web-a", image="x/a:1", volumes=["my_files:/a"])
        b = DockerResource(name="web-b", image="x/b:1", volumes=["my-files:/b"])
        """
    )
    with pytest.raises(
        DeclarationError,
        match=r"resource 'web-b', field 'volumes': the volumes 'my_files' and 'my-files' would both be the claim",
    ):
        _api.compile_project(root, None, "kubernetes")


def test_two_services_of_one_name_are_an_error_naming_both_resources(make_project):
    root = make_project(
        """
        db = DockerResource(name="db", image="redis:7")
        other = DockerResource(name="db-headless", image="x/web:1", ports=["80"])
        """
    )
    with pytest.raises(DeclarationError, match=r"resource 'db-headless', field 'name'.*two Services 'db-headless'"):
        _api.compile_project(root, None, "kubernetes")
    # Without a port that app has no Service: nothing collides.
    (root / "main.py").write_text((root / "main.py").read_text().replace(', ports=["80"]', ""))
    _, _, docs = manifests(root)
    assert kubernetes.problems(docs) == []


LONG = "a" * 60 + "-ok"  # 63 characters: its headless Service's name must be shortened
ODD_PROJECTS = {
    "a long app name waited for by its command probe": f"""
        worker = DockerResource(name="{LONG}", image="x/w:1", readiness=CommandProbe(["test", "-e", "/tmp/up"]))
        app = DockerResource(name="app", image="x/a:1")
        app.connect(worker)
        """,
    "a shell healthcheck on a plain image": """
        svc = DockerResource(name="svc", image="x/s:1", healthcheck={"test": "test -e /tmp/up"})
        app = DockerResource(name="app", image="x/a:1")
        app.connect(svc)
        """,
    "rabbitmq on a remapped port, redis without ports, valkey with a password": """
        mq = DockerResource(name="mq", image="rabbitmq:3", ports=["5673:5672", "15672"])
        cache = DockerResource(name="cache", image="redis:7")
        kv = DockerResource(name="kv", image="valkey/valkey:8", command=["valkey-server", "--requirepass", "pw"])
        app = DockerResource(name="app", image="x/a:1")
        app.connect(mq)
        app.connect(cache)
        app.connect(DatabaseConnection(to_resource=kv, env_var_name="KV_URL"))
        """,
    "a database with its own volume, and apps waiting on apps": """
        db = DockerResource(name="db", image="postgres:16", volumes=["pg:/var/lib/postgresql/data"],
                            env_vars={"POSTGRES_PASSWORD": "pw"})
        api = DockerResource(name="api", image="x/api:1", ports=["80"], readiness=TcpProbe(80))
        front = DockerResource(name="front", image="x/f:1", readiness=HttpProbe("/", port=3000))
        api.connect(db)
        front.connect(api)
        edge = DockerResource(name="edge", image="x/e:1")
        edge.connect(front)
        """,
}


@pytest.mark.parametrize("main", list(ODD_PROJECTS.values()), ids=list(ODD_PROJECTS))
def test_odd_projects_pass_every_schema_and_clockworks_checks(make_project, main):
    root = make_project(main)
    _, _, docs = manifests(root)
    assert schema_errors(docs) == [] and kubernetes.problems(docs) == []
    waits = [c for d in docs if d["kind"] == "Deployment" for c in pod(d).get("initContainers", [])]
    assert waits  # every project above makes a pod wait
    headless = headless_services(docs)
    for wait in waits:
        env = env_of(wait)
        if kubernetes.WAIT_PORT not in env:
            assert env[kubernetes.WAIT_HOST] in headless
