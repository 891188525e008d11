"""Compile rules of issue 2, one behaviour per test, asserted on the meaning of the output."""

from __future__ import annotations

import random
import shutil
from urllib.parse import unquote, urlsplit

import pytest
from _compile import compile_dir
from support import EXAMPLE

from clockwork_compose import _api
from clockwork_compose._targets.base import MARGIN, deadline_seconds

POSTGRES = """
postgres = DockerResource(
    name="postgres-db",
    image="postgres:15-alpine",
    ports=["5432:5432"],
    env_vars={"POSTGRES_DB": "appdb", "POSTGRES_USER": "admin", "POSTGRES_PASSWORD": "secret123"},
)
"""
REDIS = 'redis = DockerResource(name="redis-cache", image="redis:7-alpine", ports=["6379:6379"])\n'
API = 'api = DockerResource(name="api-server", image="example/api:1", ports=["8000:80"])\n'
MIGRATIONS = {"schema.sql": "CREATE TABLE t (id int);\n", "migrations/001_a.sql": "SELECT 1;\n"}


@pytest.fixture(scope="module")
def example():
    return compile_dir(EXAMPLE)


def test_example_services_and_containers_are_named_after_resources(example):
    _, _, doc = example
    assert sorted(doc["services"]) == [
        "api-server",
        "postgres-db",
        "postgres-db-migrator",
        "redis-cache",
        "worker-service",
    ]
    for name, service in doc["services"].items():
        assert service["container_name"] == name
        assert service["networks"] == ["app_network"]
    assert doc["networks"] == {"app_network": {"name": "app_network"}}
    assert doc["name"] == "connected-services"


def test_example_injects_the_seed_urls(example):
    _, _, doc = example
    api = doc["services"]["api-server"]["environment"]
    assert api["DATABASE_URL"] == "postgresql://admin:secret123@postgres-db:5432/appdb"
    assert api["REDIS_URL"] == "redis://redis-cache:6379/0"
    assert doc["services"]["worker-service"]["environment"] == {"REDIS_URL": "redis://redis-cache:6379/0"}


def test_example_depends_on_conditions(example):
    _, _, doc = example
    services = doc["services"]
    assert services["api-server"]["depends_on"] == {
        "postgres-db": {"condition": "service_healthy"},
        "postgres-db-migrator": {"condition": "service_completed_successfully"},
        "redis-cache": {"condition": "service_healthy"},
    }
    assert services["worker-service"]["depends_on"] == {"redis-cache": {"condition": "service_healthy"}}
    assert services["postgres-db-migrator"]["depends_on"] == {"postgres-db": {"condition": "service_healthy"}}
    assert "depends_on" not in services["postgres-db"]
    assert "depends_on" not in services["redis-cache"]


def test_readiness_probes_are_tcp_and_add_up_to_the_timeout(example):
    _, _, doc = example
    pg = doc["services"]["postgres-db"]["healthcheck"]
    assert pg["test"][:2] == ["CMD", "pg_isready"]
    assert pg["test"][2:] == ["-h", "127.0.0.1", "-p", "5432", "-U", "admin", "-d", "appdb"]
    # Every second while it starts, for as long as the connection's timeout; then at rest.
    assert (pg["start_interval"], pg["start_period"]) == ("1s", "30s")
    assert (pg["interval"], pg["retries"]) == ("90s", 2)
    redis = doc["services"]["redis-cache"]["healthcheck"]
    assert redis["test"][0] == "CMD-SHELL" and "grep -q PONG" in redis["test"][1]


def test_the_migrator_is_one_shot_on_the_database_image(example):
    _, _, doc = example
    migrator = doc["services"]["postgres-db-migrator"]
    assert migrator["image"] == doc["services"]["postgres-db"]["image"]
    assert migrator["restart"] == "no"
    assert migrator["entrypoint"][:2] == ["/bin/sh", "-c"]
    env = migrator["environment"]
    assert (env["PGHOST"], env["PGPORT"], env["PGUSER"], env["PGDATABASE"]) == ("postgres-db", "5432", "admin", "appdb")
    mounts = {m["target"]: m for m in migrator["volumes"]}
    assert mounts["/clockwork/schema/schema.sql"]["source"] == "./schema.sql"
    assert mounts["/clockwork/migrations"]["source"] == "./migrations"
    # The plan's paths are relative to /clockwork: the schema first, then the migrations.
    steps = [line.split() for line in migrator["command"] if line.startswith("step ")]
    assert steps[0][1:4] == ["schema", "tx", "schema:schema.sql"] and steps[0][-1] == "schema/schema.sql"
    assert all(step[-1].startswith("migrations/") for step in steps[1:])
    assert all(m["read_only"] and m["type"] == "bind" for m in mounts.values())
    # The image's data dir is a VOLUME: tmpfs there, or each run leaves an anonymous volume.
    assert migrator["tmpfs"] == ["/var/lib/postgresql/data"]


