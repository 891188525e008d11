# ruff: noqa: E501  (tables of main.py fields and the YAML they give read best one row per line)
"""The Compose fields real stacks use (issue 18): each one's Compose YAML, its validation,
and what Swarm and Kubernetes make of it; the escape hatch; build's file rules."""

from __future__ import annotations

import base64
import textwrap

import pytest
import yaml
from support import compose_config, needs_compose, run_cli

from clockwork_compose import _api
from clockwork_compose._errors import ClockworkError, DeclarationError

FILES = {
    "secrets/db_password.txt": "s3cret",
    "app.env": "A=1\n",
    "nginx.conf": "events {}\n",
}


def _main(fields: str, extra: str = "") -> str:
    return textwrap.dedent(extra) + f'web = DockerResource(name="web", image="nginx:1.25", {fields})\n'


def _doc(make_project, fields: str, extra: str = "", target: str = "compose") -> dict:
    root = make_project(_main(fields, extra), FILES)
    _, text, _ = _api.compile_project(root, target=target)
    if target == "kubernetes":
        return {"docs": list(yaml.safe_load_all(text))}
    return yaml.safe_load(text)


# -- one row per field: what main.py says, what the Compose service holds --------------------

COMPOSE = [
    ("expose=[9000, '53/udp']", {"expose": ["9000", "53/udp"]}),
    ("env_file=['./app.env']", {"env_file": ["./app.env"]}),
    ("profiles=['debug']", {"profiles": ["debug"]}),
    ("stop_signal='SIGQUIT'", {"stop_signal": "SIGQUIT"}),
    ("stop_grace_period=90", {"stop_grace_period": "90s"}),
    ("cap_add=['NET_ADMIN'], cap_drop=['ALL']", {"cap_add": ["NET_ADMIN"], "cap_drop": ["ALL"]}),
    ("sysctls={'net.core.somaxconn': 1024}", {"sysctls": {"net.core.somaxconn": "1024"}}),
    ("hostname='web1', domainname='example.internal'", {"hostname": "web1", "domainname": "example.internal"}),
    ("platform='linux/amd64'", {"platform": "linux/amd64"}),
    ("runtime='runc'", {"runtime": "runc"}),
    ("init=True, read_only=True, privileged=True", {"init": True, "read_only": True, "privileged": True}),
    ("tty=True, stdin_open=True", {"tty": True, "stdin_open": True}),
    ("ulimits={'nofile': (1024, 2048), 'nproc': 500}", {"ulimits": {"nofile": {"soft": 1024, "hard": 2048}, "nproc": 500}}),
    ("tmpfs=['/run', '/tmp:size=64m']", {"tmpfs": ["/run", "/tmp:size=64m"]}),
    ("security_opt=['no-new-privileges:true']", {"security_opt": ["no-new-privileges:true"]}),
    ("pids_limit=100, shm_size='256m'", {"pids_limit": 100, "shm_size": "256m"}),
    ("pull_policy='always'", {"pull_policy": "always"}),
    ("extra_hosts={'db.local': '10.0.0.2'}", {"extra_hosts": {"db.local": "10.0.0.2"}}),
    ("devices=['/dev/null:/dev/x:rwm']", {"devices": ["/dev/null:/dev/x:rwm"]}),
    ("dns=['1.1.1.1']", {"dns": ["1.1.1.1"]}),
    (
        "logging=Logging(driver='json-file', options={'max-size': '10m'})",
        {"logging": {"driver": "json-file", "options": {"max-size": "10m"}}},
    ),
    (
        "limits=Resources(cpus=0.5, memory='512m', pids=50), reservations=Resources(memory=1048576)",
        {"deploy": {"resources": {"limits": {"cpus": "0.5", "memory": "512m", "pids": 50}, "reservations": {"memory": "1048576"}}}},
    ),
    (
        "ports=[Port(target=80, published=8080, host_ip='127.0.0.1', mode='host'), '9090:90']",
        {"ports": [{"target": 80, "host_ip": "127.0.0.1", "published": "8080", "protocol": "tcp", "mode": "host"}, "9090:90"]},
    ),
    ("ports=[Port(target=53, published='5300-5301', protocol='udp')]", {"ports": [{"target": 53, "published": "5300-5301", "protocol": "udp"}]}),
    ("ports=[Port(target=80, published=Env('WEB_PORT', default='8080'))]", {"ports": [{"target": 80, "published": "${WEB_PORT:-8080}", "protocol": "tcp"}]}),
    (
        "volumes=['/var/cache/nginx', Mount(target='/etc/nginx/conf.d', source='./', read_only=True), Mount(type='tmpfs', target='/tmp')]",
        {"volumes": [{"type": "volume", "target": "/var/cache/nginx"}, {"type": "bind", "source": ".", "target": "/etc/nginx/conf.d", "read_only": True}], "tmpfs": ["/tmp"]},
    ),
    ("env_vars={'TAG': Env('TAG'), 'LEVEL': Env('LEVEL', default='info'), 'X': 'a$b'}", {"environment": {"LEVEL": "${LEVEL:-info}", "TAG": "${TAG}", "X": "a$$b"}}),
    ("env_vars={'KEY': Env('APP_KEY', required=True)}", {"environment": {"KEY": "${APP_KEY:?APP_KEY is not set}"}}),
    ("env_vars={'LEVEL': Env('LEVEL', default='info', keep_empty=True)}", {"environment": {"LEVEL": "${LEVEL-info}"}}),
    (
        "volumes=[Mount(source='./', target='/etc/app', read_only=True, selinux='z'), Mount(source='/srv/a', target='/a', selinux='Z')], allow_outside_project=True",
        {"volumes": [{"type": "bind", "source": ".", "target": "/etc/app", "read_only": True, "bind": {"selinux": "z"}}, {"type": "bind", "source": "/srv/a", "target": "/a", "read_only": False, "bind": {"selinux": "Z"}}]},
    ),
    ("compose={'oom_score_adj': -100, 'mem_swappiness': 0}", {"oom_score_adj": -100, "mem_swappiness": 0}),
    ("compose={'annotations': {'a': Env('A', default='x'), 'b': 'c$d'}}", {"annotations": {"a": "${A:-x}", "b": "c$$d"}}),
]  # fmt: skip


