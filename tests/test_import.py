"""`clockwork import`, unit by unit: which file it reads, how it resolves anchors and extends
(checked against `docker compose config`), what main.py says, and what it refuses."""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from import_fidelity import config, differences
from support import needs_compose

from clockwork_compose import _api, _compose_file, _import
from clockwork_compose._errors import DeclarationError
from clockwork_compose._pysource import Call, Plus, statement, string


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def _convert(folder: Path, text: str, name: str = "stack.yml") -> _import.Imported:
    return _import.convert(_compose_file.read(_write(folder, name, text)), folder)


def _call(text: str, variable: str) -> ast.Call:
    """The call assigned to ``variable`` in main.py's text."""
    for node in ast.parse(text).body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == variable:
            assert isinstance(node.value, ast.Call)
            return node.value
    raise AssertionError(f"no {variable} = ... in main.py")


def _kwargs(text: str, variable: str) -> dict[str, str]:
    return {k.arg: ast.unparse(k.value) for k in _call(text, variable).keywords if k.arg}


@pytest.mark.parametrize(
    ("present", "read"),
    [
        (["docker-compose.yml", "compose.yaml"], "compose.yaml"),
        (["docker-compose.yml", "compose.yml"], "compose.yml"),
        (["docker-compose.yml", "docker-compose.yaml"], "docker-compose.yaml"),
        (["docker-compose.yml"], "docker-compose.yml"),
    ],
)
def test_the_file_compose_would_read(tmp_path: Path, present: list[str], read: str):
    for name in present:
        _write(tmp_path, name, "services: {a1: {image: busybox}}\n")
    assert _compose_file.find(tmp_path) == tmp_path / read


def test_no_compose_file_is_one_clear_error(tmp_path: Path):
    with pytest.raises(DeclarationError, match="holds no compose file"):
        _compose_file.find(tmp_path)


def test_an_override_file_beside_it_is_refused(tmp_path: Path):
    _write(tmp_path, "compose.override.yaml", "services: {a1: {image: busybox}}\n")
    path = _write(tmp_path, "compose.yaml", "services: {a1: {image: busybox}}\n")
    with pytest.raises(DeclarationError, match="also reads compose.override.yaml"):
        _compose_file.read(path)


def test_anchors_merge_keys_and_x_blocks(tmp_path: Path):
    imported = _convert(
        tmp_path,
        """
        x-common: &common
          restart: always
          environment: {TZ: UTC}
        services:
          web:
            <<: *common
            image: nginx:1.27
        """,
    )
    fields = _kwargs(imported.text, "web")
    assert fields["restart"] == "'always'"
    assert fields["env_vars"] == "{'TZ': 'UTC'}"


@needs_compose
def test_extends_is_merged_as_compose_merges_it(tmp_path: Path):
    _write(
        tmp_path,
        "base.yml",
        """
        services:
          base:
            image: busybox:1.36
            command: ["sleep", "1"]
            environment: {A: "1", B: "2"}
            ports: ["18410:80"]
            volumes: ["./data:/data"]
        """,
    )
    source = _write(
        tmp_path,
        "stack.yml",
        """
        services:
          common:
            environment: [C=3]
            labels: {team: x}
          web:
            extends: {file: base.yml, service: base}
            environment: {B: "two"}
            ports: ["18411:81"]
          worker:
            extends: common
            image: busybox:1.36
        """,
    )
    (tmp_path / "data").mkdir()
    model = _compose_file.read(source)
    web, worker = model.services["web"], model.services["worker"]
    expected = config(tmp_path, "stack.yml")["services"]
    env = _compose_file.as_mapping
    assert env(web["environment"]) == env(expected["web"]["environment"]) == {"A": "1", "B": "two"}
    assert len(web["ports"]) == len(expected["web"]["ports"]) == 2
    assert web["command"] == expected["web"]["command"]
    assert env(worker["environment"]) == env(expected["worker"]["environment"]) == {"C": "3"}
    assert worker["labels"] == expected["worker"]["labels"]