def test_the_migrator_label_hashes_its_files_so_a_new_or_edited_migration_changes_the_file(tmp_path):
    """Compose's config hash of the migrator follows the label: apply runs it when it changes."""
    project = tmp_path / "connected-services"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns(".env", "__pycache__"))

    def label() -> str:
        return compile_dir(project)[2]["services"]["postgres-db-migrator"]["labels"]["dev.clockwork.migrations"]

    first = label()
    assert first.startswith("sha256:") and label() == first  # deterministic
    (project / "migrations" / "004_new.sql").write_text("SELECT 1;\n")
    added = label()
    (project / "migrations" / "004_new.sql").write_text("SELECT 2;\n")
    edited = label()
    (project / "schema.sql").write_text((project / "schema.sql").read_text() + "\n-- edited\n")
    assert len({first, added, edited, label()}) == 4


def test_databases_keep_data_in_named_volumes(example):
    _, _, doc = example
    assert doc["volumes"] == {"postgres-db_data": {}, "redis-cache_data": {}}
    assert "postgres-db_data:/var/lib/postgresql/data" in doc["services"]["postgres-db"]["volumes"]
    assert "redis-cache_data:/data" in doc["services"]["redis-cache"]["volumes"]


def test_resources_without_image_build_from_their_folder(example):
    _, _, doc = example
    assert doc["services"]["api-server"]["build"] == {"context": "./api-server"}
    assert "image" not in doc["services"]["api-server"]


def test_output_has_no_absolute_paths_and_a_header(example):
    _, text, _ = example
    assert str(EXAMPLE) not in text
    assert text.startswith("# Generated by clockwork-compose")
    assert "clockwork build" in text.splitlines()[1]


def test_committed_example_is_current(example):
    _, text, _ = example
    assert (EXAMPLE / "docker-compose.yml").read_text() == text


def test_same_declarations_same_bytes_whatever_the_order(make_project):
    blocks = [POSTGRES, REDIS, API]
    connects = [
        "api.connect(DatabaseConnection(to_resource=postgres, schema_file='schema.sql',"
        " migrations_dir='migrations'))\n",
        "api.connect(redis)\n",
    ]
    texts = set()
    rng = random.Random(7)
    for i in range(4):
        rng.shuffle(blocks)
        rng.shuffle(connects)
        root = make_project("".join(blocks) + "".join(connects), MIGRATIONS, name=f"copy{i}/demo")
        texts.add(compile_dir(root)[1])
    assert len(texts) == 1


def test_url_percent_encodes_user_and_password(make_project):
    root = make_project(
        POSTGRES
        + API
        + "api.connect(DatabaseConnection(to_resource=postgres, username='us er', password='p@ss:w/rd#1'))\n"
    )
    _, _, doc = compile_dir(root)
    url = urlsplit(doc["services"]["api-server"]["environment"]["DATABASE_URL"])
    assert (unquote(url.username), unquote(url.password)) == ("us er", "p@ss:w/rd#1")
    assert (url.hostname, url.port, url.path) == ("postgres-db", 5432, "/appdb")


def test_defaults_come_from_the_database_resource(make_project):
    root = make_project(POSTGRES + API + "api.connect(DatabaseConnection(to_resource=postgres))\n")
    _, _, doc = compile_dir(root)
    env = doc["services"]["api-server"]["environment"]
    assert env["DATABASE_URL"] == "postgresql://admin:secret123@postgres-db:5432/appdb"


def test_port_is_the_container_side_of_the_mapping(make_project):
    db = POSTGRES.replace('"5432:5432"', '"15432:5432"')
    root = make_project(db + API + "api.connect(DatabaseConnection(to_resource=postgres, env_var_name='PG'))\n")
    _, _, doc = compile_dir(root)
    assert doc["services"]["api-server"]["environment"]["PG"].endswith("@postgres-db:5432/appdb")


def test_unpublished_database_uses_the_engine_port(make_project):
    db = POSTGRES.replace('ports=["5432:5432"],', "")
    root = make_project(db + API + "api.connect(DatabaseConnection(to_resource=postgres))\n")
    _, _, doc = compile_dir(root)
    assert "@postgres-db:5432/" in doc["services"]["api-server"]["environment"]["DATABASE_URL"]