@pytest.mark.parametrize(("fields", "expected"), COMPOSE, ids=[c[0].split("=")[0] for c in COMPOSE])
def test_each_field_is_written_with_its_compose_meaning(make_project, fields, expected):
    service = _doc(make_project, fields)["services"]["web"]
    for key, value in expected.items():
        assert service[key] == value, key


def test_an_interpolated_image_keeps_its_variable_and_is_still_recognised(make_project):
    doc = _doc(make_project, "", 'db = DockerResource(name="db", image="postgres:" + Env("PG_TAG", default="16"))\n')
    db = doc["services"]["db"]
    assert db["image"] == "postgres:${PG_TAG:-16}"
    assert db["labels"]["dev.clockwork.role"] == "database"  # the engine is known: healthcheck and data volume
    assert "pg_isready" in db["healthcheck"]["test"] and "db_data:/var/lib/postgresql/data" in db["volumes"]


def test_declared_volumes_networks_secrets_and_configs_at_the_top(make_project):
    extra = """
    data = Volume("data", driver="local", driver_opts={"type": "none"}, labels={"team": "a"})
    old = Volume("old", external=True, volume_name="legacy_data")
    back = Network("back", internal=True)
    edge = Network("edge", external=True, network_name="traefik")
    pw = FileSecret("db_password", file="./secrets/db_password.txt")
    conf = Config("nginx_conf", file="./nginx.conf")
    """
    fields = (
        "volumes=[Mount(source=data, target='/data'), Mount(source=old, target='/old', read_only=True)], "
        "networks=[back, edge, 'plain'], network_aliases={'back': ['api']}, secrets=[pw], configs=[conf]"
    )
    doc = _doc(make_project, fields, extra)
    web = doc["services"]["web"]
    assert web["volumes"] == ["data:/data", "old:/old:ro"]
    assert web["networks"] == {"app_network": {}, "back": {"aliases": ["api"]}, "edge": {}, "plain": {}}
    assert web["secrets"] == ["db_password"] and web["configs"] == ["nginx_conf"]
    assert doc["volumes"] == {
        "data": {"driver": "local", "driver_opts": {"type": "none"}, "labels": {"team": "a"}},
        "old": {"name": "legacy_data", "external": True},
    }
    assert doc["networks"] == {
        "app_network": {"name": "app_network"},
        "back": {"internal": True},
        "edge": {"name": "traefik", "external": True},
        "plain": {"name": "plain"},
    }
    assert doc["secrets"] == {"db_password": {"file": "./secrets/db_password.txt"}}
    assert doc["configs"] == {"nginx_conf": {"file": "./nginx.conf"}}


def test_project_settings_isolate_services_and_let_compose_name_containers(make_project):
    extra = """
    ProjectSettings(shared_network=False, container_names="compose")
    back = Network("back")
    db = DockerResource(name="db", image="postgres:16", networks=[back])
    tool = DockerResource(name="tool", image="busybox:1")
    """
    doc = _doc(make_project, "networks=[Network('front'), back]", extra)
    services = doc["services"]
    assert services["db"]["networks"] == ["back"] and services["web"]["networks"] == ["back", "front"]
    assert "networks" not in services["tool"]  # Compose's own default network, shared with nobody declared
    assert "app_network" not in doc["networks"]
    assert all("container_name" not in s for s in services.values())


def test_defaults_keep_the_shared_network_and_fixed_names(make_project):
    doc = _doc(make_project, "")
    assert doc["services"]["web"]["container_name"] == "web"
    assert doc["services"]["web"]["networks"] == ["app_network"]


# -- validation: one line naming resource, field and fix -------------------------------------

