"""Data and project identity, without an engine: volume and .env names, project names,
the apply guard's and the duplicate network's messages, orphans, .env and git; what destroy
removes, against a fake engine.

The same behaviour on a real engine is proven in tests/e2e/test_identity.py."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from _compile import compile_dir
from fakes import FakeEngine
from support import run_cli

from clockwork_compose import _docker, _lower
from clockwork_compose._docker import ContainerState
from clockwork_compose._errors import DeclarationError
from clockwork_compose._model import Mount, Project, Role, Service
from clockwork_compose._targets.base import human_size
from clockwork_compose._targets.compose import runtime as _deploy

# -- volumes -------------------------------------------------------------------------------

PG = 'DockerResource(name="{name}", image="postgres:15-alpine", env_vars={{"POSTGRES_PASSWORD": "pw"}})'


def volumes_of(root: Path) -> dict[str, list[str]]:
    _, _, doc = compile_dir(root)
    return {name: s.get("volumes", []) for name, s in doc["services"].items()}


def test_a_database_volume_depends_only_on_its_own_name(make_project) -> None:
    one = make_project(f"a = {PG.format(name='postgres-db')}\n", name="one")
    two = make_project(
        f"a = {PG.format(name='postgres-db')}\nb = {PG.format(name='events-db')}\n"
        'c = DockerResource(name="cache", image="redis:7-alpine")\n',
        name="two",
    )
    assert volumes_of(one)["postgres-db"] == ["postgres-db_data:/var/lib/postgresql/data"]
    assert volumes_of(two)["postgres-db"] == ["postgres-db_data:/var/lib/postgresql/data"]
    assert volumes_of(two)["cache"] == ["cache_data:/data"]


def test_names_that_differ_only_in_dash_underscore_dot_get_distinct_volumes(make_project) -> None:
    root = make_project(f"a = {PG.format(name='db-x')}\nb = {PG.format(name='db_x')}\nc = {PG.format(name='db.x')}\n")
    got = volumes_of(root)
    sources = {got[n][0].split(":")[0] for n in ("db-x", "db_x", "db.x")}
    assert sources == {"db-x_data", "db_x_data", "db.x_data"}


def test_a_declared_volume_named_like_a_generated_one_is_an_error_naming_both(make_project) -> None:
    root = make_project(
        f"db = {PG.format(name='db-x')}\n"
        'app = DockerResource(name="app", image="example/app:1", volumes=["db-x_data:/srv"])\n'
    )
    with pytest.raises(DeclarationError) as caught:
        compile_dir(root)
    message = str(caught.value)
    assert "'app'" in message and "db-x_data" in message and "db-x" in message
    assert "\n" not in message


def test_two_databases_declaring_one_data_volume_is_an_error_naming_both(make_project) -> None:
    """They built fine, then raced in initdb on one volume."""
    root = make_project(
        'a = DockerResource(name="events-db", image="postgres:16", volumes=["pgdata:/var/lib/postgresql/data"])\n'
        'b = DockerResource(name="orders-db", image="postgres:16", volumes=["pgdata://var/lib/postgresql/data/."])\n'
    )
    with pytest.raises(DeclarationError) as caught:
        compile_dir(root)
    message = str(caught.value)
    assert message.startswith(
        "resource 'orders-db', field 'volumes': volume 'pgdata' is where events-db keeps its data"
    )
    assert "race to initialise it" in message and 'volumes=["orders-db_data:/var/lib/postgresql/data"]' in message


def test_two_databases_on_one_project_folder_is_an_error_too(make_project) -> None:
    root = make_project(
        'a = DockerResource(name="events-db", image="postgres:16", volumes=["./pgdata:/var/lib/postgresql/data"])\n'
        'b = DockerResource(name="orders-db", image="postgres:16", volumes=["./pgdata/:/var/lib/postgresql/data"])\n',
        files={"pgdata/.keep": ""},
    )
    with pytest.raises(DeclarationError) as caught:
        compile_dir(root)
    assert str(caught.value).startswith(
        "resource 'orders-db', field 'volumes': folder './pgdata' is where events-db keeps its data"
    )


def test_a_database_volume_may_be_mounted_elsewhere_and_apps_may_share_volumes(make_project) -> None:
    root = make_project(
        'db = DockerResource(name="db", image="postgres:16", volumes=["pgdata:/var/lib/postgresql/data"])\n'
        'backup = DockerResource(name="backup", image="example/backup:1", volumes=["pgdata:/backup:ro"])\n'
        'web = DockerResource(name="web", image="example/web:1", volumes=["files:/data"])\n'  # /data: redis's dir
        'worker = DockerResource(name="worker", image="example/worker:1", volumes=["files:/data"])\n'
    )
    got = volumes_of(root)
    assert got["backup"] == ["pgdata:/backup:ro"] and got["web"] == got["worker"] == ["files:/data"]


def test_a_database_may_keep_its_old_volume_by_declaring_it(make_project) -> None:
    root = make_project(
        'db = DockerResource(name="postgres-db", image="postgres:15-alpine", env_vars={"POSTGRES_PASSWORD": "pw"},'
        ' volumes=["postgres_data:/var/lib/postgresql/data"])\n'
    )
    assert volumes_of(root)["postgres-db"] == ["postgres_data:/var/lib/postgresql/data"]


# -- derived .env variables ----------------------------------------------------------------


def test_consumers_whose_names_fold_together_are_an_error_naming_both(make_project) -> None:
    body = (
        "db = DockerResource(name=\"db\", image=\"postgres:15-alpine\", env_vars={'POSTGRES_PASSWORD': Secret('PW')})\n"
        'a = DockerResource(name="api-x", image="example/app:1")\n'
        'b = DockerResource(name="api_x", image="example/app:1")\n'
        "a.connect(DatabaseConnection(to_resource=db, password=Secret('PW')))\n"
        "b.connect(DatabaseConnection(to_resource=db, password=Secret('PW')))\n"
    )
    root = make_project(body)
    result = run_cli("build", cwd=root)
    assert result.code == 2, result
    assert "CLOCKWORK_API_X_DATABASE_URL" in result.err
    assert "api-x" in result.err and "api_x" in result.err
    assert len(result.err.strip().splitlines()) == 1
    assert not (root / "docker-compose.yml").exists() and not (root / ".env").exists()


# -- project names -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("folder", "expected"),
    [("connected-services", "connected-services"), ("shop_2", "shop_2"), ("a", "a")],
)
def test_a_valid_folder_name_is_the_project_name(tmp_path: Path, folder: str, expected: str) -> None:
    assert _lower.project_name(tmp_path / folder) == expected


def test_project_names_are_distinct_for_distinct_folder_names(tmp_path: Path) -> None:
    folders = ["データ", "данные", "My App", "my-app", "My-App", "my app", "-x-", "x", "Données"]
    names = [_lower.project_name(tmp_path / f) for f in folders]
    assert len(set(names)) == len(folders), names
    for name in names:
        assert name[0].isalnum() and all(c.isalnum() or c in "-_" for c in name) and name == name.lower()
        assert name.isascii()


def test_the_project_name_depends_on_the_folder_name_not_its_place(tmp_path: Path) -> None:
    assert _lower.project_name(tmp_path / "a" / "データ") == _lower.project_name(tmp_path / "b" / "データ")


# -- apply's guard, orphans, ownership ---------------------------------------------------


def state(service: str, volumes: tuple[tuple[str, str], ...] = (), role: str = "database", **kw) -> ContainerState:
    return ContainerState(service, service, f"id-{service}", "running", None, 0, None, role=role, volumes=volumes, **kw)


def project(*services: Service) -> Project:
    return Project("shop", {s.name: s for s in services}, ["app_network"], [])


DB = Service(
    "db", Role.DATABASE, image="postgres:15-alpine", mounts=[Mount("volume", "db_data", "/var/lib/postgresql/data")]
)


def test_no_move_when_the_data_volume_stays() -> None:
    existing = [state("db", (("/var/lib/postgresql/data", "shop_db_data"),))]
    assert _deploy.volume_moves(project(DB), existing) == []


def test_a_container_that_would_leave_its_data_volume_is_a_move_and_the_message_says_both_ways_out() -> None:
    existing = [state("db", (("/var/lib/postgresql/data", "shop_postgres_data"),))]
    moves = _deploy.volume_moves(project(DB), existing)
    assert moves == [_deploy.VolumeMove("db", "/var/lib/postgresql/data", "shop_postgres_data", "shop_db_data")]
    message = str(_deploy.guard_error("shop", moves))
    assert "shop_postgres_data" in message and "shop_db_data" in message
    assert 'volumes=["postgres_data:/var/lib/postgresql/data"]' in message
    assert "--replace-data" in message and "\n" not in message


def test_the_guard_says_what_the_volume_it_would_mount_holds() -> None:
    move = _deploy.VolumeMove("db", "/var/lib/postgresql/data", "shop_db_data", "shop_postgres_data")
    full = {
        "shop_db_data": _docker.VolumeUsage("shop_db_data", True, 4_100, 20),
        "shop_postgres_data": _docker.VolumeUsage("shop_postgres_data", True, 38_300, 1200),
    }
    message = str(_deploy.guard_error("shop", [move], full))
    assert "empty" not in message
    assert "volume shop_db_data (4.2 MB) at" in message
    assert "mounts shop_postgres_data there, which holds 39.2 MB" in message
    assert "to recreate it on the data the new file mounts instead" in message
    missing = {"shop_postgres_data": _docker.VolumeUsage("shop_postgres_data", False)}
    assert "which does not exist yet (apply would create it empty)" in str(_deploy.guard_error("shop", [move], missing))
    empty = {"shop_postgres_data": _docker.VolumeUsage("shop_postgres_data", True, 4, 0)}
    assert "which exists and is empty" in str(_deploy.guard_error("shop", [move], empty))
    unknown = {"shop_postgres_data": _docker.VolumeUsage("shop_postgres_data", True)}
    assert "could not be measured" in str(_deploy.guard_error("shop", [move], unknown))
    assert "empty" not in str(_deploy.guard_error("shop", [move]))  # not measured: no claim at all


@pytest.mark.parametrize(
    ("kib", "text"), [(0, "0 bytes"), (1, "1.02 kB"), (38_300, "39.2 MB"), (2_000_000, "2.05 GB"), (999, "1.02 MB")]
)
def test_sizes_are_decimal(kib: int, text: str) -> None:
    assert human_size(kib) == text


def test_anonymous_volumes_and_undeclared_services_are_no_move() -> None:
    anonymous = "a" * 64
    existing = [state("db", (("/var/lib/postgresql/data", "shop_db_data"), ("/other", anonymous))), state("gone")]
    assert _deploy.volume_moves(project(DB), existing) == []


def test_orphans_are_undeclared_services_with_their_named_volumes() -> None:
    existing = [
        state("db", (("/var/lib/postgresql/data", "shop_db_data"),)),
        state("old-db", (("/var/lib/postgresql/data", "shop_old-db_data"),)),
        state("old-worker", role="app"),
    ]
    p = project(DB)
    p.volumes = ["db_data"]
    orphans = _deploy.orphans_of(p, existing)
    assert orphans == (
        _deploy.Orphan("old-db", "old-db", ("shop_old-db_data",)),
        _deploy.Orphan("old-worker", "old-worker", ()),
    )


def test_stop_order_is_apps_then_migrators_then_databases() -> None:
    existing = [state("db"), state("m", role="migrator"), state("b", role="app"), state("a", role="")]
    assert _deploy.stop_order(existing) == [["a", "b"], ["m"], ["db"]]


def test_containers_from_another_folder_are_refused_naming_it(tmp_path: Path) -> None:
    here, there = tmp_path / "b" / "shop", tmp_path / "a" / "shop"
    there.mkdir(parents=True)
    (there / "main.py").write_text("")  # a project lives there (one that is gone: tests/test_adoption_unit.py)
    existing = [state("db", working_dir=str(there))]
    with pytest.raises(_docker.RuntimeFailure) as caught:
        _deploy.check_owner("shop", here, existing)
    assert str(there) in str(caught.value) and "clockwork destroy" in str(caught.value)
    _deploy.check_owner("shop", there, existing)  # its own folder: fine


def test_duplicate_networks_message_names_the_one_to_remove() -> None:
    found = [
        _docker.Network("a" * 64, "app_network", {}, ("api",), "2026-01-01"),
        _docker.Network("b" * 64, "app_network", {}, (), "2026-01-02"),
    ]
    message = str(_docker.duplicate_network_error("app_network", found))
    assert "docker network rm bbbbbbbbbbbb" in message
    assert "docker network rm aaaaaaaaaaaa" not in message
    assert "ambiguous" in message


# -- .env and git --------------------------------------------------------------------------

SECRET_PROJECT = (
    'db = DockerResource(name="db", image="postgres:15-alpine", env_vars={"POSTGRES_PASSWORD": Secret("PW")})\n'
)


def git(*args: str, cwd: Path) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def test_build_refuses_to_write_a_secret_into_a_tracked_env(make_project) -> None:
    root = make_project(SECRET_PROJECT)
    (root / ".env").write_text("OTHER=1\n")
    git("init", "-q", cwd=root)
    git("add", ".env", cwd=root)
    result = run_cli("build", cwd=root, env={"PW": "s3cret-value"})
    assert result.code == 2, result
    assert "git rm --cached .env" in result.err and "tracked by git" in result.err
    assert len(result.err.strip().splitlines()) == 1
    assert (root / ".env").read_text() == "OTHER=1\n"
    assert not (root / "docker-compose.yml").exists()
    git("rm", "-q", "--cached", ".env", cwd=root)  # the fix it names works
    fixed = run_cli("build", cwd=root, env={"PW": "s3cret-value"})
    assert fixed.code == 0, fixed
    assert "s3cret-value" in (root / ".env").read_text()


def test_a_symlinked_env_is_written_through_not_replaced(make_project, tmp_path: Path) -> None:
    root = make_project(SECRET_PROJECT)
    shared = tmp_path / "secrets.env"
    shared.write_text("KEEP=1\n")
    (root / ".env").symlink_to(shared)
    result = run_cli("build", cwd=root, env={"PW": "s3cret-value"})
    assert result.code == 0, result
    assert (root / ".env").is_symlink()
    assert "s3cret-value" in shared.read_text() and "KEEP=1" in shared.read_text()


def test_a_dangling_env_symlink_is_refused(make_project, tmp_path: Path) -> None:
    root = make_project(SECRET_PROJECT)
    (root / ".env").symlink_to(tmp_path / "nowhere.env")
    result = run_cli("build", cwd=root, env={"PW": "s3cret-value"})
    assert result.code == 2, result
    assert "symlink" in result.err and len(result.err.strip().splitlines()) == 1
    assert (root / ".env").is_symlink() and not (root / "docker-compose.yml").exists()


def test_no_secrets_no_git(make_project, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without secrets, build never asks git (it is off the build path)."""
    root = make_project('a = DockerResource(name="app", image="example/app:1")\n')
    calls: list[object] = []
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: calls.append(a))
    compile_dir(root)
    from clockwork_compose import _api

    _api.build(root)
    assert calls == []


