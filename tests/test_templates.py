"""The drivers' templates rendered without jinja2 (``_templates``) are jinja2's bytes."""

from __future__ import annotations

import jinja2
import pytest

from clockwork_compose import _migrator, _templates
from clockwork_compose._engines import CATALOG

FILTERS = {"sh": _migrator.shell_quote}
MIGRATING = [engine for engine in CATALOG if engine.migrator is not None]


@pytest.mark.parametrize("engine", MIGRATING, ids=lambda engine: engine.name)
def test_every_driver_template_renders_without_jinja2_as_jinja2_does(engine):
    folder, name = _migrator.template_dir(), engine.migrator.template
    context = _migrator.template_context(engine)
    source = (folder / name).read_text(encoding="utf-8")
    ours = _templates.substitute(source, context, FILTERS)
    assert ours is not None  # the driver needs no jinja2 at build time
    assert ours == _templates._jinja2(folder, name, context, FILTERS)
    assert "{{" not in ours and str(context["prog"]) in ours


def _both(tmp_path, source: str, context: dict[str, object]) -> tuple[str | None, str]:
    (tmp_path / "t.j2").write_text(source, encoding="utf-8", newline="")
    return _templates.substitute(source, context, FILTERS), _templates._jinja2(tmp_path, "t.j2", context, FILTERS)


@pytest.mark.parametrize(
    "source",
    [
        "a {{ x }} b\n",
        "a {{x}}{{ y|sh }} b",
        "${ {{- x }}:-{{ y }}}\n\n",
        "line\n   \n  {{- y | sh }}\nend\n",
        "{{ n }} retries, {{ flag }}\n",
        "no tags at all }} {\n",
    ],
)
def test_substitutions_render_as_jinja2_renders_them(tmp_path, source):
    ours, theirs = _both(tmp_path, source, {"x": "X", "y": "it's", "n": 5, "flag": True})
    assert ours == theirs


@pytest.mark.parametrize(
    "source",
    [
        "{% if x %}a{% endif %}\n",
        "{# a comment #}{{ x }}\n",
        "{{ x ~ y }}\n",
        "{{ x -}}\n  b\n",
        "{{{ 'k': x }['k'] }}\n",
        "a\r\nb {{ x }}\r\n",
        "{{ true }}\n",
    ],
)
def test_anything_else_is_left_to_jinja2(tmp_path, source):
    ours, theirs = _both(tmp_path, source, {"x": "X", "y": "Y", "true": "no"})
    assert ours is None
    assert _templates.render(tmp_path, "t.j2", {"x": "X", "y": "Y", "true": "no"}, FILTERS) == theirs


def test_a_name_without_a_value_fails_as_jinja2_fails(tmp_path):
    (tmp_path / "t.j2").write_text("{{ missing }}\n", encoding="utf-8")
    with pytest.raises(jinja2.UndefinedError):
        _templates.render(tmp_path, "t.j2", {}, FILTERS)
