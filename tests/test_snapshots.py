"""Snapshots of whole compose files: they catch unintended changes anywhere in the output.

A snapshot alone proves nothing, so each is paired with assertions on what it means; the
rules themselves are tested one by one in test_compile.py.
"""

from __future__ import annotations

from _compile import compile_dir


def test_redis_only(make_project, snapshot):
    root = make_project(
        """
        cache = DockerResource(name="cache", image="valkey/valkey:8", ports=["127.0.0.1:6380:6379"])
        web = DockerResource(
            name="web", image="nginx:1.27", ports=["8080:80"], volumes=["./site:/usr/share/nginx/html:ro"]
        )
        web.connect(cache)
        """,
        {"site/index.html": "<h1>hi</h1>\n"},
        name="small",
    )
    _, text, doc = compile_dir(root)
    web = doc["services"]["web"]
    assert web["environment"] == {"REDIS_URL": "redis://cache:6379/0"}
    assert web["volumes"] == [
        {"type": "bind", "source": "./site", "target": "/usr/share/nginx/html", "read_only": True}
    ]
    assert doc["services"]["cache"]["ports"] == ["127.0.0.1:6380:6379"]
    assert text == snapshot


def test_two_databases_one_consumer(make_project, snapshot):
    root = make_project(
        """
        users = DockerResource(name="users-db", image="postgres:16", env_vars={"POSTGRES_PASSWORD": "pw"})
        events = DockerResource(name="events-db", image="postgres:16", env_vars={"POSTGRES_PASSWORD": "pw"})
        app = DockerResource(name="app", image="example/app:2", command=["serve", "--port", "8000"])
        app.connect(DatabaseConnection(to_resource=users, migrations_dir="users"))
        app.connect(DatabaseConnection(to_resource=events, env_var_name="EVENTS_URL", migrations_dir="events"))
        """,
        {"users/001.sql": "CREATE TABLE u (id int);\n", "events/001.sql": "CREATE TABLE e (id int);\n"},
        name="two",
    )
    _, text, doc = compile_dir(root)
    assert doc["volumes"] == {"events-db_data": {}, "users-db_data": {}}  # never one volume for two databases
    assert set(doc["services"]["app"]["depends_on"]) == {
        "users-db",
        "users-db-migrator",
        "events-db",
        "events-db-migrator",
    }
    assert text == snapshot
