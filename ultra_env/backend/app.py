"""The backend's HTTP API and its page.

- ``GET /api/health``: profile, each enabled provider (reachable, model, probe latency), database,
  cache; 200 when every required one answers, 503 with the reasons otherwise.
- ``GET /api/available-models``: every enabled model with its provider.
- ``POST /api/analyze`` ``{"prompt", "models"?, "max_tokens"?, "background"?}``: every requested
  model at once, one entry each (a failing model in its own entry); ``background`` queues it for
  the worker instead (202).
- ``POST /api/analyze/stream``: the same as server-sent events, each tagged with its model.
- ``GET /api/analyses`` and ``/api/analyses/{id}``: what was asked and answered, from PostgreSQL.
- ``GET /``: a page to type a prompt and watch the answers arrive side by side.

Every error is JSON ``{"error": {"kind", "message"}}`` with a 4xx or 5xx, never a traceback, and
nothing the backend sends or logs shows a key: every response passes through the redactor. JSON
goes out as ASCII (every non-ASCII character escaped), so any string, a lone surrogate included,
can be sent. Every analysis is stored, or its answer says it was not (``stored``, and a 503 when
the database failed it). ``guard`` decides who may call at all; at most ``ANALYZE_CONCURRENCY``
analyses run at once, on threads of their own, so health and the page answer whatever they do.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import os
import threading
from collections.abc import AsyncIterator, Mapping
from importlib import resources
from typing import Any

import anyio
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.exceptions import HTTPException

from ultra_env.backend import analysis
from ultra_env.backend.guard import Guard
from ultra_env.backend.probes import Health
from ultra_env.backend.redaction import Redact, Redactor
from ultra_env.backend.settings import BackendConfig, from_env
from ultra_env.backend.store import Store, StoreError
from ultra_env.backend.targets import select, targets
from ultra_env.llm.providers.registry import Target

MAX_BODY = 256 * 1024
MAX_MODELS = 32
LOG = logging.getLogger("ultra_env.backend")


class BadRequest(Exception):
    def __init__(self, status: int, kind: str, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.kind, self.message, self.headers = status, kind, message, headers


class Json(JSONResponse):
    """JSON as ASCII: a lone surrogate or a NUL in a model's answer is escaped like any other character."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=True, allow_nan=False, separators=(",", ":")).encode("ascii")


def _tree(value: Any, redact: Redact) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: _tree(v, redact) for k, v in value.items()}
    if isinstance(value, list):
        return [_tree(v, redact) for v in value]
    return value


