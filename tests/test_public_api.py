from __future__ import annotations

import clockwork_compose


def test_all_is_sorted_and_complete():
    # "@py_builtins" and the like: pytest's assertion rewriting, as the package ships a pytest plugin.
    public = {name for name in dir(clockwork_compose) if not name.startswith(("_", "@"))}
    assert clockwork_compose.__all__ == sorted(clockwork_compose.__all__)
    assert set(clockwork_compose.__all__) == public - {"annotations"}


def test_connect_returns_the_resource():
    from clockwork_compose import DockerResource

    db = DockerResource(name="db", image="postgres:16")
    app = DockerResource(name="app", image="x:1")
    assert app.connect(db) is app
    assert app.connections == (db,)