def test_depends_on_becomes_connect_with_its_condition(tmp_path: Path):
    imported = _convert(
        tmp_path,
        """
        services:
          db:
            image: postgres:16
            environment: {POSTGRES_PASSWORD: pw}
          migrate:
            image: busybox
          api:
            image: busybox
            depends_on:
              db: {condition: service_started}
              migrate: {condition: service_completed_successfully}
        """,
    )
    text = imported.text
    assert "api.connect(db, url=False)" in text  # an edge, no DATABASE_URL the file did not have
    assert 'api.connect(migrate, condition="service_completed_successfully")' in text
    assert imported.engines == {"db": "postgres"}
    assert any("db: a healthcheck" in a and "api wait for service_healthy" in a for a in imported.additions)


def test_a_url_equal_to_the_derived_one_becomes_a_connection(tmp_path: Path):
    imported = _convert(
        tmp_path,
        """
        services:
          db:
            image: postgres:16
            environment: {POSTGRES_USER: shop, POSTGRES_PASSWORD: "p@ss", POSTGRES_DB: shop}
          cache:
            image: redis:7
          api:
            image: busybox
            environment:
              DATABASE_URL: postgresql://shop:p%40ss@db:5432/shop
              CACHE: redis://cache:6379/0
              OTHER_URL: postgresql://shop:wrong@db:5432/shop
            depends_on: [db, cache]
        """,
    )
    text = imported.text
    assert "api.connect(db)" in text
    assert 'DatabaseConnection(to_resource=cache, env_var_name="CACHE")' in text
    assert "p%40ss@db" not in text.split("api = ")[1].split("\n)\n")[0]  # the literal is gone
    assert "OTHER_URL" in text  # not byte for byte the derived URL: kept as written
    assert ("api", "DATABASE_URL", "db") in imported.urls


def test_values_stay_where_the_user_keeps_them(tmp_path: Path):
    _write(tmp_path, ".env", "DB_PASSWORD=from-dot-env-secret\nTAG=9\n")
    _write(tmp_path, "app.env", "API_KEY=from-env-file-secret\n")
    imported = _convert(
        tmp_path,
        """
        services:
          app:
            image: "registry.example.com/app:${TAG:-1.0}"
            env_file: app.env
            environment:
              PASSWORD: ${DB_PASSWORD}
              PRICE: "$$5"
              GREETING: hello $USER
        """,
    )
    fields = _kwargs(imported.text, "app")
    assert fields["image"] == "'registry.example.com/app:' + Env('TAG', default='1.0')"
    assert fields["env_file"] == "['./app.env']"
    assert fields["env_vars"] == "{'PASSWORD': Env('DB_PASSWORD'), 'PRICE': '$5', 'GREETING': 'hello ' + Env('USER')}"
    assert "from-dot-env-secret" not in imported.text and "from-env-file-secret" not in imported.text


def test_what_no_typed_field_says_goes_through_the_escape_hatch(tmp_path: Path):
    imported = _convert(
        tmp_path,
        """
        services:
          app:
            image: busybox
            mem_swappiness: 0
            oom_score_adj: -500
        """,
    )
    assert _kwargs(imported.text, "app")["compose"] == "{'mem_swappiness': 0, 'oom_score_adj': -500}"
    assert imported.escaped == {"app": ["mem_swappiness", "oom_score_adj"]}
    assert any("mem_swappiness" in line for line in _import.summary(imported, tmp_path))


def test_an_interpolation_env_cannot_write_is_refused_naming_it(tmp_path: Path):
    with pytest.raises(DeclarationError, match=r"resource 'app', field 'image': holds '\$\{TAG:\+1\}'"):
        _convert(tmp_path, "services: {app: {image: 'app:${TAG:+1}'}}\n")
    required = _convert(tmp_path, "services: {app: {image: 'app:${TAG:?set TAG}'}}\n")
    assert _kwargs(required.text, "app")["image"] == "'app:' + Env('TAG', required=True)"
    unset_only = _convert(tmp_path, "services: {app: {image: 'app:${TAG-1}'}}\n")
    assert _kwargs(unset_only.text, "app")["image"] == "'app:' + Env('TAG', default='1', keep_empty=True)"


def test_variables_are_named_after_services(tmp_path: Path):
    names = _import._variables(["redis-cache", "redis_cache", "2fa", "class", "Env", "list"])
    assert names == {
        "redis-cache": "redis_cache",
        "redis_cache": "redis_cache_2",
        "2fa": "s_2fa",
        "class": "class_",
        "Env": "env",
        "list": "list_",
    }


