"""Every Python sample of the seed README is a user's program: each must compile as written.

The samples build on each other the way a reader follows them: sample 1 declares postgres
and api; later samples replace its connection ("Update the connection") or add to it.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from _compile import compile_dir

SEED = Path(__file__).parent / "seed" / "connected-services-README.md"
SAMPLES = re.findall(r"```python\n(.*?)```", SEED.read_text(encoding="utf-8"), flags=re.S)
EXPECTED_URL = "postgresql://admin:secret123@postgres-db:5432/appdb"
REDIS = 'redis = DockerResource(name="redis-cache", image="redis:7-alpine", ports=["6379:6379"])\n'
FILES = {
    "schema.sql": "CREATE TABLE IF NOT EXISTS users (id serial primary key);\n",
    "migrations/001_add_users_table.sql": "SELECT 1;\n",
    "api-server/Dockerfile": "FROM python:3.11-slim\n",
    "admin-panel/Dockerfile": "FROM python:3.11-slim\n",
}


def _programs() -> dict[str, str]:
    first = SAMPLES[0]
    declarations = first[: first.index("# Connect using")]
    return {
        "1-database-connection": first,
        "2-schema-and-migrations": declarations + SAMPLES[1],
        "3-full-featured": declarations + SAMPLES[2],
        "4-simple-connection": declarations + REDIS + SAMPLES[3],
        "5-schema-file": declarations + SAMPLES[4],
        "6-migrations": declarations + SAMPLES[5],
        "7-second-consumer": first + SAMPLES[6],
    }


def test_the_seed_has_the_samples_we_compile():
    assert len(SAMPLES) == 7


@pytest.mark.parametrize("name", sorted(_programs()))
def test_seed_sample_compiles(name, make_project):
    program = _programs()[name]
    root = make_project(program, FILES, name=f"{name}/connected-services")
    project, _, doc = compile_dir(root)
    services = doc["services"]
    api = services["api-server"]
    if "DatabaseConnection" in program:
        assert api["environment"]["DATABASE_URL"] == EXPECTED_URL
        assert api["depends_on"]["postgres-db"] == {"condition": "service_healthy"}
    if "schema_file" in program or "migrations_dir" in program:
        assert api["depends_on"]["postgres-db-migrator"] == {"condition": "service_completed_successfully"}
    if "admin_panel" in program:
        assert services["admin-panel"]["environment"]["DATABASE_URL"] == EXPECTED_URL
    if "api.connect(redis)" in program:
        assert api["environment"]["REDIS_URL"] == "redis://redis-cache:6379/0"
        assert api["depends_on"]["redis-cache"] == {"condition": "service_healthy"}