def not_text_at(text: str) -> int | None:
    """Where ``text`` holds a lone surrogate (no UTF-8 can carry it to a model), or None."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return exc.start
    return None


async def read_body(request: Request) -> bytes:
    """The body of a request that acts: JSON only (what no other site's page can send without a
    preflight), at most MAX_BODY bytes, refused as soon as it says or shows it is larger."""
    media = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media != "application/json":
        raise BadRequest(415, "unsupported_media_type", 'send JSON with "Content-Type: application/json"')
    declared = request.headers.get("content-length", "").strip()
    too_large = BadRequest(413, "too_large", f"the request is over {MAX_BODY // 1024} KiB")
    if declared.isdigit() and int(declared) > MAX_BODY:
        raise too_large
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


def parse_request(body: bytes, config: BackendConfig, available: list[Target]) -> tuple[str, list[Target], int, bool]:
    """The analysis a request body asks for, or BadRequest saying what is wrong with it."""
    if len(body) > MAX_BODY:
        raise BadRequest(413, "too_large", f"the request is over {MAX_BODY // 1024} KiB")
    try:
        data = json.loads(body or b"null")
    except (ValueError, UnicodeDecodeError):
        raise BadRequest(400, "bad_json", 'the body is not JSON: send {"prompt": "..."}') from None
    except RecursionError:
        raise BadRequest(400, "bad_json", "the body is JSON nested too deeply to read") from None
    if not isinstance(data, dict):
        raise BadRequest(400, "bad_request", 'the body must be a JSON object: {"prompt": "..."}')
    unknown_fields = sorted(set(data) - {"prompt", "models", "max_tokens", "background"})
    if unknown_fields:
        raise BadRequest(400, "bad_request", f"unknown fields: {', '.join(unknown_fields)[:200]}")
    prompt = data.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise BadRequest(400, "empty_prompt", "prompt must be a non-empty string")
    bad = not_text_at(prompt)
    if bad is not None:
        raise BadRequest(
            400,
            "bad_request",
            f"the prompt holds a lone surrogate (U+{ord(prompt[bad]):04X} at character {bad}), which is not "
            "text a model can be sent: nothing was asked or stored",
        )
    if len(prompt) > config.max_prompt_chars:
        raise BadRequest(
            413, "too_large", f"the prompt has {len(prompt)} characters; at most {config.max_prompt_chars} are taken"
        )
    models = data.get("models")
    if models is not None and (
        not isinstance(models, list) or not all(isinstance(m, str) for m in models) or len(models) > MAX_MODELS
    ):
        raise BadRequest(400, "bad_request", f"models must be a list of at most {MAX_MODELS} model names")
    max_tokens = data.get("max_tokens", config.max_tokens)
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or not 1 <= max_tokens <= 4096:
        raise BadRequest(400, "bad_request", "max_tokens must be a whole number from 1 to 4096")
    background = data.get("background", False)
    if not isinstance(background, bool):
        raise BadRequest(400, "bad_request", "background must be true or false")
    chosen, unknown = select(available, models)
    if unknown:
        names = ", ".join(t.label for t in available) or "none"
        raise BadRequest(400, "unknown_model", f"unknown model {unknown[0][:100]!r}; available: {names}")
    if not chosen:
        raise BadRequest(409, "no_models", f"no model is enabled in the {config.profile} profile")
    return prompt, chosen, max_tokens, background


class Backend(FastAPI):
    """FastAPI with the guard around everything, the error middleware included (so a 500 carries
    the headers too, and its exception is not logged again, unredacted, by the server)."""

    guard_config: BackendConfig | None = None

    def build_middleware_stack(self) -> Any:
        inner = super().build_middleware_stack()
        return inner if self.guard_config is None else Guard(inner, self.guard_config)


def create_app(environ: Mapping[str, str] | None = None) -> FastAPI:
    """The app; ``settings.SettingError`` when a variable of ``environ`` cannot be used."""
    config = from_env(os.environ if environ is None else environ)
    redact = Redactor(config.secrets)
    available = targets(config)
    store = Store(config.database_url) if config.database_url else None
    # Health has a connection of its own and threads of its own: no number of analyses, reads or
    # a database that hangs them takes the answer to /api/health away.
    health_store = Store(config.database_url) if config.database_url else None
    health = Health(available, config.required, health_store, config.redis_url)
    health_limiter = anyio.CapacityLimiter(4)
    slots = threading.BoundedSemaphore(config.concurrency)  # analyses running, stream or not
    limiter = anyio.CapacityLimiter(config.concurrency)  # their threads: never the pool health runs on

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if store is not None:
            try:
                store.ping()  # connects, and so creates the table
            except StoreError as exc:
                LOG.warning("database: %s (analyses are not stored until it answers)", redact(str(exc)))
        yield
        for one in (store, health_store):
            if one is not None:
                one.close()

    app = Backend(
        title="Ultra (ultra-env's backend)", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan
    )
    app.guard_config = config
    if config.allowed_origins:
        from starlette.middleware.cors import CORSMiddleware

        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(config.allowed_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["Content-Type"],
        )

    def send(value: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> JSONResponse:
        return Json(_tree(value, redact), status_code=status, headers=headers)

    def error(status: int, kind: str, message: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
        return send({"error": {"kind": kind, "message": message}}, status, headers)

    @app.exception_handler(BadRequest)
    def bad_request(_: Request, exc: BadRequest) -> JSONResponse:
        return error(exc.status, exc.kind, exc.message, exc.headers)

    @app.exception_handler(HTTPException)
    def http_error(_: Request, exc: HTTPException) -> JSONResponse:
        kind = "not_found" if exc.status_code == 404 else "method_not_allowed" if exc.status_code == 405 else "http"
        return error(exc.status_code, kind, str(exc.detail))

    @app.exception_handler(RequestValidationError)
    def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return error(400, "bad_request", "the request does not fit this route")

    @app.exception_handler(Exception)
    def crashed(_: Request, exc: Exception) -> JSONResponse:
        LOG.error("internal error: %s", redact(f"{type(exc).__name__}: {exc}"))
        return error(500, "internal", "the backend failed on this request; its log has the details")

    @app.get("/api/health")
    async def get_health() -> JSONResponse:
        healthy, body = await anyio.to_thread.run_sync(health.report, config.profile, limiter=health_limiter)
        return send(body, 200 if healthy else 503)

    @app.get("/api/available-models")
    def available_models() -> JSONResponse:
        return send(
            {
                "profile": config.profile,
                "models": [{"id": t.label, "provider": t.provider.name, "model": t.model} for t in available],
            }
        )

    def keep(
        prompt: str, chosen: list[Target], max_tokens: int, results: list[dict] | None, status: str = "done"
    ) -> tuple[int | None, dict[str, str] | None]:
        """The stored analysis's id, or why it was not stored (None, None: no database is configured)."""
        if store is None:
            return None, None
        try:
            return store.save(
                config.profile, redact(prompt), [t.label for t in chosen], max_tokens, results, status=status
            ), None
        except StoreError as exc:
            LOG.warning("analysis not stored: %s", redact(str(exc)))
            return None, {"kind": "not_stored", "message": f"the analysis was not stored: {exc}"}

    def busy() -> BadRequest:
        return BadRequest(
            503,
            "busy",
            f"{config.concurrency} analyses are running, the most this backend runs at once "
            "(ANALYZE_CONCURRENCY): nothing was asked or stored; try again when one is done",
            {"Retry-After": "1"},
        )

    @app.post("/api/analyze")
    async def analyze(request: Request) -> JSONResponse:
        prompt, chosen, max_tokens, background = parse_request(await read_body(request), config, available)
        if background and store is None:
            raise BadRequest(409, "no_database", "background analyses need the database (DATABASE_URL)")
        if not slots.acquire(blocking=False):
            raise busy()
        if background:
            try:
                queued, problem = await anyio.to_thread.run_sync(
                    keep, prompt, chosen, max_tokens, None, "queued", limiter=limiter
                )
            finally:
                slots.release()
            if problem is not None:
                return error(503, "not_stored", f"the analysis was not queued: {problem['message']}")
            return send({"id": queued, "status": "queued"}, 202)
        try:
            results = await anyio.to_thread.run_sync(
                functools.partial(
                    analysis.run, chosen, prompt, max_tokens=max_tokens, timeout=config.timeout_s, redact=redact
                ),
                limiter=limiter,
            )
            stored, problem = await anyio.to_thread.run_sync(keep, prompt, chosen, max_tokens, results, limiter=limiter)
        finally:
            slots.release()
        answer = {"id": stored, "stored": stored is not None, "prompt": prompt, "results": results}
        if problem is not None:  # the models answered: their answers go back, with the error that says so
            return send({**answer, "error": {"kind": problem["kind"], "message": problem["message"]}}, 503)
        return send(answer)

    @app.post("/api/analyze/stream")
    async def analyze_stream(request: Request) -> StreamingResponse:
        prompt, chosen, max_tokens, _ = parse_request(await read_body(request), config, available)
        if not slots.acquire(blocking=False):
            raise busy()
        loop = asyncio.get_running_loop()
        events: asyncio.Queue[tuple[str, dict[str, Any]] | None] = asyncio.Queue()

        def emit(item: tuple[str, dict[str, Any]] | None) -> None:
            with contextlib.suppress(RuntimeError):  # the loop is gone: the server is stopping
                loop.call_soon_threadsafe(events.put_nowait, item)

        def work() -> None:
            """The analysis, on a thread of its own (not the pool health answers on): its events
            go to the response as they come, and it holds its slot until its models are done."""
            results: dict[str, dict] = {}

            def collect(kind: str, data: dict[str, Any]) -> None:
                if kind == "result":
                    results[data["id"]] = {k: v for k, v in data.items() if k != "id"}
                emit((kind, data))

            try:
                analysis.stream(
                    chosen, prompt, max_tokens=max_tokens, timeout=config.timeout_s, redact=redact, emit=collect
                )
                stored, problem = keep(prompt, chosen, max_tokens, [results[t.label] for t in chosen])
                emit(("done", {"id": stored, "stored": stored is not None, "error": problem}))
            except Exception as exc:
                LOG.error("internal error in a stream: %s", redact(f"{type(exc).__name__}: {exc}"))
                message = "the backend failed on this analysis; nothing was stored; its log has the details"
                emit(("done", {"id": None, "stored": False, "error": {"kind": "internal", "message": message}}))
            finally:
                slots.release()
                emit(None)

        start = {
            "prompt": prompt,
            "models": [{"id": t.label, "provider": t.provider.name, "model": t.model} for t in chosen],
        }
        threading.Thread(target=work, name="analysis-stream", daemon=True).start()

        async def stream() -> AsyncIterator[str]:
            yield sse("start", start)
            while (item := await events.get()) is not None:
                yield sse(*item)

        def sse(event: str, data: Any) -> str:
            return f"event: {event}\ndata: {json.dumps(_tree(data, redact), ensure_ascii=True)}\n\n"

        return StreamingResponse(stream(), media_type="text/event-stream")

    @app.get("/api/analyses")
    def analyses(limit: int = 20) -> JSONResponse:
        if store is None:
            raise BadRequest(409, "no_database", "no database is configured (DATABASE_URL)")
        try:
            return send({"analyses": store.recent(max(1, min(limit, 200)))})
        except StoreError as exc:
            return error(503, "database", str(exc))

    @app.get("/api/analyses/{analysis_id}")
    def one_analysis(analysis_id: int) -> JSONResponse:
        if store is None:
            raise BadRequest(409, "no_database", "no database is configured (DATABASE_URL)")
        try:
            found = store.get(analysis_id)
        except StoreError as exc:
            return error(503, "database", str(exc))
        return send(found) if found is not None else error(404, "not_found", f"no analysis {analysis_id}")

    @app.get("/", response_class=HTMLResponse)
    def page() -> Response:
        html = resources.files("ultra_env.backend").joinpath("page.html").read_text(encoding="utf-8")
        return HTMLResponse(html)  # its Content-Security-Policy comes from the guard

    return app
