"""The shipped backend in the real stack: built by Compose from this repository (legacy builder,
the test Python image, wheels and no index), answering with the local model (the real Gemma 3
270M behind the Model Runner stand-in), offline, in a real browser, keeping its data."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from conftest import FRONTEND_IMAGE, GEMMA, REPO, Project, StandIn
from support.listener import Listener

pytestmark = [pytest.mark.docker, pytest.mark.llm]
KEYS = {
    "OPENAI_API_KEY": "sk-PLANTED-openai-key-0001",
    "ANTHROPIC_API_KEY": "sk-ant-PLANTED-anthropic-0002",
    "GOOGLE_API_KEY": "AIzaPLANTED-google-key-0003",
}
ARTIFACTS = Path(os.environ.get("ULTRA_ENV_ARTIFACTS") or REPO / ".artifacts")


def backend(stack: Project) -> str:
    return f"http://127.0.0.1:{stack.env['ULTRA_ENV_PORTS__BACKEND']}"


def logs(stack: Project) -> str:
    done = subprocess.run(
        ["docker", "compose", "-p", stack.env["ULTRA_ENV_PROJECT_NAME"], "logs", "--no-color"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=stack.root,
    )
    return done.stdout + done.stderr


def test_offline_in_local_and_the_cloud_calls_in_hybrid(stack: Project, dmr: StandIn, cloud: Listener) -> None:
    """Keys set and every cloud base URL at a listener that records connections (the stack
    fixture's): in `local` an analysis answers and the listener sees nothing; in `hybrid` it
    sees the calls, which carry the keys."""
    env = {**dmr.env, **KEYS}
    local = stack.invoke("setup", "--local-llm", "--json", timeout=900, **env)
    assert local.returncode == 0, local.stdout
    answer = httpx.post(f"{backend(stack)}/api/analyze", json={"prompt": "Hello", "max_tokens": 8}, timeout=60)
    (result,) = answer.json()["results"]
    assert (result["provider"], result["model"], result["error"]) == ("local", GEMMA, None)
    assert cloud.seen == []

    hybrid = stack.invoke("setup", "--profile", "hybrid", "--json", timeout=900, **env)
    assert hybrid.returncode == 0, hybrid.stdout
    results = httpx.post(f"{backend(stack)}/api/analyze", json={"prompt": "Hello", "max_tokens": 8}, timeout=60).json()[
        "results"
    ]
    assert {r["provider"] for r in results} == {"local", "openai", "anthropic", "google"}
    assert next(r for r in results if r["provider"] == "local")["error"] is None
    kinds = {r["error"]["kind"] for r in results if r["provider"] != "local"}  # the listener's 401 answer, read
    assert kinds and kinds <= {"auth", "bad_request"}  # by each provider: they reached it, none timed out
    paths = {seen.path for seen in cloud.seen}
    assert "/v1/chat/completions" in paths and "/v1/messages" in paths
    assert any(seen.headers.get("x-api-key") == KEYS["ANTHROPIC_API_KEY"] for seen in cloud.seen)
    shown = logs(stack) + local.stdout + hybrid.stdout
    assert not [key for key in KEYS.values() if key in shown]


def test_data_survives_a_profile_switch_down_and_up(stack: Project, dmr: StandIn) -> None:
    assert stack.invoke("setup", "--profile", "mock", timeout=900).returncode == 0
    kept = httpx.post(f"{backend(stack)}/api/analyze", json={"prompt": "remember me"}, timeout=30).json()["id"]
    assert stack.invoke("setup", "--local-llm", timeout=900, **dmr.env).returncode == 0
    assert stack.invoke("down").returncode == 0
    assert stack.invoke("up", **dmr.env).returncode == 0
    found = httpx.get(f"{backend(stack)}/api/analyses/{kept}", timeout=30).json()
    assert found["prompt"] == "remember me" and found["profile"] == "mock"


@pytest.mark.shared_stack
def test_a_person_asks_in_a_real_browser_and_sees_one_answer_per_model(
    stack: Project, dmr: StandIn, request: pytest.FixtureRequest
) -> None:
    chromium = Path("/usr/bin/chromium")
    if not chromium.exists():
        message = "Debian's chromium is not installed (tests/support/prepare.sh installs it)"
        if request.config.getoption("--require-docker"):
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    assert (
        stack.invoke("setup", "--local-llm", timeout=900, **dmr.env, ULTRA_ENV_FEATURES__MOCK_LLM="true").returncode
        == 0
    )
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "backend-page.png"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(chromium),
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.goto(backend(stack) + "/")
            page.wait_for_selector("#models input")
            labels = [label.strip() for label in page.locator("#models label").all_inner_texts()]
            assert labels == [f"local · {GEMMA}", "mock · mock-echo"]
            page.fill("#prompt", "Name three colours.")
            page.click("#send")
            page.locator(".answer[data-done]").nth(1).wait_for(timeout=60_000)  # the page's CSP allows no eval
            cards = page.locator(".answer")
            assert cards.count() == 2
            texts = [cards.nth(i).locator(".text").inner_text() for i in range(2)]
            numbers = [cards.nth(i).locator(".numbers").inner_text() for i in range(2)]
            assert all(texts) and all("first token" in n and "tokens" in n for n in numbers), numbers
            page.wait_for_selector("#history li")
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    print(f"\nscreenshot: {shot}")
    assert shot.stat().st_size > 10_000


def test_the_worker_runs_queued_analyses_and_the_frontend_needs_your_image(stack: Project) -> None:
    refused = stack.invoke("setup", "--profile", "mock", ULTRA_ENV_FEATURES__FRONTEND="true")
    assert refused.returncode == 2 and "features.frontend: needs Ultra's frontend image" in refused.stdout
    assert stack.written() == []

    result = stack.invoke(
        "setup",
        "--profile",
        "mock",
        "--json",
        timeout=900,
        ULTRA_ENV_FEATURES__WORKER="true",
        ULTRA_ENV_FEATURES__FRONTEND="true",
        ULTRA_ENV_IMAGES__FRONTEND=FRONTEND_IMAGE,
    )
    tasks = {t["name"]: t for t in result.json()["tasks"]}
    assert result.returncode == 0, result.stdout
    assert tasks["service worker"]["msg"] == "healthy" and tasks["service frontend"]["msg"] == "healthy"
    queued = httpx.post(
        f"{backend(stack)}/api/analyze", json={"prompt": "later, please", "background": True}, timeout=30
    )
    assert queued.status_code == 202
    deadline = time.monotonic() + 60
    while (found := httpx.get(f"{backend(stack)}/api/analyses/{queued.json()['id']}", timeout=30).json())[
        "status"
    ] != "done":
        assert time.monotonic() < deadline, found
        time.sleep(0.5)
    assert found["results"][0]["text"] == "Mock answer to: later, please"
