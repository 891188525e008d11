"""`clockwork migrations clear-failed` without Docker: which records it reads and removes, in
which container, as whom; and what it says when there is nothing to do or it cannot act.

The engine is a fake (containers and ``exec``): the SQL it receives is what the image's
client would run. The real thing runs in tests/e2e/test_engine_mariadb.py."""

from __future__ import annotations

import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from clockwork_compose import _history
from clockwork_compose._docker import ContainerState, EngineInfo
from clockwork_compose._errors import DeclarationError, RuntimeFailure

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
PASSWORD = "shop-pw"  # pragma: allowlist secret


@dataclass
class FakeEngine:
    """Containers by name, and what the client prints for each statement it is given."""

    running: dict[str, str] = field(default_factory=lambda: {"shop-db": "running"})
    #: SQL prefix -> the client's output (or an exception to raise).
    answers: dict[str, str | Exception] = field(default_factory=dict)
    calls: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)

    def engine_info(self) -> EngineInfo:
        return EngineInfo("24.0", "1.43", "2.26")

    def container(self, name: str) -> ContainerState | None:
        status = self.running.get(name)
        return None if status is None else ContainerState(name, name, "id", status, None, 0, None)

    def exec_in(self, name: str, argv: Sequence[str], env: Mapping[str, str] | None = None) -> str:
        sql = argv[-1]
        self.calls.append((name, sql, dict(env or {})))
        answer = next((a for prefix, a in self.answers.items() if sql.startswith(prefix)), "")
        if isinstance(answer, Exception):
            raise answer
        return answer


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    """examples/mariadb-app with its secrets in .env."""
    folder = tmp_path / "shop"
    shutil.copytree(EXAMPLES / "mariadb-app", folder, ignore=shutil.ignore_patterns(".env"))
    (folder / ".env").write_text(f"DB_PASSWORD={PASSWORD}\nDB_ROOT_PASSWORD=root-pw\n")
    return folder


def test_failed_records_are_read_then_removed_in_the_database_s_container(shop: Path) -> None:
    engine = FakeEngine(answers={"SELECT": "003_add_orders.sql\tfailed\n004_x.sql\tapplying\n"})
    (cleared,) = _history.clear_failed(shop, engine=engine)
    assert cleared == _history.Cleared("shop-db", (("003_add_orders.sql", "failed"), ("004_x.sql", "applying")))
    assert [(name, sql) for name, sql, _ in engine.calls] == [
        (
            "shop-db",
            "SELECT version, state FROM clockwork_migrations WHERE NOT (state = 'applied') ORDER BY version",
        ),
        ("shop-db", "DELETE FROM clockwork_migrations WHERE NOT (state = 'applied')"),
    ]
    assert {env["MYSQL_PWD"] for _, _, env in engine.calls} == {PASSWORD}  # as the connection logs in


def test_nothing_failed_deletes_nothing(shop: Path) -> None:
    engine = FakeEngine()
    assert _history.clear_failed(shop, engine=engine) == [_history.Cleared("shop-db", ())]
    assert [sql.split()[0] for _, sql, _ in engine.calls] == ["SELECT"]


def test_a_database_never_migrated_has_nothing_to_clear(shop: Path) -> None:
    missing = RuntimeFailure("ERROR 1146 (42S02): Table 'shop.clockwork_migrations' doesn't exist")
    engine = FakeEngine(answers={"SELECT": missing})
    assert _history.clear_failed(shop, engine=engine) == [_history.Cleared("shop-db", ())]


def test_another_client_error_is_not_swallowed(shop: Path) -> None:
    engine = FakeEngine(answers={"SELECT": RuntimeFailure("ERROR 1045 (28000): Access denied for user 'shop'")})
    with pytest.raises(RuntimeFailure, match="Access denied"):
        _history.clear_failed(shop, engine=engine)


@pytest.mark.parametrize("running", [{}, {"shop-db": "exited"}], ids=["no-container", "exited"])
def test_a_database_that_is_not_running_is_named_with_the_fix(shop: Path, running: dict[str, str]) -> None:
    engine = FakeEngine(running=running)
    with pytest.raises(RuntimeFailure) as info:
        _history.clear_failed(shop, engine=engine)
    assert str(info.value).startswith("shop-db is not running: start it with `clockwork apply`")
    assert engine.calls == []


def test_an_unknown_database_names_the_ones_there_are(shop: Path) -> None:
    with pytest.raises(DeclarationError) as info:
        _history.clear_failed(shop, "shop", engine=FakeEngine())
    assert "no migrated database has this name" in str(info.value)
    assert "give one of: shop-db" in str(info.value)


def test_an_engine_whose_files_never_stay_half_applied_has_nothing_to_clear(tmp_path: Path) -> None:
    """postgres runs each file in a transaction: no record is ever left unfinished."""
    folder = tmp_path / "cs"
    shutil.copytree(EXAMPLES / "connected-services", folder)
    engine = FakeEngine(running={})
    assert _history.clear_failed(folder, engine=engine) == [_history.Cleared("postgres-db", ())]
    assert engine.calls == []
