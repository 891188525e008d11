"""The round-trip comparison itself: it must see each kind of difference the acceptance rule
names, and accept only clockwork's allowed additions."""

from __future__ import annotations

import copy

import pytest
from import_fidelity import differences

BEFORE = {
    "services": {
        "db": {
            "image": "postgres:16",
            "environment": ["POSTGRES_PASSWORD=pw"],
            "networks": {"back": None},
        },
        "api": {
            "image": "app:1",
            "environment": {"PORT": 8000},
            "ports": [{"target": 80, "published": 8080, "protocol": "tcp", "mode": "ingress"}],
            "depends_on": {"db": {"condition": "service_started", "required": True}},
            "networks": {"back": None, "front": None},
            "healthcheck": {"test": "curl -f localhost", "interval": "1m"},
        },
        "web": {"image": "nginx:1", "networks": {"front": None}},
    },
    "volumes": {"data": {"name": "fidelity_data"}},
}


def _after() -> dict:
    after = copy.deepcopy(BEFORE)
    db, api = after["services"]["db"], after["services"]["api"]
    db["environment"] = {"POSTGRES_PASSWORD": "pw"}
    db["healthcheck"] = {"test": ["CMD", "pg_isready"], "interval": "1s"}  # clockwork's, on an engine
    db["volumes"] = [{"type": "volume", "source": "db_data", "target": "/var/lib/postgresql/data"}]
    db["labels"] = {"dev.clockwork.role": "database"}
    api["environment"] = {"PORT": "8000"}
    api["ports"][0]["published"] = "8080"
    api["depends_on"]["db"]["condition"] = "service_healthy"  # stronger: allowed
    api["healthcheck"] = {"test": ["CMD-SHELL", "curl -f localhost"], "interval": "60s", "timeout": "30s"}
    api["restart"] = "no"
    after["volumes"]["db_data"] = {"name": "fidelity_db_data"}
    return after


def test_the_allowed_additions_and_same_meanings_are_no_difference():
    assert differences(BEFORE, _after()) == []


def _weaker(before: dict, after: dict) -> None:
    before["services"]["api"]["depends_on"]["db"]["condition"] = "service_healthy"
    after["services"]["api"]["depends_on"]["db"]["condition"] = "service_started"


CASES = {
    "api: ports": lambda b, a: a["services"]["api"]["ports"][0].update(published="9090"),
    "api: environment": lambda b, a: a["services"]["api"]["environment"].update(PORT="1"),
    "depends_on db: service_healthy became service_started": _weaker,
    "depends_on db was dropped": lambda b, a: a["services"]["api"].pop("depends_on"),
    "db and web now share a network": lambda b, a: a["services"]["web"]["networks"].update(back=None),
    "api: healthcheck": lambda b, a: a["services"]["api"]["healthcheck"].update(retries=5),
    "api: restart": lambda b, a: a["services"]["api"].update(restart="always"),
    "web: healthcheck": lambda b, a: a["services"]["web"].update(healthcheck={"test": ["CMD", "true"]}),
    "services:": lambda b, a: a["services"].pop("web"),
    "labels": lambda b, a: a["services"]["web"].update(labels={"team": "x"}),
    "volume data": lambda b, a: a["volumes"].pop("data"),
    "depends_on web (service_started) was added": lambda b, a: a["services"]["api"]["depends_on"].update(
        web={"condition": "service_started"}
    ),
}


@pytest.mark.parametrize("expected", sorted(CASES))
def test_each_kind_of_difference_is_seen(expected: str):
    before, after = copy.deepcopy(BEFORE), _after()
    CASES[expected](before, after)
    found = differences(before, after)
    assert any(expected in line for line in found), found