def test_a_network_compose_would_refuse_is_reported_with_the_fix() -> None:
    bare = _docker.Network("c" * 64, "app_network", {}, (), "2026-01-01")
    error = _docker.unusable_network("app_network", [bare])
    assert isinstance(error, _docker.RuntimeFailure)
    assert "docker network rm cccccccccccc" in str(error)
    assert "com.docker.compose.network=app_network" in str(error)
    labelled = _docker.Network("d" * 64, "app_network", {_docker.NETWORK_LABEL: "app_network"}, ())
    assert _docker.unusable_network("app_network", [labelled]) is None
    assert _docker.unusable_network("app_network", []) is None


def test_a_container_name_held_by_another_project_is_refused_naming_it(tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    (other / "main.py").write_text("")
    holder = state("postgres-db", project="other", working_dir=str(other))
    with pytest.raises(_docker.RuntimeFailure) as caught:
        _deploy.check_names("shop", [holder])
    message = str(caught.value)
    assert "postgres-db" in message and "project other" in message and str(other) in message
    assert "docker rm -f postgres-db" in message
    _deploy.check_names("other", [holder])  # its own project: fine


# -- destroy, against a fake engine ---------------------------------------------------------


def test_destroy_removes_this_folders_containers_dependants_first_and_only_its_own_volumes(tmp_path: Path) -> None:
    folder = tmp_path / "shop"
    folder.mkdir()
    here, there = str(folder), "/srv/other/shop"
    containers = [
        state("db", working_dir=here, project="shop"),
        state("db-migrator", role="migrator", working_dir=here, project="shop"),
        state("app", role="app", working_dir=here, project="shop"),
        state("cache", working_dir=there, project="shop"),  # the same project name from another folder
    ]
    shop = {_docker.PROJECT_LABEL: "shop"}
    volumes = [
        _docker.Volume("shop_db_data", {**shop, _docker.OWNER_LABEL: here}),
        _docker.Volume("shop_cache_data", shop),  # made by Compose: whose, with two folders, is unknown
    ]
    network = _docker.Network("n1", "shop_default", shop, ())
    engine = FakeEngine(containers, volumes=volumes, networks=[network])
    report = _deploy.destroy(folder, engine=engine)
    assert engine.removed_groups == [["app"], ["db-migrator"], ["db"]]
    assert engine.removed_volumes == ["shop_db_data"]
    assert engine.networks_freed == [("app_network", "shop"), ("shop_default", "shop")]
    assert report.removed == {
        "containers": ("app", "db", "db-migrator"),
        "networks": ("app_network", "shop_default"),
        "volumes": ("shop_db_data",),
    }
    assert report.foreign == (there,)
    kept = _deploy.destroy(
        folder, keep_volumes=True, engine=FakeEngine(containers, volumes=volumes, networks=[network])
    )
    assert kept.removed["volumes"] == () and kept.kept_volumes