INVALID = [
    ("expose=['http']", "field 'expose'", "'http' is not a container port"),
    ("profiles=['-x']", "field 'profiles'", "is not a profile name"),
    ("stop_signal='sig term'", "field 'stop_signal'", "is not a signal"),
    ("stop_grace_period=-1", "field 'stop_grace_period'", "greater than or equal to 0"),
    ("cap_add=['net admin']", "field 'cap_add'", "is not a capability"),
    ("sysctls={'Bad Key': 1}", "field 'sysctls'", "is not a kernel parameter"),
    ("hostname='-web'", "field 'hostname'", "is not a host name"),
    ("platform='Linux AMD'", "field 'platform'", "is not a platform"),
    ("network_mode='hosts'", "field 'network_mode'", "is not a network mode"),
    ("network_mode='service:nope'", "field 'network_mode'", "there is no service 'nope'"),
    ("network_mode='host', networks=['x']", "field 'networks'", "cannot both be set"),
    ("ulimits={'nofiles': 1}", "field 'ulimits'", "is not a resource limit"),
    ("ulimits={'nofile': (10, 5)}", "field 'ulimits'", "soft <= hard"),
    ("tmpfs=['run']", "field 'tmpfs'", "is not an absolute container path"),
    ("pids_limit=-2", "field 'pids_limit'", "greater than or equal to -1"),
    ("shm_size='lots'", "field 'shm_size'", "is not a size"),
    ("pull_policy='sometimes'", "field 'pull_policy'", "input should be"),
    ("extra_hosts={'db': 'nowhere'}", "field 'extra_hosts'", "is not an IP address"),
    ("devices=['ttyUSB0']", "field 'devices'", "is not a device"),
    ("dns=['one.one']", "field 'dns'", "is not an IP address"),
    ("limits=Resources(memory='1 lot')", "field 'memory'", "is not a size"),
    ("reservations=Resources(pids=5)", "field 'reservations.pids'", "Compose reserves no pids"),
    ("ports=[Port(target=80, published=70000)]", "field 'published'", "is not a port"),
    ("ports=[Port(target=80, host_ip='localhost')]", "field 'host_ip'", "is not an IP address"),
    ("volumes=[Mount(target='data')]", "field 'target'", "is not an absolute container path"),
    ("volumes=[Mount(type='bind', target='/x')]", "Mount", "a bind mount needs a source path"),
    ("env_file=['./missing.env']", "field 'env_file'", "does not exist"),
    ("secrets=[FileSecret('pw', file='./nope.txt')]", "field 'secrets'", "does not exist"),
    ("network_aliases={'elsewhere': ['api']}", "field 'network_aliases'", "is not on network 'elsewhere'"),
    ("env_vars={'X': Env('1BAD')}", "Env", "is not a variable name"),
    ("env_vars={'X': Env('A', default='${B}')}", "field 'default'", "holds '$'"),
    ("env_vars={'X': Env('A', default='b', required=True)}", "resource \"Env('A')\"", "a required variable has no default"),
    ("env_vars={'X': Env('A', keep_empty=True)}", "resource \"Env('A')\"", "give default= with it"),
    ("volumes=[Mount(source='data', target='/d', selinux='z')]", "Mount", "selinux relabels a bind mount"),
    ("volumes=[Mount(source='./', target='/d', selinux='x')]", "field 'selinux'", "input should be"),
    ("volumes=['./missing:/d']", "field 'volumes'", "does not exist"),
    ("volumes=['/srv/nowhere/x:/d']", "field 'volumes'", "is outside the project folder"),
    ("volumes=['~/data:/d']", "field 'volumes'", "is outside the project folder"),
    ("networks=[Network('n', ipam=Ipam(subnet='10.0.0.0/33'))]", "field 'subnet'", "is not a subnet"),
    ("networks=[Network('n', ipam=Ipam(subnet='10.0.0.0/24', gateway='10.0.1.1'))]", "Ipam", "is not in 10.0.0.0/24"),
    ("networks=[Network('n', ipam=Ipam(subnet='10.0.0.0/24', ip_range='10.1.0.0/25'))]", "Ipam", "is not in 10.0.0.0/24"),
    ("networks=[Network('n', external=True, ipam=Ipam(subnet='10.0.0.0/24'))]", "resource 'n'", "ipam do not apply"),
    ("ipv4_addresses={'n': '10.0.0.300'}", "field 'ipv4_addresses'", "is not an IPv4 address"),
    ("networks=['n'], ipv4_addresses={'n': '10.0.0.3'}", "field 'ipv4_addresses'", "with a declared subnet"),
    ("networks=[Network('n', ipam=Ipam(subnet='10.0.0.0/24'))], ipv4_addresses={'n': '10.0.1.3'}", "field 'ipv4_addresses'", "is not in n's subnet 10.0.0.0/24"),
    ("ports=[Env('BIND') + ':80:90']", "field 'ports'", "is not a port mapping with an Env host part"),
    ("ports=[Env('BIND') + ':99999']", "field 'ports'", "99999 is not a port"),
    ("ports=['80:' + Env('TARGET')]", "field 'ports'", "is not a port mapping with an Env host part"),
    ("compose={'cap_add': ['ALL']}", "field 'compose'", "use cap_add=... instead"),
    ("compose={'environment': {}}", "field 'compose'", "use env_vars=... instead"),
    ("compose={'deploy': {'replicas': 2}}", "field 'compose'", "use replicas instead"),
    ("compose={'deploy': {'resources': {'limits': {'memory': '1g'}}}}", "field 'compose'", "use limits=Resources(memory=...) instead"),
    ("compose={'oom_score_adj': [1]}", "field 'oom_score_adj'", "the Compose specification rejects it"),
    ("compose={'no_such_key': 1}", "the Compose specification rejects it", "no_such_key"),
    ("compose={'x': object()}", "field 'compose.x'", "is not YAML data"),
    ("pids_limit=5, limits=Resources(pids=6)", "field 'pids_limit'", "differ"),
    ("limits=Resources(memory='1m'), reservations=Resources(memory='2m')", "field 'reservations.memory'", "reserve at most the limit"),
]  # fmt: skip


@pytest.mark.parametrize(("fields", "where", "problem"), INVALID, ids=[c[0][:40] for c in INVALID])
def test_bad_values_are_refused_as_compose_would(make_project, fields, where, problem):
    root = make_project(_main(fields), FILES)
    with pytest.raises(ClockworkError) as caught:
        _api.compile_project(root)
    message = str(caught.value)
    assert where in message and problem in message, message
    assert "\n" not in message


def test_two_declarations_of_one_name_are_refused(make_project):
    extra = 'a = Volume("data")\nb = Volume("data", external=True)\n'
    fields = "volumes=[Mount(source=a, target='/a'), Mount(source=b, target='/b')]"
    root = make_project(_main(fields, extra), FILES)
    with pytest.raises(DeclarationError, match="two different Volume declarations are named 'data'"):
        _api.compile_project(root)


def test_external_volumes_take_no_driver():
    from clockwork_compose import Volume

    with pytest.raises(DeclarationError, match="an external volume is made elsewhere"):
        Volume("x", external=True, driver="local")


def test_env_in_an_engine_credential_stays_interpolation_and_its_probe_reads_it(make_project):
    """The user keeps the engine's credentials in .env and wrote ${VAR}: Compose completes
    them where the stack runs (an empty value stays empty, as in the original), and so does
    the readiness probe clockwork adds."""
    extra = 'db = DockerResource(name="db", image="postgres:16", env_vars={"POSTGRES_USER": Env("PG_USER"), "POSTGRES_PASSWORD": Env("PW")})\n'
    db = _doc(make_project, "", extra)["services"]["db"]
    assert db["environment"] == {"POSTGRES_USER": "${PG_USER}", "POSTGRES_PASSWORD": "${PW}"}
    assert db["healthcheck"]["test"][db["healthcheck"]["test"].index("-U") + 1] == "${PG_USER}"


