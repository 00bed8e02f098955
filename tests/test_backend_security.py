"""The shipped backend against a hostile user, over real parts: a real PostgreSQL (the test image),
the backend itself in this process and as its own server process (uvicorn, as its image runs it),
and local listeners standing for cloud providers that stream what a test chooses or never answer.

- another site's page in the developer's browser: DNS rebinding, cross-site form posts, framing;
- text PostgreSQL's text types refuse (NUL, lone surrogates) in a prompt or an answer, a database
  that is down, a worker given a job it cannot finish or left running by a worker that died;
- many slow clients and bodies too large, sent slowly or announced;
- JSON nested too deep, a setting with a unit, a key streamed in pieces.
"""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import REPO, clean_environ, free_port
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.listener import Listener
from test_backend import KEYS, LOCAL, PASSWORD, postgres  # noqa: F401  (postgres: the fixture)

PLANTED = [*KEYS.values(), PASSWORD]
SURROGATES = "\ud800\udbff\udc00\udfff"
# Text as a hostile client or model may send it: any code point, NUL and lone surrogates often.
hostile_text = st.text(
    alphabet=st.one_of(
        st.sampled_from(["\x00", *SURROGATES, "\ufffe", "\u2028", "\x1b", "\r", "\n"]),
        st.characters(min_codepoint=0, max_codepoint=0x10FFFF, exclude_categories=()),
    ),
    min_size=1,
    max_size=30,
).filter(lambda s: s.strip())
lenient = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


# --- real parts ------------------------------------------------------------------------------


def mock_env(database_url: str, **extra: str) -> dict[str, str]:
    return {"ULTRA_PROFILE": "mock", "ENABLE_MOCK_LLM": "true", "DATABASE_URL": database_url, **extra}


@contextlib.contextmanager
def in_process(env: dict[str, str]) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    from ultra_env.backend.app import create_app

    with TestClient(create_app(env), base_url=LOCAL) as client:
        yield client


@pytest.fixture
def database(postgres: str) -> str:  # noqa: F811
    """A database of its own in the PostgreSQL container: what a test queues, only its worker sees."""
    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return postgres.rsplit("/", 1)[0] + f"/{name}"


def sql(url: str, statement: str, params: tuple = ()) -> list[tuple]:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn, conn.cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.fetchall() if cursor.description else []


def rows(url: str) -> int:
    return sql(url, "SELECT count(*) FROM analyses")[0][0]


class Provider:
    """An OpenAI-compatible provider on a loopback port that streams ``pieces`` as its answer
    (each piece one event, JSON with every non-ASCII character escaped, lone surrogates too)."""

    def __init__(self, pieces: list[str]) -> None:
        owner = self
        self.pieces = pieces
        self.seen: list[str] = []

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                self._send("application/json", json.dumps({"data": [{"id": "gpt-4o-mini"}]}).encode())

            def do_POST(self) -> None:
                owner.seen.append(self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode())
                events = [{"choices": [{"delta": {"content": p}, "finish_reason": None}]} for p in owner.pieces]
                events.append({"choices": [{"delta": {}, "finish_reason": "stop"}]})
                body = "".join(f"data: {json.dumps(e, ensure_ascii=True)}\n\n" for e in events) + "data: [DONE]\n\n"
                self._send("text/event-stream", body.encode("ascii"))

            def _send(self, kind: str, body: bytes) -> None:
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@contextlib.contextmanager
def provider(pieces: list[str]) -> Iterator[Provider]:
    answering = Provider(pieces)
    try:
        yield answering
    finally:
        answering.close()


