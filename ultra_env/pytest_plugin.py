"""pytest fixtures that give a test a local model served by Docker Model Runner (docs/testing-with-local-models.md).

Installed with ultra-env as a ``pytest11`` plugin: any project's tests can ask for

- ``dmr_runner`` (session): the runner, reached as ultra-env reaches it (the project's
  ``ultra-env.toml``, ``ULTRA_ENV_*``); a test that needs it is skipped with the reason and the fix
  when it does not answer, or fails instead with ``--dmr-required`` (or ``ULTRA_ENV_REQUIRE_DMR=1``,
  or ``CI`` set, as CI services set it);
- ``dmr_model``: a model pulled if missing and loaded, with its OpenAI-compatible ``base_url``, its
  ``name`` and a ready ``client`` (``httpx.Client``); the configured model (the first ``[[models]]``),
  ``--dmr-model NAME``, or a test's ``@pytest.mark.dmr_model("ai/…")``.

The report's header names the runner and the run's end lists which model answered which test.
Light to import: pytest loads it in every run, so ultra-env itself is imported only by the fixtures.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    import httpx

    from ultra_env.config.settings import Settings

ENGINES = "/engines/v1"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("ultra-env", "local models through Docker Model Runner (ultra-env)")
    group.addoption(
        "--dmr-required",
        action="store_true",
        help="fail, not skip, the tests that need Docker Model Runner when it does not answer (CI)",
    )
    group.addoption("--dmr-model", default=None, help="the model dmr_model gives (default: the first [[models]])")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "dmr_model(name): the local model this test's dmr_model fixture gives")


def required(config: pytest.Config) -> bool:
    flag = os.environ.get("ULTRA_ENV_REQUIRE_DMR", "").lower() in ("1", "true", "yes")
    return bool(config.getoption("--dmr-required")) or flag or bool(os.environ.get("CI"))


@dataclass
class DmrRunner:
    """Model Runner as the tests reach it: ``root`` is its API (``…/engines/v1`` is OpenAI's)."""

    root: str
    settings: Settings
    loaded: dict[str, LocalModel] = field(default_factory=dict)

    @property
    def openai_url(self) -> str:
        return self.root + ENGINES

    def model(self, name: str) -> LocalModel:
        """``name`` pulled when missing and loaded, once per session."""
        if name not in self.loaded:
            self.loaded[name] = _ready(self, name)
        return self.loaded[name]


@dataclass
class LocalModel:
    name: str
    base_url: str  # OpenAI-compatible: …/engines/v1
    client: httpx.Client

    def chat(self, prompt: str, *, max_tokens: int = 32) -> dict[str, Any]:
        """One chat completion; the runner's JSON answer."""
        body = {"model": self.name, "messages": [{"role": "user", "content": prompt}], "max_tokens": max_tokens}
        response = self.client.post("/chat/completions", json=body)
        response.raise_for_status()
        answer: dict[str, Any] = response.json()
        return answer


def _settings(config: pytest.Config) -> Settings:
    from ultra_env.config.sources import load

    root = Path(os.environ.get("ULTRA_ENV_PROJECT_DIR") or config.rootpath)
    return load(root, environ=dict(os.environ)).settings


def _problem(config: pytest.Config) -> tuple[DmrRunner | None, str]:
    from ultra_env.errors import UltraError
    from ultra_env.operations import models as local_models
    from ultra_env.runner_verdicts import runner_down

    try:
        settings = _settings(config)
        conn = local_models.connect(settings, dict(os.environ))
        if conn.via_cli or conn.present is None:
            root = settings.model_runner.host_url
            fix = conn.note.fix if conn.note else runner_down("not answering", settings, desktop_app=None).fix
            return None, f"Docker Model Runner does not answer at {root} (fix: {fix})"
    except UltraError as exc:
        return None, f"{exc.cause} (fix: {exc.fix})"
    return DmrRunner(conn.runner.root, settings), ""  # type: ignore[attr-defined]


def _ready(runner: DmrRunner, name: str) -> LocalModel:
    import httpx

    from ultra_env.operations import dmr

    timeout = runner.settings.timeouts.health
    api = dmr.Api(runner.root, timeout=runner.settings.timeouts.probe, environ=dict(os.environ))
    try:
        if api.find(name) is None:
            api.pull(name, lambda _: None)
        api.preload(name, timeout)
    except dmr.DmrError as exc:
        raise RuntimeError(f"{name}: {exc.cause} (fix: {exc.fix})") from None
    client = httpx.Client(base_url=runner.openai_url, timeout=timeout, trust_env=False)
    return LocalModel(name, runner.openai_url, client)


@pytest.fixture(scope="session")
def dmr_runner(pytestconfig: pytest.Config) -> Iterator[DmrRunner]:
    runner, problem = _problem(pytestconfig)
    if runner is None:
        if required(pytestconfig):
            pytest.fail(f"Docker Model Runner is required here: {problem}")
        pytest.skip(problem)
    yield runner
    for model in runner.loaded.values():
        model.client.close()


@pytest.fixture
def dmr_model(dmr_runner: DmrRunner, request: pytest.FixtureRequest) -> LocalModel:
    marker = request.node.get_closest_marker("dmr_model")
    name = (
        marker.args[0]
        if marker is not None and marker.args
        else request.config.getoption("--dmr-model") or dmr_runner.settings.models[0].name
    )
    try:
        model = dmr_runner.model(name)
    except RuntimeError as exc:
        pytest.fail(str(exc))
    request.node.user_properties.append(("dmr_model", f"{name} at {dmr_runner.root}"))
    return model


def pytest_report_header(config: pytest.Config) -> str | None:
    if os.environ.get("ULTRA_ENV_DMR_QUIET"):
        return None
    required_note = "; a missing runner fails the tests" if required(config) else ""
    return f"ultra-env: local models through Docker Model Runner (dmr_runner, dmr_model){required_note}"


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Which model answered each test (also from xdist's workers: their reports carry it here)."""
    if report.when == "call":
        for key, value in report.user_properties:
            if key == "dmr_model":
                _used_by[report.nodeid] = f"{value} ({report.outcome})"


_used_by: dict[str, str] = {}


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    used = _used_by
    if not used:
        return
    terminalreporter.section("local models (ultra-env)")
    for nodeid, name in sorted(used.items()):
        terminalreporter.write_line(f"{nodeid}: {name}")