def test_a_url_from_env_credentials_is_refused_naming_the_fix(make_project):
    """Compose cannot URL-encode what it interpolates: a derived URL needs Secret credentials."""
    extra = 'db = DockerResource(name="db", image="postgres:16", env_vars={"POSTGRES_PASSWORD": Env("PW")})\n'
    root = make_project(extra + 'DockerResource(name="web", image="nginx:1.25").connect(db)\n', FILES)
    with pytest.raises(DeclarationError) as caught:
        _api.compile_project(root)
    message = str(caught.value)
    assert "resource 'web'" in message and "needs db's password, which its env_vars leave to Compose" in message
    assert "Secret(" in message and "\n" not in message


def test_env_credentials_resolve_for_assert_as_compose_would():
    from clockwork_compose._engines._engine import resolve
    from clockwork_compose._model import Interpolation, Var

    user = Interpolation((Var("PG_USER", default="app"),))
    assert (
        resolve(user, {}) == "app"
        and resolve(user, {"PG_USER": ""}) == "app"
        and resolve(user, {"PG_USER": "x"}) == "x"
    )
    kept = Interpolation(("v", Var("TAG", default="1", keep_empty=True)))
    assert resolve(kept, {"TAG": ""}) == "v" and resolve(kept, {}) == "v1"
    with pytest.raises(LookupError, match="PW has no value"):
        resolve(Interpolation((Var("PW", required=True),)), {})


def test_env_in_a_healthcheck_test_is_completed_by_compose(make_project):
    fields = "healthcheck=HealthCheck(test=['CMD-SHELL', 'pg_isready -U ' + Env('PG_USER', default='postgres')])"
    assert _doc(make_project, fields)["services"]["web"]["healthcheck"]["test"] == [
        "CMD-SHELL",
        "pg_isready -U ${PG_USER:-postgres}",
    ]
    argv = "healthcheck=HealthCheck(test=['CMD', 'check', Env('MODE'), '$x'])"
    assert _doc(make_project, argv)["services"]["web"]["healthcheck"]["test"] == ["CMD", "check", "${MODE}", "$$x"]
    shell = "healthcheck=HealthCheck(test='ping ' + Env('HOST'))"
    assert _doc(make_project, shell)["services"]["web"]["healthcheck"]["test"] == ["CMD-SHELL", "ping ${HOST}"]


def test_a_port_whose_host_part_is_an_env(make_project):
    """Compose's "$BIND:80/tcp": the variable holds a port or an address and a port."""
    web = _doc(make_project, "ports=[Env('BIND') + ':80', Env('DNS', default='53') + ':53/udp']")["services"]["web"]
    assert web["ports"] == ["${BIND}:80", "${DNS:-53}:53/udp"]


def test_connect_restart_is_compose_s_depends_on_restart(make_project):
    extra = 'api = DockerResource(name="api", image="nginx:1.25")\n'
    main = extra + 'DockerResource(name="web", image="nginx:1.25").connect(api, restart=True)\n'
    root = make_project(main, FILES)
    _, text, _ = _api.compile_project(root)
    assert yaml.safe_load(text)["services"]["web"]["depends_on"] == {
        "api": {"condition": "service_started", "restart": True}
    }
    for target in ("swarm", "kubernetes"):
        with pytest.raises(DeclarationError) as caught:
            _api.compile_project(root, target=target)
        assert f"resource 'web', field 'connect': restarts after api (restart=True), which {target} cannot do" in str(
            caught.value
        )


def test_a_missing_host_path_outside_the_project_is_warned_about_not_refused(make_project):
    """Compose creates a missing bind source; one outside the project is the host's (kept as
    written, warned about), one inside is a typo (refused, in INVALID), ~ is the home of
    whoever runs Compose."""
    fields = "volumes=['/srv/nowhere/config/:/config', '~/minecraft_data:/data'], allow_outside_project=True"
    root = make_project(_main(fields), FILES)
    project, text, _ = _api.compile_project(root)
    web = yaml.safe_load(text)["services"]["web"]
    assert [v["source"] for v in web["volumes"]] == ["/srv/nowhere/config/", "~/minecraft_data"]
    assert any(
        "'/srv/nowhere/config/' does not exist on this machine: Compose creates it" in w for w in project.warnings
    )
    assert not any("minecraft_data" in w for w in project.warnings)


def test_a_network_with_a_fixed_subnet_and_fixed_addresses(make_project):
    extra = "dns = Network('dns', ipam=Ipam(subnet='172.20.0.0/24', gateway='172.20.0.1', ip_range='172.20.0.128/25', driver='default'))\n"
    fields = "networks=[dns], ipv4_addresses={'dns': '172.20.0.2'}"
    doc = _doc(make_project, fields, extra)
    assert doc["networks"]["dns"] == {
        "ipam": {
            "driver": "default",
            "config": [{"subnet": "172.20.0.0/24", "ip_range": "172.20.0.128/25", "gateway": "172.20.0.1"}],
        }
    }
    assert doc["services"]["web"]["networks"]["dns"] == {"ipv4_address": "172.20.0.2"}
    swarm = _doc(make_project, "networks=[dns]", extra, target="swarm")
    assert swarm["networks"]["dns"]["ipam"]["config"] == [
        {"subnet": "172.20.0.0/24", "ip_range": "172.20.0.128/25", "gateway": "172.20.0.1"}
    ]


def test_two_services_cannot_share_a_fixed_address(make_project):
    extra = "dns = Network('dns', ipam=Ipam(subnet='172.20.0.0/24'))\napi = DockerResource(name='api', image='nginx:1.25', networks=[dns], ipv4_addresses={'dns': '172.20.0.2'})\n"
    root = make_project(_main("networks=[dns], ipv4_addresses={'dns': '172.20.0.2'}", extra), FILES)
    with pytest.raises(
        DeclarationError, match="resource 'web', field 'ipv4_addresses': api has 172.20.0.2 on dns already"
    ):
        _api.compile_project(root)


def test_a_bad_field_exits_2_with_one_line(make_project):
    root = make_project(_main("cap_add=['net admin']"), FILES)
    result = run_cli("build", "-C", str(root))
    assert result.code == 2 and len(result.err.strip().splitlines()) == 1, result.err
    assert "resource 'web', field 'cap_add'" in result.err and not (root / "docker-compose.yml").exists()