@contextlib.contextmanager
def serving(env: dict[str, str], log: Path) -> Iterator[tuple[str, int, subprocess.Popen]]:
    """``python -m ultra_env.backend`` as its own process on a free port, with no HOST set (its
    default bind); its URL once it answers. Its log must show no secret."""
    port = free_port()
    environ = {k: v for k, v in clean_environ().items() if k not in ("HOST", "PORT")}
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "ultra_env.backend"],
            cwd=REPO,
            env={**environ, **env, "PORT": str(port)},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None, log.read_text(errors="replace")
            try:
                if httpx.get(f"{url}/api/available-models", timeout=10).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, log.read_text(errors="replace")
            time.sleep(0.2)
        yield url, port, process
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(30)
    shown = log.read_text(errors="replace")
    assert "Traceback" not in shown and not [p for p in PLANTED if p in shown], shown[-2000:]


def post(client: Any, route: str, body: dict[str, Any], **headers: str) -> httpx.Response:
    """A JSON POST with every non-ASCII character escaped (as a browser's JSON.stringify can send
    a lone surrogate, which httpx's own encoder cannot)."""
    content = json.dumps(body, ensure_ascii=True)
    return client.post(route, content=content, headers={"Content-Type": "application/json", **headers})


def events_of(response: httpx.Response) -> list[tuple[str, Any]]:
    lines = [line for line in response.iter_lines() if line]
    return [
        (lines[i].removeprefix("event: "), json.loads(lines[i + 1].removeprefix("data: ")))
        for i in range(0, len(lines), 2)
    ]


pytestmark = [pytest.mark.docker]


# --- 2. any web page can drive the backend ------------------------------------------------------

ATTACKER = "http://rebind.attacker.example:8000"


def test_the_server_binds_loopback_unless_asked(database: str, tmp_path: Path) -> None:
    with serving(mock_env(database), tmp_path / "log") as (_, port, _process):
        listening = []
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            for line in Path(table).read_text().splitlines()[1:]:
                local, state = line.split()[1], line.split()[3]
                if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:  # LISTEN
                    listening.append(local.rsplit(":", 1)[0])
    assert listening == ["0100007F"], f"listening on {listening} (0100007F is 127.0.0.1, 00000000 every interface)"


@given(
    name=st.from_regex(r"[a-z][a-z0-9-]{0,20}(\.[a-z][a-z0-9-]{0,20}){0,3}", fullmatch=True).filter(
        lambda n: n not in ("localhost", "backend") and not n.endswith(".localhost") and n != socket.gethostname()
    ),
    port=st.sampled_from(["", ":8000", ":80", ":1"]),
)
@lenient
def test_a_name_that_is_not_the_backends_is_refused_dns_rebinding(database: str, name: str, port: str) -> None:
    """A page whose name was pointed at 127.0.0.1 reads nothing and runs nothing."""
    with in_process(mock_env(database)) as client:
        before = rows(database)
        for method, path, body in [
            ("GET", "/api/analyses", None),
            ("GET", "/api/health", None),
            ("GET", "/", None),
            ("POST", "/api/analyze", {"prompt": "rebound"}),
        ]:
            answer = client.request(method, path, json=body, headers={"Host": name + port})
            assert answer.status_code == 403 and answer.json()["error"]["kind"] == "forbidden_host", (name, path)
        assert rows(database) == before


def test_its_own_names_are_served(database: str) -> None:
    extra = "ultra.lan"
    with in_process(mock_env(database, ALLOWED_HOSTS=extra)) as client:
        for host in ["127.0.0.1:8000", "localhost:8000", "LOCALHOST.", "[::1]:8000", "backend:8000", "app.localhost"]:
            assert client.get("/api/available-models", headers={"Host": host}).status_code == 200, host
        assert client.get("/api/available-models", headers={"Host": extra}).status_code == 200
        assert client.get("/api/available-models", headers={"Host": "10.1.2.3:8000"}).status_code == 200