def test_source_is_laid_out_as_ruff_formats_it(tmp_path: Path):
    long = {f"VARIABLE_{i}": "x" * 10 for i in range(6)}
    image = Plus(("registry.example.com/some/long/path/app:", Call("Env", ("TAG",), (("default", "1.0.0-alpine"),))))
    fields = (("name", "app"), ("image", image), ("env_vars", long), ("command", ["a", 'say "hi"']))
    text = "from clockwork_compose import DockerResource, Env\n\n" + statement(
        "app", Call("DockerResource", kwargs=fields), explode=True
    )
    assert '    image="registry.example.com/some/long/path/app:"\n    + Env(' in text  # too long for one line
    path = _write(tmp_path, "main.py", text)
    done = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--check", "--isolated", "--diff", str(path)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert string('say "hi"') == "'say \"hi\"'" and string("it's") == '"it\'s"'


def test_cli_writes_main_py_and_never_overwrites_it(tmp_path: Path):
    _write(tmp_path, "compose.yaml", "services: {web: {image: 'nginx:1.27', ports: ['18412:80']}}\n")
    run = [sys.executable, "-m", "clockwork_compose", "import", "-C", str(tmp_path)]
    first = subprocess.run(run, capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    assert "wrote main.py from compose.yaml: 1 services (web)" in first.stderr
    assert "git mv compose.yaml compose.yaml.orig" in first.stderr
    written = (tmp_path / "main.py").read_bytes()
    again = subprocess.run(run, capture_output=True, text=True)
    assert again.returncode == 2
    assert again.stderr.strip().endswith("exists, and import never overwrites it; move it aside, or pass --force")
    assert "Traceback" not in again.stderr and (tmp_path / "main.py").read_bytes() == written
    forced = subprocess.run([*run, "--force"], capture_output=True, text=True)
    assert forced.returncode == 0 and (tmp_path / "main.py").read_bytes() == written  # same file, same bytes


@needs_compose
def test_an_imported_file_builds_to_the_same_stack(tmp_path: Path):
    source = _write(
        tmp_path,
        "stack.yml",
        """
        services:
          db:
            image: mariadb:11
            environment: {MARIADB_ROOT_PASSWORD: root, MARIADB_DATABASE: shop}
            volumes: [data:/var/lib/mysql]
          web:
            image: nginx:1.27
            ports: ["127.0.0.1:18413:80"]
            networks: [front, back]
            depends_on: [db]
            cap_add: [NET_ADMIN]
            stop_grace_period: 1m30s
            volumes: ["/var/run:/host-run:ro"]  # a host path, through a symlink on most hosts
          proxy:
            image: nginx:1.27
            networks: [front]
        networks: {front: {}, back: {internal: true}}
        volumes: {data: {}}
        """,
    )
    _import.import_file(source, tmp_path)
    _api.build(tmp_path, environ={})
    assert differences(config(tmp_path, "stack.yml"), config(tmp_path, "docker-compose.yml")) == []


@needs_compose
def test_engine_credentials_subnets_labels_and_host_paths_round_trip(tmp_path: Path):
    """What the corpus's pgadmin, pihole, netbox, minecraft and wireguard stacks need: Env
    credentials stay ${VAR} (never ${VAR:?}), a fixed subnet and address, an SELinux label,
    a bind in the home folder and a host path this machine lacks."""
    source = _write(
        tmp_path,
        "stack.yml",
        """
        services:
          db:
            image: postgres:16
            environment: {POSTGRES_USER: "${PG_USER}", POSTGRES_PASSWORD: "${PG_PW}"}
          dns:
            image: "nginx:${TAG-1.27}"
            networks: {dns-net: {ipv4_address: 172.29.0.2}}
            volumes:
              - ./conf:/etc/app:z,ro
              - ~/dns_data:/data
              - /srv/clockwork-test-absent/config/:/config
        networks:
          dns-net:
            ipam: {config: [{subnet: 172.29.0.0/24, gateway: 172.29.0.1}]}
        """,
    )
    (tmp_path / "conf").mkdir()
    imported = _import.import_file(source, tmp_path)
    assert (
        _kwargs(imported.text, "db")["env_vars"]
        == "{'POSTGRES_USER': Env('PG_USER'), 'POSTGRES_PASSWORD': Env('PG_PW')}"
    )
    assert "Ipam(subnet='172.29.0.0/24', gateway='172.29.0.1')" in ast.unparse(ast.parse(imported.text))
    assert _kwargs(imported.text, "dns")["ipv4_addresses"] == "{'dns-net': '172.29.0.2'}"
    result = _api.build(tmp_path, environ={})
    assert any("/srv/clockwork-test-absent/config/" in w for w in result.warnings)
    assert differences(config(tmp_path, "stack.yml"), config(tmp_path, "docker-compose.yml")) == []


def test_what_connect_cannot_say_is_listed_not_dropped_silently(tmp_path: Path):
    imported = _convert(
        tmp_path,
        """
        services:
          web: {image: busybox}
          worker:
            image: busybox
            depends_on:
              web: {condition: service_started, required: false, restart: true}
        """,
    )
    lines = _import.summary(imported, tmp_path)
    assert "  worker: depends_on web required: false (the dependency is now required)" in lines
    assert "worker.connect(web, restart=True)" in imported.text and not any("restart" in line for line in lines)


@needs_compose
def test_sentry_s_forms_round_trip_env_healthchecks_restarts_and_a_bind_variable(tmp_path: Path):
    """What Sentry's self-hosted stack needs: ${VAR} in a healthcheck test, depends_on
    restart: true, and a port whose host part is one variable (an address and a port)."""
    source = _write(
        tmp_path,
        "stack.yml",
        """
        services:
          db:
            image: postgres:16
            environment: {POSTGRES_HOST_AUTH_METHOD: trust}
            healthcheck:
              test: ["CMD-SHELL", "pg_isready -U ${POSTGRES_USER:-postgres}"]
          web:
            image: nginx:1.27
            ports: ["$WEB_BIND:80/tcp"]
            depends_on:
              db: {condition: service_healthy, restart: true}
        """,
    )
    _write(tmp_path, ".env", "WEB_BIND=127.0.0.1:18419\n")
    imported = _import.import_file(source, tmp_path)
    assert _kwargs(imported.text, "web")["ports"] == "[Env('WEB_BIND') + ':80/tcp']"
    assert "web.connect(db, url=False, restart=True)" in imported.text
    _api.build(tmp_path, environ={})
    assert differences(config(tmp_path, "stack.yml"), config(tmp_path, "docker-compose.yml")) == []
    assert (tmp_path / ".env").read_text() == "WEB_BIND=127.0.0.1:18419\n"  # the user's lines, byte for byte


def test_a_volume_variable_never_takes_a_service_variable(tmp_path: Path):
    imported = _convert(
        tmp_path,
        """
        services:
          db_volume: {image: busybox, volumes: ["db:/data"]}
        volumes:
          db: {driver: local}
        """,
    )
    assert "db_volume = DockerResource(" in imported.text
    assert 'db_volume_2 = Volume("db", driver="local")' in imported.text


_ONE = "from clockwork_compose import DockerResource\n"


def _build(folder: Path, main: str) -> str:
    _write(folder, "main.py", main)
    return _api.build(folder, environ={}).text


def test_container_name_is_written_under_compose_naming_and_refused_under_fixed(tmp_path: Path):
    text = _build(
        tmp_path,
        """
        from clockwork_compose import DockerResource, ProjectSettings
        ProjectSettings(container_names="compose")
        DockerResource(name="elasticsearch", image="busybox", container_name="es", restart="no")
        DockerResource(name="kibana", image="busybox", restart="no")
        """,
    )
    assert "container_name: es" in text and text.count("container_name:") == 1
    with pytest.raises(DeclarationError, match=r"resource 'elasticsearch', field 'container_name': .*container_names"):
        _build(
            tmp_path,
            _ONE + 'DockerResource(name="elasticsearch", image="busybox", container_name="es")\n',
        )
    with pytest.raises(DeclarationError, match="is not a container name"):
        _build(
            tmp_path,
            _ONE + 'DockerResource(name="ab", image="busybox", container_name="-x")\n',
        )


def test_a_file_of_another_folder_is_refused_not_imported_with_wrong_paths(tmp_path: Path):
    (tmp_path / "elsewhere").mkdir()
    source = _write(tmp_path / "elsewhere", "compose.yaml", "services: {web: {image: busybox, env_file: app.env}}\n")
    with pytest.raises(DeclarationError, match="relative to its own folder; import it where it is"):
        _import.import_file(source, tmp_path)
    assert not (tmp_path / "main.py").exists()


def test_cli_writes_main_py_beside_the_file_it_is_given(tmp_path: Path):
    (tmp_path / "stack").mkdir()
    _write(tmp_path / "stack", "docker-compose.prod.yml", "services: {web: {image: 'nginx:1.27'}}\n")
    done = subprocess.run(
        [sys.executable, "-m", "clockwork_compose", "import", "stack/docker-compose.prod.yml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "stack" / "main.py").is_file() and not (tmp_path / "main.py").exists()


_WAITS = """
from clockwork_compose import DockerResource
cache = DockerResource(name="cache", image="redis:7", restart="no")
job = DockerResource(name="job", image="busybox", restart="no")
app = DockerResource(name="app", image="busybox")
app.connect(cache, url=False)
app.connect(job, condition="service_completed_successfully")
"""


def test_connect_keeps_a_condition_and_injects_no_url_when_asked(tmp_path: Path):
    import yaml

    doc = yaml.safe_load(_build(tmp_path, _WAITS))
    app = doc["services"]["app"]
    assert app["depends_on"] == {
        "cache": {"condition": "service_healthy"},
        "job": {"condition": "service_completed_successfully"},
    }
    assert "environment" not in app  # no REDIS_URL


@pytest.mark.parametrize("target", ["swarm", "kubernetes"])
def test_waiting_for_a_service_to_complete_is_refused_where_it_cannot_be(tmp_path: Path, target: str):
    _write(tmp_path, "main.py", _WAITS)
    with pytest.raises(DeclarationError, match=f"waits for job to complete .*which {target} cannot do"):
        _api.build(tmp_path, environ={}, target=target)
    assert not list(tmp_path.glob("*.y*ml"))


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('app.connect(job, condition="service_done")', "'service_done' is not a depends_on condition"),
        ('app.connect(job, condition="service_healthy")', "job has no healthcheck"),
        (
            'app.connect(DatabaseConnection(to_resource=cache), condition="service_started")',
            "condition=, url= and restart= are for a plain connect",
        ),
    ],
)
def test_bad_connect_options_are_one_clear_error(tmp_path: Path, line: str, message: str):
    main = _WAITS.replace("import DockerResource", "import DatabaseConnection, DockerResource") + line + "\n"
    with pytest.raises(DeclarationError, match=message):
        _build(tmp_path, main)


def test_a_bare_key_is_passed_as_compose_passes_it(tmp_path: Path):
    imported = _convert(
        tmp_path,
        """
        services:
          smtp:
            build: {context: ., args: [TAG]}
            environment: [SES_USER, MAILNAME=mail]
        """,
    )
    fields = _kwargs(imported.text, "smtp")
    assert fields["env_vars"] == "{'SES_USER': None, 'MAILNAME': 'mail'}"
    assert fields["build"] == "BuildSpec(context='.', args={'TAG': None})"
    assert imported.escaped == {}
    (tmp_path / "Dockerfile").touch()
    (tmp_path / "main.py").write_text(imported.text)
    text = _api.build(tmp_path, environ={}).text
    assert "      SES_USER: null\n" in text and "        TAG: null\n" in text


@needs_compose
def test_compose_reads_a_bare_key_from_where_it_runs(tmp_path: Path):
    import os

    _write(tmp_path, "main.py", _ONE + 'DockerResource(name="app", image="busybox", env_vars={"SES_USER": None})\n')
    _api.build(tmp_path, environ={})
    done = subprocess.run(
        ["docker", "compose", "config", "--format", "json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**os.environ, "SES_USER": "from-the-shell"},
    )
    assert done.returncode == 0, done.stderr
    assert '"SES_USER": "from-the-shell"' in done.stdout
