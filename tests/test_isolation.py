"""``_isolation``: a project rewritten to run beside other copies of itself (the
``clockwork_stack`` fixture's copies), read through the compose file it compiles to."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
import yaml
from support import EXAMPLE

from clockwork_compose import DeclarationError, _api
from clockwork_compose._isolation import Isolation
from clockwork_compose._targets.compose import runtime


def _ports(start: int = 41000) -> Isolation:
    numbers = itertools.count(start)
    return Isolation("copy-", lambda service, port, protocol: next(numbers), "connected-services")


def _compiled(folder: Path, isolation: Isolation | None) -> dict:
    project, text, _ = _api.compile_project(folder, isolation=isolation)
    return {"project": project, "doc": yaml.safe_load(text)}


def test_the_example_gets_its_own_names_ports_network_and_the_original_s_images() -> None:
    plain = _compiled(EXAMPLE, None)["doc"]
    isolated = _compiled(EXAMPLE, _ports())
    doc, project = isolated["doc"], isolated["project"]
    services = doc["services"]
    assert {s["container_name"] for s in services.values()} == {f"copy-{n}" for n in plain["services"]}
    assert services["api-server"]["image"] == "connected-services-api-server"
    assert services["api-server"]["build"] == plain["services"]["api-server"]["build"]
    assert services["postgres-db"]["image"] == "postgres:15-alpine"
    published = sorted(p for s in services.values() for p in s.get("ports", []))
    assert published == ["41000:80", "41001:5432", "41002:6379"]  # services in name order
    assert doc["networks"] == {"app_network": {}}  # Compose names it <project>_app_network
    assert doc["volumes"] == plain["volumes"]  # <project>_<key>: the copy's own already
    assert [d.host_port for d in project.databases] == [41001]
    assert project.services["api-server"].container == "copy-api-server"
    assert not runtime.joins_shared_network(project)


def test_without_isolation_the_example_joins_app_network() -> None:
    project = _compiled(EXAMPLE, None)["project"]
    assert runtime.joins_shared_network(project)


def test_compose_naming_named_volumes_and_networks(make_project) -> None:
    folder = make_project(
        """
        ProjectSettings(container_names="compose")
        DockerResource(
            name="db", image="postgres:16", ports=["5432"],
            volumes=[Mount(source=Volume("pgdata", volume_name="shared-pg"), target="/var/lib/postgresql/data")],
            networks=[Network("back", network_name="shared-back"), "plain"],
            env_vars={"POSTGRES_PASSWORD": "x"},  # pragma: allowlist secret
        )
        """,
        name="demo",
    )
    doc = _compiled(folder, _ports())["doc"]
    db = doc["services"]["db"]
    assert "container_name" not in db  # Compose names it after the copy's project already
    assert db["ports"] == ["41000:5432"]  # a port published without a host port gets one
    assert doc["networks"]["back"] == {}
    assert doc["networks"]["plain"] == {}
    assert doc["networks"]["app_network"] == {}
    assert doc["volumes"]["pgdata"] == {}  # its declared name dropped: <project>_pgdata


def test_a_port_range_is_refused_not_kept(make_project) -> None:
    folder = make_project('DockerResource(name="web", image="nginx:1", ports=[Port(target=80, published="8000-8001")])')
    with pytest.raises(DeclarationError, match="cannot remap"):
        _api.compile_project(folder, isolation=_ports())


def test_isolation_is_for_compose() -> None:
    with pytest.raises(ValueError, match="Compose"):
        _api.compile_project(EXAMPLE, target="swarm", isolation=_ports())