# -- Swarm: mapped, or refused naming resource, field and target ------------------------------


def test_swarm_maps_file_secrets_resources_and_aliases(make_project):
    extra = 'pw = FileSecret("db_password", file="./secrets/db_password.txt")\nback = Network("back", internal=True)\n'
    fields = (
        "secrets=[pw], networks=[back], network_aliases={'back': ['api']}, limits=Resources(cpus=1), "
        "stop_grace_period=5, init=True, sysctls={'net.core.somaxconn': 1}, ports=[Port(target=80, published=8080, mode='ingress')]"
    )
    doc = _doc(make_project, fields, extra, target="swarm")
    web = doc["services"]["web"]
    (key,) = doc["secrets"]
    assert key.startswith("db_password-") and doc["secrets"][key] == {"file": "./secrets/db_password.txt"}
    assert web["secrets"] == [{"source": key, "target": "db_password"}]
    assert web["deploy"]["resources"] == {"limits": {"cpus": "1"}}
    assert web["networks"]["back"] == {"aliases": ["api"]}
    assert doc["networks"]["back"] == {"driver": "overlay", "attachable": True, "internal": True}
    assert web["ports"] == [{"target": 80, "published": 8080, "protocol": "tcp", "mode": "ingress"}]
    assert (web["stop_grace_period"], web["init"], web["sysctls"]) == ("5s", True, {"net.core.somaxconn": "1"})


def test_a_new_secret_content_is_a_new_swarm_secret(make_project):
    extra = 'pw = FileSecret("db_password", file="./secrets/db_password.txt")\n'
    root = make_project(_main("secrets=[pw]", extra), FILES)
    first = yaml.safe_load(_api.compile_project(root, target="swarm")[1])["secrets"]
    (root / "secrets/db_password.txt").write_text("other")
    second = yaml.safe_load(_api.compile_project(root, target="swarm")[1])["secrets"]
    assert list(first) != list(second)


@pytest.mark.parametrize(
    "fields",
    [
        "cap_add=['NET_ADMIN']",
        "profiles=['x']",
        "privileged=True",
        "ulimits={'nofile': 5}",
        "network_mode='host'",
        "shm_size=5",
    ],
)
def test_swarm_refuses_what_docker_stack_deploy_ignores(make_project, fields):
    field = fields.split("=")[0]
    root = make_project(_main(fields), FILES)
    with pytest.raises(DeclarationError) as caught:
        _api.compile_project(root, target="swarm")
    assert f"resource 'web', field '{field}': is not supported on swarm" in str(caught.value)


@pytest.mark.parametrize(
    ("fields", "where", "problem"),
    [
        ("networks=[Network('n', ipam=Ipam(subnet='10.0.0.0/24'))], ipv4_addresses={'n': '10.0.0.2'}", "field 'ipv4_addresses'", "is not supported on swarm"),
        ("volumes=[Mount(source='./', target='/c', selinux='z')]", "field 'volumes'", "SELinux label of the bind mount at /c is not supported on swarm"),
        ("ports=[Env('BIND') + ':80']", "field 'ports'", "whose host part is an Env (it may hold an address) is not supported on swarm"),
    ],
)  # fmt: skip
def test_swarm_refuses_fixed_addresses_selinux_labels_and_env_host_ports(make_project, fields, where, problem):
    root = make_project(_main(fields), FILES)
    with pytest.raises(DeclarationError) as caught:
        _api.compile_project(root, target="swarm")
    assert f"resource 'web', {where}" in str(caught.value) and problem in str(caught.value), str(caught.value)


# -- Kubernetes: refused, naming resource, field and target ----------------------------------

KUBERNETES_REFUSED = [
    ("profiles=['debug']", "field 'profiles'"),
    ("limits=Resources(pids=5)", "field 'limits.pids'"),
    ("extra_hosts={'host.docker.internal': 'host-gateway'}", "field 'extra_hosts'"),
    ("compose={'oom_score_adj': 1}", "field 'compose'"),
    ("network_aliases={'app_network': ['x']}", "field 'network_aliases'"),
    ("env_vars={'A': Env('A')}", "field 'env_vars.A'"),
    ("volumes=['/cache']", "field 'volumes'"),
    ("ports=[Port(target=80, published=80, mode='host')]", "field 'ports'"),
    ("volumes=[Mount(source=Volume('v', external=True), target='/v')]", "field 'volumes'"),
    ("networks=[Network('n', ipam=Ipam(subnet='10.0.0.0/24'))]", "field 'networks'"),
    ("healthcheck=HealthCheck(test=['CMD', 'check', Env('MODE')])", "field 'healthcheck'"),
    ("ports=[Env('BIND') + ':80']", "field 'ports'"),
]  # fmt: skip


@pytest.mark.parametrize(("fields", "where"), KUBERNETES_REFUSED, ids=[c[1] for c in KUBERNETES_REFUSED])
def test_kubernetes_refuses_what_it_does_not_map(make_project, fields, where):
    root = make_project(_main(fields), FILES)
    with pytest.raises(DeclarationError) as caught:
        _api.compile_project(root, target="kubernetes")
    assert where in str(caught.value) and "not supported on kubernetes" in str(caught.value), str(caught.value)


