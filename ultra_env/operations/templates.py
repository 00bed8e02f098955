"""The Jinja environment the templates are rendered in: every value a JSON literal for the Compose
file with its ``$`` doubled (only ``Interpolated`` values expand), and an error that names the
template line."""

from __future__ import annotations

import json
import traceback
from functools import lru_cache
from pathlib import Path
from typing import Any

from ultra_env.errors import UltraError
from ultra_env.project.envfile import quote
from ultra_env.project.interpolation import escape


class Interpolated(str):
    """A value ultra-env writes for Compose to expand (``${POSTGRES_PASSWORD}`` in DATABASE_URL)."""


def _escaped(value: Any) -> Any:
    if isinstance(value, Interpolated):
        return str(value)
    if isinstance(value, str):
        return escape(value)
    if isinstance(value, list | tuple):
        return [_escaped(v) for v in value]
    if isinstance(value, dict):
        return {k: _escaped(v) for k, v in value.items()}
    return value


def compose_literal(value: Any) -> str:
    """A value for the Compose file, as a JSON scalar or list that YAML reads as it is, with every
    ``$`` doubled so that Compose takes it literally (a ``$`` in a command or a URL must not pull a
    variable, let alone the database password, into it); only ``Interpolated`` values expand."""
    return json.dumps(_escaped(value))  # ASCII: YAML reads \uXXXX back, and no line break hides in it


@lru_cache(maxsize=4)
def _environment(templates_dir: Path) -> Any:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir)),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.filters["env"] = quote
    env.filters["json"] = compose_literal
    env.filters["k8s"] = json.dumps  # a JSON scalar or map, which YAML reads as it is (no Compose `$` here)
    return env


def render_template(templates_dir: Path, name: str, context: dict[str, Any]) -> str:
    import jinja2

    try:
        return _environment(templates_dir).get_template(name).render(context)
    except jinja2.TemplateNotFound:
        raise UltraError(
            f"template {name} is missing from {templates_dir}", f"restore it: git checkout -- templates/{name}"
        ) from None
    except jinja2.TemplateSyntaxError as exc:
        raise UltraError(
            f"templates/{name}:{exc.lineno}: {exc.message}",
            f"fix line {exc.lineno} of templates/{name} (or git checkout -- templates/{name})",
        ) from None
    except jinja2.TemplateError as exc:
        line = _template_line(exc, name)
        where = f"templates/{name}:{line}" if line else f"templates/{name}"
        raise UltraError(f"{where}: {exc}", f"fix templates/{name} (or git checkout -- templates/{name})") from None


def _template_line(exc: BaseException, name: str) -> int | None:
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if frame.filename.endswith(name):
            return frame.lineno
    return None