def test_wait_for_ready_false_waits_for_start_only(make_project):
    root = make_project(
        POSTGRES + API + "api.connect(DatabaseConnection(to_resource=postgres, wait_for_ready=False))\n"
    )
    _, _, doc = compile_dir(root)
    assert doc["services"]["api-server"]["depends_on"] == {"postgres-db": {"condition": "service_started"}}


def test_timeout_sets_the_start_budget(make_project):
    root = make_project(POSTGRES + API + "api.connect(DatabaseConnection(to_resource=postgres, timeout=60))\n")
    project, _, doc = compile_dir(root)
    assert doc["services"]["postgres-db"]["healthcheck"]["start_period"] == "60s"
    assert project.services["postgres-db"].healthcheck.retries == 60  # 60 probes, 1 s apart
    assert deadline_seconds(project) == 60 + MARGIN  # apply waits for the start, not the rest


def test_plain_dependency_without_healthcheck_waits_for_start(make_project):
    root = make_project(API + 'web = DockerResource(name="web", image="nginx:1")\nweb.connect(api)\n')
    _, _, doc = compile_dir(root)
    assert doc["services"]["web"]["depends_on"] == {"api-server": {"condition": "service_started"}}
    assert "environment" not in doc["services"]["web"]


def test_user_set_url_is_not_overwritten(make_project):
    root = make_project(
        REDIS + API.replace('ports=["8000:80"]', 'env_vars={"REDIS_URL": "redis://x:1/2"}') + "api.connect(redis)\n"
    )
    _, _, doc = compile_dir(root)
    assert doc["services"]["api-server"]["environment"] == {"REDIS_URL": "redis://x:1/2"}


def test_one_migrator_shared_by_every_consumer(make_project):
    admin = 'admin = DockerResource(name="admin-panel", image="example/admin:1", ports=["8001:80"])\n'
    root = make_project(
        POSTGRES
        + API
        + admin
        + "api.connect(DatabaseConnection(to_resource=postgres, schema_file='schema.sql',"
        + " migrations_dir='migrations/'))\n"
        + "admin.connect(DatabaseConnection(to_resource=postgres, migrations_dir='migrations'))\n",
        MIGRATIONS,
    )
    _, _, doc = compile_dir(root)
    migrators = [n for n in doc["services"] if n.endswith("-migrator")]
    assert migrators == ["postgres-db-migrator"]
    for consumer in ("api-server", "admin-panel"):
        assert doc["services"][consumer]["depends_on"]["postgres-db-migrator"] == {
            "condition": "service_completed_successfully"
        }


def test_custom_template_and_placeholders(make_project):
    template = "postgres://{user}@{host}:{port}/{database}?sslmode=disable"
    root = make_project(
        POSTGRES
        + API
        + f"api.connect(DatabaseConnection(to_resource=postgres, connection_string_template={template!r}))\n"
    )
    _, _, doc = compile_dir(root)
    assert doc["services"]["api-server"]["environment"]["DATABASE_URL"] == (
        "postgres://admin@postgres-db:5432/appdb?sslmode=disable"
    )


def test_dollar_signs_are_escaped_for_compose(make_project):
    root = make_project('x = DockerResource(name="xx", image="busybox:1", env_vars={"A": "p$ss${HOME}"})\n')
    _, text, doc = compile_dir(root)
    assert doc["services"]["xx"]["environment"]["A"] == "p$$ss$${HOME}"


def test_plan_layers_match_the_seed(example):
    project, _, _ = example
    layers = [[step.service for step in layer] for layer in _api.plan(project)]
    assert layers == [
        ["postgres-db", "redis-cache"],
        ["postgres-db-migrator", "worker-service"],
        ["api-server"],
    ]
    api = next(step for step in _api.plan(project)[2] if step.service == "api-server")
    assert ("postgres-db-migrator", "completed successfully", ("schema and migrations",)) in api.waits_for


def test_emitted_file_is_plain_yaml_compose_accepts(example):
    _, _, doc = example  # compile_dir parsed it with yaml.safe_load: plain YAML
    from clockwork_compose import _schema

    _schema.validate(doc)  # raises on a violation


def test_plain_password_warning_is_one_short_line(make_project):
    dbs = "".join(
        f'DockerResource(name="db{i}", image="postgres:16", env_vars={{"POSTGRES_PASSWORD": "pw{i}"}})\n'
        for i in range(5)
    )
    project, _, _ = compile_dir(make_project(dbs))
    (warning,) = project.warnings
    assert "db0 env_vars['POSTGRES_PASSWORD']" in warning and "and 2 more" in warning and "db4" not in warning
    assert 'Secret("NAME")' in warning and "pw0" not in warning
