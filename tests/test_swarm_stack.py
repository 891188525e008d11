"""`clockwork build --target swarm`: docker-stack.yml, what it holds and what it must not."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest
import yaml
from support import EXAMPLE, HEADER, run_cli

from clockwork_compose import _api
from clockwork_compose._errors import DeclarationError


def stack(folder: Path) -> tuple[str, dict]:
    _, text, _ = _api.compile_project(folder, None, "swarm")
    return text, yaml.safe_load(text)


@pytest.fixture
def example(tmp_path: Path) -> Path:
    folder = tmp_path / "connected-services"
    shutil.copytree(EXAMPLE, folder, ignore=shutil.ignore_patterns(".env", "docker-stack.yml"))
    return folder


def test_build_writes_docker_stack_next_to_main_and_check_tells_when_stale(example: Path):
    first = run_cli("build", "--target", "swarm", cwd=example)
    assert first.code == 0, first.err
    written = (example / "docker-stack.yml").read_text()
    assert run_cli("build", "--target", "swarm", cwd=example).code == 0
    assert (example / "docker-stack.yml").read_text() == written  # deterministic
    assert run_cli("build", "--target", "swarm", "--check", cwd=example).code == 0
    (example / "migrations" / "004_more.sql").write_text("CREATE TABLE more (id int);\n")
    stale = run_cli("build", "--target", "swarm", "--check", cwd=example)
    assert stale.code == 1 and "004_more.sql" in stale.err, stale.err
    # The Compose target is still the default, and its file is not touched by the Swarm build.
    assert not (example / "docker-compose.yml").read_text().count("replicated-job")


def test_what_docker_stack_deploy_rejects_or_ignores_is_left_out(example: Path):
    text, doc = stack(example)
    assert "name" not in doc
    for name, service in doc["services"].items():
        for key in ("container_name", "build", "restart", "depends_on", "tmpfs", "labels"):
            assert key not in service, (name, key)
        assert service["deploy"]["endpoint_mode"] == "dnsrr"
        for port in service.get("ports", []):
            assert port["mode"] == "host", name
    assert doc["networks"]["app_network"] == {"driver": "overlay", "attachable": True}


def test_the_migrator_is_a_job_whose_files_are_content_hashed_configs(example: Path):
    _, doc = stack(example)
    migrator = doc["services"]["postgres-db-migrator"]
    assert migrator["deploy"]["mode"] == "replicated-job"
    assert migrator["deploy"]["restart_policy"]["condition"] == "on-failure"
    assert "volumes" in migrator and all(v["type"] == "tmpfs" for v in migrator["volumes"])  # no anonymous volume
    targets = {c["target"]: c["source"] for c in migrator["configs"]}
    assert sorted(targets) == [
        "/clockwork/migrations/001_add_users_table.sql",
        "/clockwork/migrations/002_add_sessions_table.sql",
        "/clockwork/migrations/003_add_indexes.sql",
        "/clockwork/schema/schema.sql",
    ]
    for target, key in targets.items():
        source = example / doc["configs"][key]["file"]
        assert source.name == Path(target).name
        assert key.endswith(hashlib.sha256(source.read_bytes()).hexdigest()[:12])
    # An edited file is a new config (configs are immutable), and a new digest label.
    before = migrator["deploy"]["labels"]["dev.clockwork.migrations"]
    (example / "migrations" / "003_add_indexes.sql").write_text("CREATE INDEX i ON users (id);\n")
    _, after = stack(example)
    changed = {c["target"]: c["source"] for c in after["services"]["postgres-db-migrator"]["configs"]}
    assert changed["/clockwork/migrations/003_add_indexes.sql"] != targets["/clockwork/migrations/003_add_indexes.sql"]
    assert changed["/clockwork/schema/schema.sql"] == targets["/clockwork/schema/schema.sql"]
    assert after["services"]["postgres-db-migrator"]["deploy"]["labels"]["dev.clockwork.migrations"] != before


def test_databases_are_pinned_apps_run_the_compose_built_image_and_have_replicas(example: Path):
    main = example / "main.py"
    main.write_text(main.read_text().replace('name="worker-service",', 'name="worker-service",\n    replicas=3,'))
    _, doc = stack(example)
    for db in ("postgres-db", "redis-cache"):
        assert doc["services"][db]["deploy"]["placement"]["constraints"] == [
            f"node.labels.clockwork.data.connected-services.{db} == true"
        ]
        assert doc["services"][db]["deploy"]["replicas"] == 1
    assert doc["services"]["worker-service"]["deploy"]["replicas"] == 3
    assert "placement" not in doc["services"]["worker-service"]["deploy"]
    assert doc["services"]["api-server"]["image"] == "connected-services-api-server:latest"
    # Compose ignores replicas: it runs one container per service.
    assert "replicas" not in (example / "docker-compose.yml").read_text()


def test_a_database_with_replicas_is_refused(tmp_path: Path):
    (tmp_path / "main.py").write_text(HEADER + 'DockerResource(name="db", image="postgres:16", replicas=2)\n')
    with pytest.raises(DeclarationError) as info:
        _api.compile_project(tmp_path, None, "swarm")
    assert (info.value.resource, info.value.field) == ("db", "replicas")


def test_vip_endpoint_mode_is_a_setting(example: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("CLOCKWORK_SWARM_ENDPOINT_MODE", "vip")
    _, doc = stack(example)
    assert doc["services"]["api-server"]["deploy"]["endpoint_mode"] == "vip"
    assert doc["services"]["api-server"]["ports"][0]["mode"] == "ingress"
    monkeypatch.setenv("CLOCKWORK_SWARM_ENDPOINT_MODE", "ipvs")
    with pytest.raises(DeclarationError):
        stack(example)


def test_no_secret_value_in_the_stack_file(tmp_path: Path):
    (tmp_path / "main.py").write_text(
        HEADER
        + 'db = DockerResource(name="db", image="postgres:16", env_vars={"POSTGRES_PASSWORD": Secret("DB_PW")})\n'
        + 'app = DockerResource(name="app", image="app:1", ports=["16080:80"])\n'
        + 'app.connect(DatabaseConnection(to_resource=db, password=Secret("DB_PW"), username="postgres"))\n'
    )
    result = run_cli("build", "--target", "swarm", cwd=tmp_path, env={"DB_PW": "s3cr3t-Value"})
    assert result.code == 0, result.err
    text = (tmp_path / "docker-stack.yml").read_text()
    assert "s3cr3t-Value" not in text
    assert "${DB_PW:?" in text and "${CLOCKWORK_APP_DATABASE_URL:?" in text
    assert "s3cr3t-Value" in (tmp_path / ".env").read_text()


@pytest.mark.skipif(shutil.which("docker") is None, reason="needs the docker CLI (no engine)")
def test_docker_stack_config_accepts_it(example: Path):
    assert run_cli("build", "--target", "swarm", cwd=example).code == 0
    from engine_support import docker

    proc = docker("stack", "config", "-c", "docker-stack.yml", check=False, cwd=example)
    assert proc.returncode == 0, proc.stderr
    config = yaml.safe_load(proc.stdout)
    assert config["services"]["postgres-db-migrator"]["deploy"]["mode"] == "replicated-job"
    assert Path(config["configs"][next(iter(config["configs"]))]["file"]).is_file()


def test_swarm_only_options_are_refused_not_ignored_elsewhere(example: Path):
    for args in (["apply", "--stack", "x"], ["assert", "--stack", "x"], ["destroy", "--stack", "x"]):
        result = run_cli(*args, cwd=example)
        assert result.code == 2 and "--stack is for --target swarm" in result.err, (args, result.err)
    result = run_cli("apply", "--target", "swarm", "--replace-data", cwd=example)
    assert result.code == 2 and "--replace-data is for Compose" in result.err


def test_each_target_places_project_relative_paths_from_where_its_file_is(example: Path):
    from clockwork_compose._targets import place

    assert place("./schema.sql", ".") == "./schema.sql"
    assert place("./schema.sql", "..") == "../schema.sql"
    assert place(".", "../app") == "../app"
    assert place("../shared", "..") == "../../shared"
    _, text, _ = _api.compile_project(example, example / "deploy" / "docker-stack.yml", "swarm")
    files = {c["file"] for c in yaml.safe_load(text)["configs"].values()}
    assert "../schema.sql" in files and "../migrations/001_add_users_table.sql" in files
    _, text, _ = _api.compile_project(example, example / "deploy" / "docker-compose.yml")
    service = yaml.safe_load(text)["services"]["api-server"]
    assert service["build"]["context"] == "../api-server"