def test_kubernetes_maps_the_container_and_pod_fields(make_project):
    fields = (
        "tty=True, stdin_open=True, read_only=True, privileged=True, cap_add=['CAP_NET_ADMIN'], cap_drop=['ALL'], "
        "limits=Resources(cpus=0.5, memory='512m'), reservations=Resources(cpus=0.25, memory='1048576'), "
        "stop_grace_period=2.5, extra_hosts={'a.local': '10.0.0.1', 'b.local': '10.0.0.1'}, dns=['1.1.1.1'], "
        "sysctls={'net.core.somaxconn': 1024}"
    )
    docs = _doc(make_project, fields, target="kubernetes")["docs"]
    pod = next(d for d in docs if d["kind"] == "Deployment")["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert (container["tty"], container["stdin"]) == (True, True)
    assert container["securityContext"] == {
        "readOnlyRootFilesystem": True,
        "privileged": True,
        "capabilities": {"add": ["NET_ADMIN"], "drop": ["ALL"]},
    }
    assert container["resources"] == {
        "limits": {"cpu": "0.5", "memory": str(512 * 1024 * 1024)},
        "requests": {"cpu": "0.25", "memory": "1048576"},
    }
    assert pod["terminationGracePeriodSeconds"] == 3  # rounded up: never less time than Compose gives
    assert pod["hostAliases"] == [{"ip": "10.0.0.1", "hostnames": ["a.local", "b.local"]}]
    assert pod["dnsConfig"] == {"nameservers": ["1.1.1.1"]}
    assert pod["securityContext"] == {"sysctls": [{"name": "net.core.somaxconn", "value": "1024"}]}


def test_kubernetes_mounts_file_secrets_from_the_secret_and_configs_from_config_maps(make_project):
    extra = 'pw = FileSecret("db_password", file="./secrets/db_password.txt")\nconf = Config("nginx_conf", file="./nginx.conf")\n'
    root = make_project(_main("secrets=[pw], configs=[conf]", extra), FILES)
    _, text, _ = _api.compile_project(root, target="kubernetes")
    docs = list(yaml.safe_load_all(text))
    assert "s3cret" not in text  # the secret's content stays out of the file
    pod = next(d for d in docs if d["kind"] == "Deployment")["spec"]["template"]["spec"]
    mounts = {m["mountPath"]: m for m in pod["containers"][0]["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    secret = volumes[mounts["/run/secrets"]["name"]]["secret"]
    assert secret["items"] == [{"key": "file.db_password", "path": "db_password"}]
    config_map = volumes[mounts["/nginx_conf"]["name"]]["configMap"]["name"]
    (made,) = [d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"] == config_map]
    assert made["data"] == {"nginx_conf": "events {}\n"} and made["immutable"] is True
    # The Secret `clockwork secrets --target kubernetes` prints holds the file under that key.
    printed = yaml.safe_load(_api.kubernetes_secret(root, environ={}))
    assert printed["metadata"]["name"] == secret["secretName"]
    assert base64.b64decode(printed["data"]["file.db_password"]) == b"s3cret"


def test_kubernetes_refuses_isolation(make_project):
    root = make_project(_main("", "ProjectSettings(shared_network=False)\n"), FILES)
    with pytest.raises(DeclarationError, match="shared_network.*not supported on kubernetes"):
        _api.compile_project(root, target="kubernetes")


def test_kubernetes_builds_plain_declarations(make_project):
    docs = _doc(make_project, "volumes=[Mount(source=Volume('v'), target='/v')]", target="kubernetes")["docs"]
    assert any(d["kind"] == "Deployment" for d in docs)


# -- Compose itself reads what clockwork writes ------------------------------------------------


@needs_compose
def test_compose_accepts_every_field(make_project):
    extra = """
    ProjectSettings(shared_network=False, container_names="compose")
    back = Network("back", internal=True)
    pw = FileSecret("db_password", file="./secrets/db_password.txt")
    db = DockerResource(name="db", image="postgres:" + Env("PG_TAG", default="16-alpine"), networks=[back],
        env_vars={"POSTGRES_PASSWORD_FILE": "/run/secrets/db_password"}, secrets=[pw],
        volumes=[Mount(source=Volume("pgdata"), target="/var/lib/postgresql/data")], shm_size="128m")
    """
    # A profile would leave web out of `config`; pids_limit=100 is tested against limits.pids=50 below.
    skipped = ("ports=", "volumes=", "env_vars=", "profiles=", "pids_limit=")
    fields = ", ".join(c[0] for c in COMPOSE if not c[0].startswith(skipped)) + (
        ", networks=[back, Network('front')], network_aliases={'back': ['api']}, "
        "configs=[Config('nginx_conf', file='./nginx.conf')], ports=[Port(target=80, published=Env('P', default='8080'))]"
    )
    fields = fields.replace("compose={'oom_score_adj': -100, 'mem_swappiness': 0}, ", "")
    root = make_project(_main(fields, extra), FILES)
    assert run_cli("build", "-C", str(root)).code == 0
    model = compose_config(root)
    web, db = model["services"]["web"], model["services"]["db"]
    assert db["image"] == "postgres:16-alpine" and db["secrets"][0]["source"] == "db_password"
    assert web["cap_add"] == ["NET_ADMIN"] and web["deploy"]["resources"]["limits"]["cpus"] == 0.5
    assert set(web["networks"]) == {"back", "front"} and web["networks"]["back"]["aliases"] == ["api"]
    assert model["networks"]["back"]["internal"] is True and "container_name" not in web
    assert web["ports"][0]["published"] == "8080"


# -- build never overwrites nor shadows a user's file ------------------------------------------

SIMPLE = 'DockerResource(name="web", image="nginx:1.25")\n'


@pytest.mark.parametrize("name", ["docker-compose.yml"])
def test_build_never_overwrites_a_hand_written_compose_file(make_project, name):
    root = make_project(SIMPLE, {name: "services: {mine: {image: x}}\n"})
    result = run_cli("build", "-C", str(root))
    assert result.code == 2 and len(result.err.strip().splitlines()) == 1, result.err
    assert f"{root / name} was not written by clockwork" in result.err
    assert f"git mv {name} {name}.orig" in result.err and "-o" in result.err
    assert (root / name).read_text() == "services: {mine: {image: x}}\n"


@pytest.mark.parametrize("name", ["compose.yaml", "compose.yml", "docker-compose.yaml"])
def test_build_refuses_a_file_compose_would_read_first(make_project, name):
    root = make_project(SIMPLE, {name: "services: {mine: {image: x}}\n"})
    result = run_cli("build", "-C", str(root))
    assert result.code == 2 and len(result.err.strip().splitlines()) == 1, result.err
    assert f"{root / name} is what `docker compose` reads" in result.err and f"git mv {name} {name}.orig" in result.err
    assert not (root / "docker-compose.yml").exists()


def test_a_generated_file_written_first_still_shadows(make_project):
    """-o compose.yaml, then a plain build: Compose would keep reading compose.yaml."""
    root = make_project(SIMPLE)
    assert run_cli("build", "-C", str(root), "-o", str(root / "compose.yaml")).code == 0
    result = run_cli("build", "-C", str(root))
    assert result.code == 2 and "compose.yaml is what `docker compose` reads" in result.err


def test_build_writes_where_compose_reads_first(make_project):
    """-o compose.yaml beside a hand-written docker-compose.yml: compose.yaml wins, nothing shadows it."""
    root = make_project(SIMPLE, {"docker-compose.yml": "services: {}\n"})
    result = run_cli("build", "-C", str(root), "-o", str(root / "compose.yaml"))
    assert result.code == 0, result.err
    assert (root / "docker-compose.yml").read_text() == "services: {}\n"


@pytest.mark.parametrize(("target", "name"), [("swarm", "docker-stack.yml"), ("kubernetes", "kubernetes.yaml")])
def test_other_targets_never_overwrite_a_hand_written_file(make_project, target, name):
    root = make_project(SIMPLE, {name: "hand: written\n"})
    result = run_cli("build", "-C", str(root), "--target", target)
    assert result.code == 2 and "was not written by clockwork" in result.err, result.err
    assert (root / name).read_text() == "hand: written\n"


def test_build_replaces_its_own_file_and_keeps_env_lines(make_project):
    root = make_project('DockerResource(name="web", image="nginx:1.25", env_vars={"P": Secret("P")})\n')
    (root / ".env").write_text("# mine\nP=x\nOTHER = 'kept'  \n")
    before = (root / ".env").read_bytes()
    assert run_cli("build", "-C", str(root)).code == 0
    assert run_cli("build", "-C", str(root)).code == 0
    assert (root / ".env").read_bytes() == before


# -- profiles: what `docker compose up` runs --------------------------------------------------


def test_a_profile_leaves_its_services_out_until_it_is_active(make_project):
    extra = """
    db = DockerResource(name="db", image="postgres:16", profiles=["debug"])
    tool = DockerResource(name="tool", image="busybox:1", profiles=["debug"]).connect(db)
    ops = DockerResource(name="ops", image="busybox:1", profiles=["debug", "ops"])
    """
    root = make_project(_main("", extra), FILES)
    project, _, _ = _api.compile_project(root)
    assert sorted(project.running("").services) == ["web"]
    assert sorted(project.running("debug").services) == ["db", "ops", "tool", "web"]
    assert sorted(project.running("ops").services) == ["ops", "web"]
    assert sorted(project.running(" ops , other").services) == ["ops", "web"]
    assert sorted(project.running("*").services) == ["db", "ops", "tool", "web"]
    assert [d.consumer for d in project.running("").databases] == []


def test_waiting_for_a_service_of_a_profile_needs_that_profile(make_project):
    extra = 'db = DockerResource(name="db", image="postgres:16", profiles=["debug"])\n'
    root = make_project(extra + 'DockerResource(name="web", image="nginx:1.25").connect(db)\n', FILES)
    with pytest.raises(DeclarationError) as caught:
        _api.compile_project(root)
    assert "resource 'web', field 'profiles': it waits for db, which runs only with the profiles debug" in str(
        caught.value
    )


def test_a_migrator_runs_with_the_profiles_of_its_database(make_project):
    extra = """
    db = DockerResource(name="db", image="postgres:16", profiles=["data"])
    DockerResource(name="app", image="busybox:1", profiles=["data"]).connect(
        DatabaseConnection(to_resource=db, schema_file="schema.sql")
    )
    """
    root = make_project(_main("", extra), {**FILES, "schema.sql": "CREATE TABLE t (id int);\n"})
    doc = yaml.safe_load(_api.compile_project(root)[1])
    assert doc["services"]["db-migrator"]["profiles"] == ["data"]


def test_an_engine_with_an_env_file_is_warned_about(make_project):
    root = make_project(_main("", 'DockerResource(name="db", image="postgres:16", env_file=["./app.env"])\n'), FILES)
    project, _, _ = _api.compile_project(root)
    assert any(w.startswith("db: clockwork does not read env_file") for w in project.warnings)


@needs_compose
def test_env_is_resolved_where_the_stack_runs_never_on_the_build_machine(make_project, monkeypatch):
    extra = 'db = DockerResource(name="db", image="postgres:" + Env("PG_TAG", default="16-alpine"))\n'
    root = make_project(_main("env_vars={'LEVEL': Env('LEVEL', default='info')}", extra), FILES)
    monkeypatch.setenv("PG_TAG", "from-the-build-machine")
    _, text, _ = _api.compile_project(root)
    assert "from-the-build-machine" not in text and "postgres:${PG_TAG:-16-alpine}" in text
    monkeypatch.delenv("PG_TAG")
    assert run_cli("build", "-C", str(root)).code == 0
    assert compose_config(root)["services"]["db"]["image"] == "postgres:16-alpine"  # the default
    (root / ".env").write_text("PG_TAG=15-alpine\nLEVEL=debug\n")
    model = compose_config(root)  # the user's .env, where the stack runs
    assert model["services"]["db"]["image"] == "postgres:15-alpine"
    assert model["services"]["web"]["environment"]["LEVEL"] == "debug"


INTERPOLATED = [
    ("user=Env('UID', default='1000') + ':' + Env('GID', default='1000')", "user", "${UID:-1000}:${GID:-1000}"),
    ("labels={'traefik.http.routers.web.rule': 'Host(`' + Env('DOMAIN') + '`)'}", "labels", {"dev.clockwork.role": "app", "traefik.http.routers.web.rule": "Host(`${DOMAIN}`)"}),
    (
        "volumes=[Mount(type='bind', source=Env('UPLOADS', default='./uploads'), target='/uploads', read_only=True)]",
        "volumes",
        [{"type": "bind", "source": "${UPLOADS:-./uploads}", "target": "/uploads", "read_only": True}],
    ),
]  # fmt: skip


@pytest.mark.parametrize(("fields", "key", "expected"), INTERPOLATED, ids=[c[1] for c in INTERPOLATED])
def test_env_where_real_stacks_interpolate(make_project, fields, key, expected):
    assert _doc(make_project, fields)["services"]["web"][key] == expected
    swarm = _doc(make_project, fields, target="swarm")["services"]["web"]
    assert expected == (swarm["deploy"]["labels"] if key == "labels" else swarm[key])
    root = make_project(_main(fields), FILES)
    with pytest.raises(DeclarationError, match="not supported on kubernetes|mounts a folder of this machine"):
        _api.compile_project(root, target="kubernetes")


def test_an_env_mount_source_is_a_bind():
    from clockwork_compose import Env, Mount

    with pytest.raises(DeclarationError, match='an Env source is a host path; say so with type="bind"'):
        Mount(source=Env("DATA"), target="/data")


GPU = "{'deploy': {'resources': {'reservations': {'devices': [{'driver': 'nvidia', 'count': 'all', 'capabilities': ['gpu']}]}}}}"


def test_a_raw_deploy_joins_the_modelled_one(make_project):
    fields = f"limits=Resources(memory='1g'), compose={GPU}"
    web = _doc(make_project, fields)["services"]["web"]
    assert web["deploy"] == {
        "resources": {
            "limits": {"memory": "1g"},
            "reservations": {"devices": [{"driver": "nvidia", "count": "all", "capabilities": ["gpu"]}]},
        }
    }
    swarm = _doc(make_project, fields, target="swarm")["services"]["web"]["deploy"]
    assert swarm["resources"]["reservations"]["devices"][0]["driver"] == "nvidia" and swarm["replicas"] == 1


def test_swarm_keeps_its_own_deploy_keys(make_project):
    root = make_project(_main("compose={'deploy': {'restart_policy': {'condition': 'none'}}}"), FILES)
    assert (
        yaml.safe_load(_api.compile_project(root)[1])["services"]["web"]["deploy"]["restart_policy"]["condition"]
        == "none"
    )
    with pytest.raises(DeclarationError, match="resource 'web', field 'compose.deploy.restart_policy'"):
        _api.compile_project(root, target="swarm")


def test_project_settings_are_declared_once(make_project):
    root = make_project("ProjectSettings()\nProjectSettings(shared_network=False)\n" + SIMPLE)
    result = run_cli("build", "-C", str(root))
    assert result.code == 2 and "ProjectSettings" in result.err and "is declared twice" in result.err, result.err
    assert len(result.err.strip().splitlines()) == 1


def test_swarm_deploys_carry_the_secrets_their_services_read_and_leave_external_objects_unlabelled(make_project):
    from clockwork_compose._targets.swarm import runtime as swarm_runtime

    extra = 'pw = FileSecret("db_password", file="./secrets/db_password.txt")\nedge = Network("edge", external=True)\n'
    root = make_project(_main("secrets=[pw], networks=[edge]", extra), FILES)
    doc = yaml.safe_load(_api.compile_project(root, target="swarm")[1])
    part = swarm_runtime.subset(doc, {"web": "hash"})
    assert part["secrets"] == doc["secrets"] and len(part["secrets"]) == 1
    stamped = swarm_runtime.stamp(part, root)
    assert stamped["networks"]["edge"] == {"external": True}  # Compose refuses labels on an external network
    (key,) = stamped["secrets"]
    assert stamped["secrets"][key]["labels"] == {swarm_runtime.OWNER_LABEL: str(root)}


INTERPOLATED_MORE = [
    ("command=['serve', '--max-size', Env('MAX_SIZE', default='1M')]", "command", ["serve", "--max-size", "${MAX_SIZE:-1M}"]),
    ("command='serve --port ' + Env('PORT')", "command", "serve --port ${PORT}"),
    ("platform=Env('DOCKER_PLATFORM', default='')", "platform", "${DOCKER_PLATFORM:-}"),
    ("expose=[Env('PG_PORT'), 80]", "expose", ["${PG_PORT}", "80"]),
    ("stop_signal=Env('SIG', default='SIGTERM')", "stop_signal", "${SIG:-SIGTERM}"),
    (
        "healthcheck=HealthCheck(test='true', interval=Env('HC_INTERVAL', default='30s'), retries=Env('HC_RETRIES'))",
        "healthcheck",
        {"test": ["CMD-SHELL", "true"], "interval": "${HC_INTERVAL:-30s}", "timeout": "3s", "retries": "${HC_RETRIES}"},
    ),
]  # fmt: skip


@pytest.mark.parametrize(("fields", "key", "expected"), INTERPOLATED_MORE, ids=[c[1] for c in INTERPOLATED_MORE])
def test_env_in_commands_healthchecks_and_options(make_project, fields, key, expected):
    assert _doc(make_project, fields)["services"]["web"][key] == expected
    root = make_project(_main(fields), FILES)
    with pytest.raises(DeclarationError, match="not supported on kubernetes"):
        _api.compile_project(root, target="kubernetes")


def test_env_build_args_on_compose_and_swarm(make_project):
    root = make_project(
        'DockerResource(name="app", build=BuildSpec(context="./app", args={"BASE": "auto:" + Env("TAG")}))\n',
        {"app/Dockerfile": "FROM busybox\n"},
    )
    doc = yaml.safe_load(_api.compile_project(root)[1])
    assert doc["services"]["app"]["build"]["args"] == {"BASE": "auto:${TAG}"}
    with pytest.raises(DeclarationError, match="field 'build.args.BASE'.*not supported on swarm"):
        _api.compile_project(root, target="swarm")


def test_apply_budgets_an_interpolated_healthcheck_by_its_default():
    from clockwork_compose._model import UNKNOWN_DURATION, Interpolation, Var, seconds

    assert seconds(Interpolation((Var("I", "1m30s"),))) == 90
    assert seconds(Interpolation((Var("R", "5"),))) == 5
    assert seconds(Interpolation((Var("I"),))) == UNKNOWN_DURATION
    assert seconds(2.5) == 2.5
