"""Property: any valid project builds to a file Compose accepts and that means what was declared.

Random projects (hostile names, images, ports, env values, dependency DAGs, database
connections with plain or secret passwords) are written as a real main.py and compiled.
The file must pass the Compose JSON schema (checked inside compile), read back with YAML 1.1
and 1.2 parsers to exactly the declared env values (``$$`` unescaped), and have exactly the
declared depends_on graph. A few are also given to `docker compose config` when Compose v2
is present.

Profiles: ``default`` (quick, the normal run), ``ci`` (more examples); choose with
``HYPOTHESIS_PROFILE=ci``.
"""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import yaml
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML
from support import compose_config, needs_compose

from clockwork_compose import _api

settings.register_profile("default", max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("ci", max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

HEADER = "from clockwork_compose import *  # noqa: F403\n"
TRICKY_NAMES = ["yes", "no", "on", "null", "true", "1e3", "0x1f", "012", "a.b", "a-b", "a_b", "9lives", "x" * 63]
IMAGES = [
    "example/app:1",
    "busybox",
    "yes",
    "null",
    "1e3",
    "localhost:5000/team/app:1.0-rc.1",
    "ghcr.io/o/r@sha256:" + "0" * 64,
    "registry.example.com/a__b/c-d:v_1",
]
WORDS = ["$HOME", "${X}", "$$", "yes", "no", "on", "null", "~", "1e3", "0o17", "# c", "a: b", "- x", "'", '"', "\\"]
ALPHABET = st.sampled_from(list("$'\"\n\t\r#:{}[]&*!|>%@`\\ ,?-=~") + ["é", "☃", "😀", "\u2028", "\x85"])
ENV_VALUE = st.one_of(st.sampled_from(WORDS), st.text(ALPHABET | st.characters(codec="utf-8"), max_size=12)).filter(
    lambda v: "\x00" not in v and not any(0xD800 <= ord(c) <= 0xDFFF for c in v)
)
NAME = st.one_of(st.sampled_from(TRICKY_NAMES), st.from_regex(r"[a-z0-9][a-z0-9_.-]{1,15}", fullmatch=True))
SECRET = "s3cr$t'\"#"  # pragma: allowlist secret
ENV_KEY = st.from_regex(r"V_[A-Za-z0-9_]{0,8}", fullmatch=True)


@dataclass
class Spec:
    names: list[str]
    images: list[str]
    ports: list[list[str]]
    env: list[dict[str, str]]
    edges: set[tuple[int, int]]  # (consumer, dependency), consumer > dependency: a DAG
    db_consumers: list[int] = field(default_factory=list)
    db_password: str | None = None  # None: a Secret
    env_var_name: str = "DATABASE_URL"


def _folded(name: str) -> str:
    return re.sub(r"[^A-Z0-9]+", "_", name.upper())


@st.composite
def projects(draw: st.DrawFn) -> Spec:
    # Names that fold to one .env variable (a-b, a_b, a.b) are refused by design: tests/test_identity_unit.py.
    names = draw(
        st.lists(NAME, min_size=1, max_size=6, unique_by=_folded).filter(
            lambda ns: _folded("pg-db") not in map(_folded, ns)
        )
    )
    n = len(names)
    host_ports = iter(draw(st.lists(st.integers(1, 65535), min_size=3 * n, max_size=3 * n, unique=True)))
    ports = []
    for _ in names:
        specs = []
        for _ in range(draw(st.integers(0, 3))):
            container = draw(st.integers(1, 65535))
            form = draw(st.sampled_from(["{h}:{c}", "{c}", "127.0.0.1:{h}:{c}", "{h}:{c}/udp"]))
            spec = form.format(h=next(host_ports), c=container)
            if spec not in specs:  # a port listed twice is an error (in the bad-input corpus)
                specs.append(spec)
        ports.append(specs)
    env = [draw(st.dictionaries(ENV_KEY, ENV_VALUE, max_size=4)) for _ in names]
    edges = {(i, j) for i in range(n) for j in range(i) if draw(st.booleans())}
    consumers = draw(st.lists(st.integers(0, n - 1), unique=True, max_size=n))
    password = draw(st.one_of(st.none(), ENV_VALUE.filter(bool)))
    var = draw(st.sampled_from(["DATABASE_URL", "PG_URL", "db_url"]))
    return Spec(names, [draw(st.sampled_from(IMAGES)) for _ in names], ports, env, edges, consumers, password, var)


def main_py(spec: Spec) -> str:
    lines = [HEADER]
    password = "Secret('PG_PASSWORD')" if spec.db_password is None else repr(spec.db_password)
    if spec.db_consumers:
        lines.append(
            f"db = DockerResource(name='pg-db', image='postgres:16', ports=['5432'], "
            f"env_vars={{'POSTGRES_USER': 'app', 'POSTGRES_DB': 'appdb', 'POSTGRES_PASSWORD': {password}}})\n"
        )
    for i, name in enumerate(spec.names):
        lines.append(
            f"r{i} = DockerResource(name={name!r}, image={spec.images[i]!r}, ports={spec.ports[i]!r}, "
            f"env_vars={spec.env[i]!r})\n"
        )
    for consumer, dependency in sorted(spec.edges):
        lines.append(f"r{consumer}.connect(r{dependency})\n")
    for consumer in spec.db_consumers:
        lines.append(
            f"r{consumer}.connect(DatabaseConnection(to_resource=db, password={password}, "
            f"env_var_name={spec.env_var_name!r}))\n"
        )
    return "".join(lines)


def build(spec: Spec, folder: Path) -> tuple[str, dict]:
    (folder / "main.py").write_text(main_py(spec), encoding="utf-8")
    result = _api.build(folder, environ={"PG_PASSWORD": SECRET})
    docs = [yaml.safe_load(result.text), YAML(typ="safe", pure=True).load(result.text)]
    assert docs[0] == docs[1]
    return result.text, docs[0]


def expected_url(spec: Spec) -> str | None:
    if spec.db_password is None:
        return None
    return f"postgresql://app:{quote(spec.db_password, safe='')}@pg-db:5432/appdb"


def check_document(spec: Spec, services: dict, resolved: bool = False) -> None:
    """Env values and depends_on as declared; ``resolved``: secrets filled in (by Compose)."""
    url = f"postgresql://app:{quote(SECRET, safe='')}@pg-db:5432/appdb" if resolved else None
    url = expected_url(spec) or url
    for i, name in enumerate(spec.names):
        service = services[name]
        environment = {k: v.replace("$$", "$") for k, v in service.get("environment", {}).items()}
        declared = dict(spec.env[i])
        if i in spec.db_consumers and url is not None:
            declared[spec.env_var_name] = url
        if i in spec.db_consumers and url is None:
            assert environment.pop(spec.env_var_name).startswith("${CLOCKWORK_")
        assert environment == declared
        wanted = {spec.names[j] for (c, j) in spec.edges if c == i}
        if i in spec.db_consumers:
            wanted.add("pg-db")
        assert set(service.get("depends_on", {})) == wanted


@given(projects())
def test_valid_projects_build_to_what_was_declared(spec: Spec):
    with tempfile.TemporaryDirectory() as tmp:
        text, doc = build(spec, Path(tmp))
        check_document(spec, doc["services"])
        assert SECRET not in text and quote(SECRET, safe="") not in text  # the secret stays in .env
        if spec.db_consumers and spec.db_password is None:
            assert (Path(tmp) / ".env").stat().st_mode & 0o777 == 0o600


@needs_compose
@settings(
    max_examples=6, deadline=None, phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck)
)
@given(projects())
def test_a_sample_passes_docker_compose_config(spec: Spec):
    with tempfile.TemporaryDirectory() as tmp:
        build(spec, Path(tmp))
        services = compose_config(Path(tmp))["services"]
        check_document(spec, {name: services[name] for name in spec.names}, resolved=True)