@pytest.mark.parametrize(
    ("headers", "content"),
    [
        # a <form enctype="text/plain"> or a no-cors fetch: no preflight, the body is JSON all the same
        ({"Content-Type": "text/plain", "Origin": ATTACKER, "Sec-Fetch-Site": "cross-site"}, '{"prompt": "x"}'),
        ({"Content-Type": "text/plain;charset=UTF-8", "Origin": ATTACKER}, '{"prompt": "x"}'),
        ({"Content-Type": "text/plain", "Sec-Fetch-Site": "cross-site"}, '{"prompt": "x"}'),
        ({"Content-Type": "text/plain"}, '{"prompt": "x"}'),  # an old browser: no Origin, no Sec-Fetch-*
        ({"Content-Type": "application/x-www-form-urlencoded"}, '{"prompt": "x"}'),
        ({"Content-Type": "multipart/form-data; boundary=x"}, '--x\r\n\r\n{"prompt": "x"}\r\n--x--'),
        ({}, '{"prompt": "x"}'),
        ({"Content-Type": "application/json", "Origin": ATTACKER}, '{"prompt": "x"}'),
        ({"Content-Type": "application/json", "Origin": "null"}, '{"prompt": "x"}'),  # a sandboxed frame
        ({"Content-Type": "application/json", "Origin": "http://127.0.0.1:3009"}, '{"prompt": "x"}'),  # another port
        ({"Content-Type": "application/json", "Sec-Fetch-Site": "same-site"}, '{"prompt": "x"}'),
    ],
)
def test_a_cross_site_write_runs_no_analysis(database: str, headers: dict[str, str], content: str) -> None:
    with in_process(mock_env(database)) as client:
        before = rows(database)
        for route in ("/api/analyze", "/api/analyze/stream"):
            answer = client.post(route, content=content, headers=headers)
            assert answer.status_code in (403, 415), answer.text
            assert answer.json()["error"]["kind"] in ("cross_origin", "unsupported_media_type")
        assert rows(database) == before


@given(
    origin=st.builds(
        "{}://{}{}".format,
        st.sampled_from(["http", "https", "file", "chrome-extension"]),
        st.one_of(
            st.sampled_from(["127.0.0.1", "localhost", "[::1]", "backend", "evil.example", "127.0.0.1.nip.io"]),
            st.from_regex(r"[a-z][a-z0-9-]{0,15}(\.[a-z]{2,6}){0,2}", fullmatch=True),
        ),
        st.sampled_from(["", ":8000", ":8001", ":3009", ":80"]),
    ).filter(lambda o: o != LOCAL),
    site=st.sampled_from([None, "cross-site", "same-site", "none", "same-origin"]),
)
@lenient
def test_a_write_from_any_other_origin_is_refused(database: str, origin: str, site: str | None) -> None:
    """Only the backend's own origin (the Host it was reached by) may post: another port of the
    same machine is another page's, whatever Sec-Fetch-Site claims."""
    headers = {"Origin": origin, **({"Sec-Fetch-Site": site} if site else {})}
    with in_process(mock_env(database)) as client:
        before = rows(database)
        answer = post(client, "/api/analyze", {"prompt": "from elsewhere"}, **headers)
        assert answer.status_code == 403 and answer.json()["error"]["kind"] == "cross_origin", (origin, answer.text)
        assert rows(database) == before


