"""What Compose itself makes of the emitted file (Compose v2's parser, no engine needed)."""

from __future__ import annotations

import pytest
from support import EXAMPLE, compose_config, needs_compose

from clockwork_compose._migrator import render_migrator_script

pytestmark = needs_compose


@pytest.fixture(scope="module")
def model():
    return compose_config(EXAMPLE)


def test_compose_reads_the_urls_back(model):
    env = model["services"]["api-server"]["environment"]
    assert env["DATABASE_URL"] == "postgresql://admin:secret123@postgres-db:5432/appdb"
    assert env["REDIS_URL"] == "redis://redis-cache:6379/0"


def test_the_driver_reaches_the_migrator_unchanged(model):
    # Written once under an anchor, `$` escaped as `$$`: Compose must hand sh the exact script.
    # (`compose config` prints `$` escaped again as `$$`, so that its output is a compose file.)
    shell, flag, script, zero = model["services"]["postgres-db-migrator"]["entrypoint"]
    assert (shell, flag, zero) == ("/bin/sh", "-c", "clockwork-migrate")
    assert script.replace("$$", "$") == render_migrator_script()


def test_the_plan_reaches_the_migrator_unchanged(model):
    from clockwork_compose._migrations import plan_for

    plan = plan_for(EXAMPLE / "migrations", EXAMPLE / "schema.sql")
    assert model["services"]["postgres-db-migrator"]["command"] == plan.arguments()


def test_conditions_and_network(model):
    depends = model["services"]["api-server"]["depends_on"]
    assert {name: d["condition"] for name, d in depends.items()} == {
        "postgres-db": "service_healthy",
        "postgres-db-migrator": "service_completed_successfully",
        "redis-cache": "service_healthy",
    }
    assert model["networks"]["app_network"]["name"] == "app_network"
    assert all(list(s["networks"]) == ["app_network"] for s in model["services"].values())
