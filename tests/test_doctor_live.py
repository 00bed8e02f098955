"""`invoke doctor --live` asks each cloud provider whether its key works. The providers cannot be
reached from here, so a local HTTP server replays their recorded answers (tests/fixtures/providers):
a stand-in at the one boundary that cannot exist here, like the cloud tests' MockTransport."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from conftest import Project

FIXTURES = Path(__file__).parent / "fixtures" / "providers"
KEYS = {
    "OPENAI_API_KEY": "sk-PLANTED-live-openai",
    "ANTHROPIC_API_KEY": "sk-ant-PLANTED-live",
    "GOOGLE_API_KEY": "AIzaPLANTED-live-google",
}
ANSWERS = {  # path → the recorded answer the provider gives there
    "/openai/v1/models": "openai/error-401-invalid-api-key.json",
    "/anthropic/v1/models": "anthropic/models.json",
    "/google/v1beta/models": "google/error-429-quota-per-day.json",
}


@pytest.fixture
def cloud() -> Iterator[tuple[str, list[dict]]]:
    served = json.loads((FIXTURES / "served.json").read_text())
    seen: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            path = self.path.split("?")[0]
            seen.append({"path": path, "headers": dict(self.headers)})
            name = ANSWERS.get(path)
            body = (FIXTURES / name).read_bytes() if name else b'{"error": "no such route"}'
            meta = served.get(name, {"status": 200}) if name else {"status": 404}
            self.send_response(meta["status"])
            for header, value in meta.get("headers", {"content-type": "application/json"}).items():
                self.send_header(header, value)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", seen
    server.shutdown()


def test_live_key_checks_by_provider(project: Project, cloud) -> None:
    url, seen = cloud
    env = {
        **KEYS,
        "ULTRA_ENV_PROVIDERS__OPENAI__BASE_URL": f"{url}/openai/v1",
        "ULTRA_ENV_PROVIDERS__ANTHROPIC__BASE_URL": f"{url}/anthropic",
        "ULTRA_ENV_PROVIDERS__GOOGLE__BASE_URL": f"{url}/google",
        "DOCKER_HOST": "unix:///nonexistent.sock",
    }
    result = project.invoke("doctor", "--profile", "cloud", "--live", "--json", **env)
    tasks = {t["name"]: t for t in result.json()["tasks"]}
    assert tasks["openai key (live)"]["status"] == "failed"
    assert "refused OPENAI_API_KEY (401)" in tasks["openai key (live)"]["msg"]
    assert tasks["anthropic key (live)"]["status"] == "ok"
    assert tasks["google key (live)"]["status"] == "failed" and "quota is spent" in tasks["google key (live)"]["msg"]
    assert {s["path"] for s in seen} == set(ANSWERS)
    auth = {s["path"]: s["headers"] for s in seen}
    assert auth["/openai/v1/models"]["Authorization"] == f"Bearer {KEYS['OPENAI_API_KEY']}"
    assert auth["/google/v1beta/models"]["x-goog-api-key"] == KEYS["GOOGLE_API_KEY"]
    for key in KEYS.values():
        assert key not in result.output


def test_without_live_no_provider_is_contacted(project: Project, cloud) -> None:
    url, seen = cloud
    project.invoke("doctor", "--profile", "cloud", "--json", **KEYS, ULTRA_ENV_PROVIDERS__OPENAI__BASE_URL=url)
    assert seen == []


def test_live_in_the_local_profile_asks_nobody(project: Project, cloud) -> None:
    url, seen = cloud
    result = project.invoke(
        "doctor", "--profile", "local", "--live", "--json", **KEYS, ULTRA_ENV_PROVIDERS__OPENAI__BASE_URL=url
    )
    assert {t["name"]: t["status"] for t in result.json()["tasks"]}["keys (live)"] == "skipped"
    assert seen == []