def test_the_page_itself_and_programs_still_ask(database: str) -> None:
    with in_process(mock_env(database, ALLOWED_ORIGINS="http://127.0.0.1:3009")) as client:
        same = {"Origin": LOCAL, "Sec-Fetch-Site": "same-origin", "Sec-Fetch-Mode": "cors"}
        assert client.post("/api/analyze", json={"prompt": "from the page"}, headers=same).status_code == 200
        assert client.post("/api/analyze", json={"prompt": "from curl"}).status_code == 200
        allowed = {"Origin": "http://127.0.0.1:3009", "Sec-Fetch-Site": "same-site"}
        answer = client.post("/api/analyze", json={"prompt": "from the frontend"}, headers=allowed)
        assert answer.status_code == 200 and answer.headers["access-control-allow-origin"] == "http://127.0.0.1:3009"
        link = {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document"}
        assert client.get("/", headers=link).status_code == 200  # a link to the page is followed
        read = {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "no-cors", "Origin": ATTACKER}
        assert client.get("/api/analyses", headers=read).status_code == 403


def test_every_answer_carries_the_headers_of_a_local_web_tool(database: str) -> None:
    with in_process(mock_env(database)) as client:
        answers = [
            client.get("/"),
            client.get("/api/health"),
            client.get("/nope"),
            client.post("/api/analyze", json={"prompt": "hi"}),
            client.post("/api/analyze", content="x", headers={"Content-Type": "text/plain"}),
            client.get("/api/analyses", headers={"Host": "rebind.attacker.example"}),
        ]
        with client.stream("POST", "/api/analyze/stream", json={"prompt": "hi"}) as streamed:
            answers.append(streamed)
    for answer in answers:
        headers = answer.headers
        assert "frame-ancestors 'none'" in headers["content-security-policy"], answer.request.url
        assert headers["x-content-type-options"] == "nosniff" and headers["x-frame-options"] == "DENY"
        assert headers["referrer-policy"] == "no-referrer" and headers["cross-origin-resource-policy"] == "same-origin"
        assert "no-store" in headers["cache-control"]
    assert "script-src 'self' 'unsafe-inline'" in answers[0].headers["content-security-policy"]
    assert answers[1].headers["content-security-policy"].startswith("default-src 'none'")


# --- 3. analyses lost while the answer says fine ---------------------------------------------


@given(prompt=hostile_text)
@lenient
def test_an_analysis_is_stored_as_asked_or_refused_saying_so(database: str, prompt: str) -> None:
    """NUL, lone surrogates, anything: 200 with the id of a row that holds exactly what was asked
    and answered, or a 4xx that says nothing was done (and nothing was)."""
    # What a JSON client sends: an escaped surrogate *pair* is one character (RFC 8259 section 7),
    # so '\ud800\udc00' arrives as U+10000; lone surrogates stay lone. Compared as ascii() so that a
    # failure's report carries no surrogate (pytest-xdist cannot send one between processes).
    asked = json.loads(json.dumps(prompt))
    with in_process(mock_env(database)) as client:
        before = rows(database)
        answer = post(client, "/api/analyze", {"prompt": prompt})
        body = answer.json()
        if answer.status_code == 200:
            assert isinstance(body["id"], int) and body["stored"] is True, ascii(body)
            kept = client.get(f"/api/analyses/{body['id']}").json()
            assert ascii(kept["prompt"]) == ascii(asked) and kept["results"] == body["results"]
            assert body["results"][0]["error"] is None and body["results"][0]["text"].startswith("Mock answer")
        else:
            assert answer.status_code == 400 and "nothing was asked or stored" in body["error"]["message"], ascii(body)
            assert any("\ud800" <= c <= "\udfff" for c in asked), ascii(asked)
            assert rows(database) == before
        queued = post(client, "/api/analyze", {"prompt": prompt, "background": True})
        if queued.status_code == 202:
            row = client.get(f"/api/analyses/{queued.json()['id']}").json()
            assert ascii(row["prompt"]) == ascii(asked) and row["status"] == "queued"
        else:
            assert queued.status_code == 400 and answer.status_code == 400


@pytest.mark.parametrize("answer", ["NUL\x00inside", "lone \ud800 high", "lone \udfff low", "\x00", "emoji \U0001f600"])
def test_a_models_answer_with_any_text_is_stored_and_streamed_whole(database: str, answer: str) -> None:
    with provider([answer[: len(answer) // 2], answer[len(answer) // 2 :]]) as model:
        env = mock_env(
            database, ENABLE_CLOUD_LLM="true", OPENAI_API_KEY=KEYS["OPENAI_API_KEY"], OPENAI_BASE_URL=model.url
        )
        with in_process(env) as client:
            plain = client.post("/api/analyze", json={"prompt": "say it", "models": ["openai:gpt-4o-mini"]})
            assert plain.status_code == 200, plain.text
            (result,) = plain.json()["results"]
            assert result["text"] == answer and result["error"] is None
            assert client.get(f"/api/analyses/{plain.json()['id']}").json()["results"] == plain.json()["results"]
            with client.stream("POST", "/api/analyze/stream", json={"prompt": "say it"}) as streamed:
                events = events_of(streamed)
    kinds = [kind for kind, _ in events]
    assert kinds[0] == "start" and kinds[-1] == "done" and kinds.count("result") == 2, kinds
    tokens = "".join(data["text"] for kind, data in events if kind == "token" and data["provider"] == "openai")
    (streamed_result,) = [data for kind, data in events if kind == "result" and data["provider"] == "openai"]
    assert tokens == streamed_result["text"] == answer
    assert isinstance(events[-1][1]["id"], int) and events[-1][1]["stored"] is True


def test_a_database_that_is_down_is_said_not_stored(tmp_path: Path) -> None:
    down = f"postgresql://ultra:{PASSWORD}@127.0.0.1:{free_port()}/ultra"  # nothing listens there
    with in_process(mock_env(down)) as client:
        queued = client.post("/api/analyze", json={"prompt": "later", "background": True})
        assert queued.status_code == 503 and queued.json()["error"]["kind"] == "not_stored", queued.text
        assert "not queued" in queued.json()["error"]["message"]
        now = client.post("/api/analyze", json={"prompt": "now"})
        body = now.json()
        assert now.status_code == 503 and body["error"]["kind"] == "not_stored" and body["stored"] is False
        assert body["results"][0]["text"].startswith("Mock answer")  # what the models said is not lost on the way
        with client.stream("POST", "/api/analyze/stream", json={"prompt": "now"}) as streamed:
            done = events_of(streamed)[-1]
        assert done[0] == "done" and done[1]["stored"] is False and done[1]["error"]["kind"] == "not_stored"
    shown = queued.text + now.text + json.dumps(done)
    assert PASSWORD not in shown


def start_worker(env: dict[str, str], tmp_path: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "ultra_env.backend.worker"],
        cwd=REPO,
        env={**clean_environ(), **env, "WORKER_HEARTBEAT": str(tmp_path / "beat")},
        stdout=(tmp_path / "worker.log").open("wb"),
        stderr=subprocess.STDOUT,
    )


def wait_for(client: Any, ids: list[int], worker: subprocess.Popen, log: Path) -> dict[int, dict]:
    """Each analysis once it is no longer queued or running (the worker alive all along)."""
    found: dict[int, dict] = {}
    deadline = time.monotonic() + 180
    while len(found) < len(ids):
        for analysis_id in ids:
            row = client.get(f"/api/analyses/{analysis_id}").json()
            if row["status"] not in ("queued", "running"):
                found[analysis_id] = row
        assert worker.poll() is None, log.read_text(errors="replace")
        assert time.monotonic() < deadline, (found, log.read_text(errors="replace"))
        time.sleep(0.3)
    return found


def test_the_worker_survives_a_bad_job_and_takes_over_a_dead_workers(database: str, tmp_path: Path) -> None:
    env = mock_env(database, ANALYZE_TIMEOUT_S="5")
    with in_process(env) as client:
        nul = post(client, "/api/analyze", {"prompt": "NUL\x00here", "background": True})
        assert nul.status_code == 202 and isinstance(nul.json()["id"], int), nul.text
        poison = client.post("/api/analyze", json={"prompt": "poison: refuse my answers", "background": True}).json()
        # A database that refuses one job's answers (a trigger here; a constraint, a full disk elsewhere).
        sql(
            database,
            "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "IF NEW.status = 'done' AND NEW.prompt::text IN ('poison: refuse my answers', "
            "'\"poison: refuse my answers\"') THEN RAISE EXCEPTION 'refused'; END IF; RETURN NEW; END $$; "
            "CREATE TRIGGER refuse BEFORE UPDATE ON analyses FOR EACH ROW EXECUTE FUNCTION refuse()",
        )
        # A job a worker took and then died on (killed, the machine rebooted): running for a day.
        orphan = client.post("/api/analyze", json={"prompt": "orphaned", "background": True}).json()
        sql(
            database,
            "UPDATE analyses SET status = 'running', created_at = now() - interval '1 day' WHERE id = %s",
            (orphan["id"],),
        )
        # One that killed every worker that took it: taken three times already, never finished.
        killer = client.post("/api/analyze", json={"prompt": "kills workers", "background": True}).json()
        sql(
            database,
            "UPDATE analyses SET status = 'running', attempts = 3, created_at = now() - interval '1 day' WHERE id = %s",
            (killer["id"],),
        )
        # A row another program queued that is not an analysis (its prompt is no text).
        (alien,) = sql(
            database,
            "INSERT INTO analyses (profile, prompt, models, max_tokens, status) "
            "VALUES ('mock', '123', '[\"mock:mock-echo\"]', 8, 'queued') RETURNING id",
        )[0]
        after = client.post("/api/analyze", json={"prompt": "after them", "background": True}).json()
        worker = start_worker(env, tmp_path)
        try:
            ids = [nul.json()["id"], poison["id"], orphan["id"], after["id"], killer["id"], alien]
            found = wait_for(client, ids, worker, tmp_path / "worker.log")
        finally:
            worker.terminate()
            worker.wait(30)
    assert found[ids[0]]["status"] == "done" and found[ids[0]]["results"][0]["text"] == "Mock answer to: NUL\x00here"
    assert found[ids[1]]["status"] == "failed" and found[ids[1]]["results"][0]["error"]["kind"] == "not_stored"
    assert found[ids[2]]["status"] == "done" and found[ids[3]]["status"] == "done"
    assert found[ids[4]]["status"] == "failed" and found[ids[4]]["results"][0]["error"]["kind"] == "worker_died"
    assert found[ids[5]]["status"] == "failed" and found[ids[5]]["results"][0]["error"]["kind"] == "internal"
    shown = (tmp_path / "worker.log").read_text(errors="replace")
    assert "Traceback" not in shown and PASSWORD not in shown and worker.returncode == 0


# --- 4. starved or bloated ----------------------------------------------------------------------


def test_health_answers_while_slow_streams_hold_every_analysis(database: str, tmp_path: Path) -> None:
    """45 clients stream from a provider that does not answer: at most ANALYZE_CONCURRENCY of them
    run (the others are told busy at once), and health answers while they all still hang."""
    with Listener(hang_s=3600) as slow:
        env = mock_env(
            database,
            ENABLE_CLOUD_LLM="true",
            OPENAI_API_KEY=KEYS["OPENAI_API_KEY"],
            OPENAI_BASE_URL=f"{slow.url}/v1",
            ANALYZE_TIMEOUT_S="3600",
            ANALYZE_CONCURRENCY="4",
        )
        with serving(env, tmp_path / "log") as (url, _, _process), contextlib.ExitStack() as streams:
            clients = [streams.enter_context(httpx.Client(timeout=httpx.Timeout(600))) for _ in range(45)]
            opened: dict[int, httpx.Response] = {}

            def one(index: int) -> None:
                request = clients[index].stream(
                    "POST",
                    f"{url}/api/analyze/stream",
                    json={"prompt": f"slow {index}", "models": ["openai:gpt-4o-mini"]},
                )
                opened[index] = streams.enter_context(request)

            threads = [threading.Thread(target=one, args=(i,)) for i in range(45)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            statuses = sorted(r.status_code for r in opened.values())
            # the failure bound of a health check that hangs behind the streams (it answers in seconds)
            health = httpx.get(f"{url}/api/health", timeout=120)
            still_held = len(slow.seen) - sum(1 for s in slow.seen if s.method == "GET")
            busy = [r for r in opened.values() if r.status_code == 503]
            kinds = {json.loads(r.read())["error"]["kind"] for r in busy}
    assert statuses == [200] * 4 + [503] * 41, statuses
    assert kinds == {"busy"}
    assert health.status_code == 200 and health.json()["status"] == "ok", health.text
    assert still_held >= 4, "the running streams were still waiting on their provider when health answered"


def raw_request(port: int, head: bytes, body: bytes, *, then_wait: bool = True) -> bytes:
    """Sends ``head`` and ``body`` and, without ending the body, reads the answer (up to 60 s: the
    failure bound of a server that waits for a body it should have refused)."""
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.sendall(head)
        with contextlib.suppress(OSError):  # the server may answer, and close, before taking it all
            sock.sendall(body)
        answer = b""
        with contextlib.suppress(OSError):
            while b"\r\n\r\n" not in answer:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                answer += chunk
    return answer


def test_a_body_over_the_limit_is_refused_before_it_is_read(database: str, tmp_path: Path) -> None:
    with serving(mock_env(database), tmp_path / "log") as (_, port, _process):
        before = rows(database)
        host = f"Host: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n".encode()
        announced = raw_request(
            port, b"POST /api/analyze HTTP/1.1\r\n" + host + b"Content-Length: 8000000000\r\n\r\n", b'{"prompt": "'
        )
        assert announced.startswith(b"HTTP/1.1 413"), announced[:200]
        chunk = b"x" * (300 * 1024)
        streamed = raw_request(
            port,
            b"POST /api/analyze/stream HTTP/1.1\r\n" + host + b"Transfer-Encoding: chunked\r\n\r\n",
            b'c\r\n{"prompt": "\r\n' + f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n",  # and never a last chunk
        )
        assert streamed.startswith(b"HTTP/1.1 413"), streamed[:200]
        assert rows(database) == before


# --- 7. tracebacks and a key in pieces ----------------------------------------------------------


def test_json_nested_deeper_than_python_reads_is_a_400(database: str) -> None:
    with in_process(mock_env(database)) as client:
        for body in (b"[" * 100_000 + b"]" * 100_000, b'{"prompt": ' + b"[" * 100_000, b'{"a":' * 50_000 + b"1"):
            for route in ("/api/analyze", "/api/analyze/stream"):
                answer = client.post(route, content=body, headers={"Content-Type": "application/json"})
                assert answer.status_code == 400 and answer.json()["error"]["kind"] == "bad_json", answer.text[:200]


@given(
    value=st.one_of(
        st.text(max_size=12), st.from_regex(r"\s*[0-9]{1,5}(\.[0-9]{0,3})?\s*(ms|s|m|min)?\s*", fullmatch=True)
    )
)
@settings(max_examples=300, deadline=None)
def test_any_timeout_setting_is_a_number_of_seconds_or_a_refusal_naming_it(value: str) -> None:
    from ultra_env.backend.settings import from_env

    try:
        config = from_env({"ANALYZE_TIMEOUT_S": value})
    except ValueError as exc:  # settings.SettingError: which variable, and what it takes
        assert "ANALYZE_TIMEOUT_S" in str(exc) and "e.g." in str(exc)
    else:
        assert 0 < config.timeout_s <= 3600


def test_a_timeout_with_its_unit_starts_the_backend_and_a_bad_one_says_which(database: str, tmp_path: Path) -> None:
    from ultra_env.backend.settings import from_env

    assert from_env({"ANALYZE_TIMEOUT_S": "60s"}).timeout_s == 60
    assert from_env({"ANALYZE_TIMEOUT_S": "1.5"}).timeout_s == 1.5
    with serving(mock_env(database, ANALYZE_TIMEOUT_S="60s"), tmp_path / "log") as (url, _, _process):
        assert httpx.post(f"{url}/api/analyze", json={"prompt": "hi"}, timeout=60).status_code == 200
    refused = subprocess.run(
        [sys.executable, "-m", "ultra_env.backend"],
        cwd=REPO,
        env={**clean_environ(), **mock_env(database, ANALYZE_TIMEOUT_S="a minute", PORT=str(free_port()))},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert refused.returncode == 2 and "Traceback" not in refused.stderr, refused.stderr
    assert refused.stderr.strip().splitlines() == [
        "backend: ANALYZE_TIMEOUT_S='a minute' is not a duration: give seconds above 0 and at most 3600 "
        "(e.g. ANALYZE_TIMEOUT_S=60 or ANALYZE_TIMEOUT_S=60s)"
    ]


def test_a_key_streamed_in_pieces_never_shows_in_the_token_events(database: str) -> None:
    key = KEYS["OPENAI_API_KEY"]
    pieces = ["Your key: ", key[:3], key[3:9], key[9:-2], key[-2:] + ". And again: " + key[:5], key[5:], " done"]
    with provider(pieces) as model:
        env = mock_env(database, ENABLE_CLOUD_LLM="true", OPENAI_API_KEY=key, OPENAI_BASE_URL=model.url)
        with (
            in_process(env) as client,
            client.stream(
                "POST", "/api/analyze/stream", json={"prompt": "leak it", "models": ["openai:gpt-4o-mini"]}
            ) as streamed,
        ):
            events = events_of(streamed)
    tokens = [data["text"] for kind, data in events if kind == "token"]
    (result,) = [data for kind, data in events if kind == "result"]
    assert "".join(tokens) == result["text"] == "Your key: ***. And again: *** done"
    shown = json.dumps(events, ensure_ascii=False)
    assert key not in shown and key[:9] not in shown and key[-9:] not in shown


@given(
    secrets=st.lists(st.text(alphabet="abk-", min_size=2, max_size=6), min_size=1, max_size=3),
    text=st.text(alphabet="abk-x", max_size=40),
    cuts=st.lists(st.integers(0, 40), max_size=8),
)
@settings(max_examples=500, deadline=None)
def test_masking_a_stream_is_masking_the_whole_text(secrets: list[str], text: str, cuts: list[int]) -> None:
    """Whatever the secrets (overlapping, one inside another) and wherever the pieces are cut:
    the pieces masked and joined are the whole text masked, which shows no secret."""
    from ultra_env.backend.redaction import Redactor

    redact = Redactor(secrets)
    bounds = sorted({0, len(text), *(c for c in cuts if c <= len(text))})
    mask = redact.stream()
    shown = [mask.feed(text[a:b]) for a, b in zip(bounds, bounds[1:], strict=False)] + [mask.end()]
    assert "".join(shown) == redact(text)
    assert not [secret for secret in secrets if secret in redact(text)]


def test_health_answers_while_reads_wait_on_a_database_that_hangs(tmp_path: Path) -> None:
    """A database that accepts connections and never answers (a hung server, a half-open
    network): 45 clients read the analyses, each waiting on it; health still answers, 503."""
    with socket.socket() as hung:
        hung.bind(("127.0.0.1", 0))
        hung.listen(512)  # the kernel completes the handshakes; nothing ever answers
        down = f"postgresql://ultra:{PASSWORD}@127.0.0.1:{hung.getsockname()[1]}/ultra"
        with serving(mock_env(down), tmp_path / "log") as (url, _, process):
            answered: list[int] = []

            def read() -> None:
                with contextlib.suppress(httpx.HTTPError):
                    answered.append(httpx.get(f"{url}/api/analyses", timeout=600).status_code)

            readers = [threading.Thread(target=read, daemon=True) for _ in range(45)]
            for reader in readers:
                reader.start()
            # the failure bound of a health check that waits behind the reads (it answers within its
            # own connection's timeouts)
            health = httpx.get(f"{url}/api/health", timeout=120)
            waiting = 45 - len(answered)
            hung.close()  # the database goes away: the waiting reads fail at once and the backend can stop
    assert health.status_code == 503 and health.json()["database"]["ok"] is False, health.text
    assert waiting > 0, "reads were still waiting on the database when health answered"
    assert process.returncode != -signal.SIGKILL, "the backend did not stop on SIGTERM once the database was gone"
