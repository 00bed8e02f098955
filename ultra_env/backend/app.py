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
nothing the backend sends or logs shows a key: every response passes through the redactor.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from importlib import resources
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.exceptions import HTTPException

from ultra_env.backend import analysis
from ultra_env.backend.probes import Health
from ultra_env.backend.settings import BackendConfig, from_env
from ultra_env.backend.store import Store, StoreError
from ultra_env.backend.targets import select, targets
from ultra_env.llm.providers.registry import Target

MAX_BODY = 256 * 1024
MAX_MODELS = 32
LOG = logging.getLogger("ultra_env.backend")


class BadRequest(Exception):
    def __init__(self, status: int, kind: str, message: str) -> None:
        super().__init__(message)
        self.status, self.kind, self.message = status, kind, message


def redactor(secrets: tuple[str, ...]) -> Callable[[str], str]:
    def redact(text: str) -> str:
        for secret in secrets:
            if secret in text:
                text = text.replace(secret, "***")
        return text

    return redact


def _tree(value: Any, redact: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: _tree(v, redact) for k, v in value.items()}
    if isinstance(value, list):
        return [_tree(v, redact) for v in value]
    return value


def parse_request(body: bytes, config: BackendConfig, available: list[Target]) -> tuple[str, list[Target], int, bool]:
    """The analysis a request body asks for, or BadRequest saying what is wrong with it."""
    if len(body) > MAX_BODY:
        raise BadRequest(413, "too_large", f"the request is over {MAX_BODY // 1024} KiB")
    try:
        data = json.loads(body or b"null")
    except (ValueError, UnicodeDecodeError):
        raise BadRequest(400, "bad_json", 'the body is not JSON: send {"prompt": "..."}') from None
    if not isinstance(data, dict):
        raise BadRequest(400, "bad_request", 'the body must be a JSON object: {"prompt": "..."}')
    unknown_fields = sorted(set(data) - {"prompt", "models", "max_tokens", "background"})
    if unknown_fields:
        raise BadRequest(400, "bad_request", f"unknown fields: {', '.join(unknown_fields)[:200]}")
    prompt = data.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise BadRequest(400, "empty_prompt", "prompt must be a non-empty string")
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


def create_app(environ: Mapping[str, str] | None = None) -> FastAPI:
    config = from_env(os.environ if environ is None else environ)
    redact = redactor(config.secrets)
    available = targets(config)
    store = Store(config.database_url) if config.database_url else None
    health = Health(available, config.required, store, config.redis_url)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if store is not None:
            try:
                store.ping()  # connects, and so creates the table
            except StoreError as exc:
                LOG.warning("database: %s (analyses are not stored until it answers)", redact(str(exc)))
        yield

    app = FastAPI(
        title="Ultra (ultra-env's backend)", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan
    )

    def send(value: Any, status: int = 200) -> JSONResponse:
        return JSONResponse(_tree(value, redact), status_code=status)

    def error(status: int, kind: str, message: str) -> JSONResponse:
        return send({"error": {"kind": kind, "message": message}}, status)

    @app.exception_handler(BadRequest)
    def bad_request(_: Request, exc: BadRequest) -> JSONResponse:
        return error(exc.status, exc.kind, exc.message)

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
    def get_health() -> JSONResponse:
        healthy, body = health.report(config.profile)
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
    ) -> int | None:
        if store is None:
            return None
        try:
            return store.save(
                config.profile, redact(prompt), [t.label for t in chosen], max_tokens, results, status=status
            )
        except StoreError as exc:
            LOG.warning("analysis not stored: %s", redact(str(exc)))
            return None

    @app.post("/api/analyze")
    async def analyze(request: Request) -> JSONResponse:
        from starlette.concurrency import run_in_threadpool

        prompt, chosen, max_tokens, background = parse_request(await request.body(), config, available)
        if background:
            if store is None:
                raise BadRequest(409, "no_database", "background analyses need the database (DATABASE_URL)")
            queued = await run_in_threadpool(keep, prompt, chosen, max_tokens, None, "queued")
            return send({"id": queued, "status": "queued"}, 202)
        results = await run_in_threadpool(
            analysis.run, chosen, prompt, max_tokens=max_tokens, timeout=config.timeout_s, redact=redact
        )
        stored = await run_in_threadpool(keep, prompt, chosen, max_tokens, results)
        return send({"id": stored, "prompt": prompt, "results": results})

    @app.post("/api/analyze/stream")
    async def analyze_stream(request: Request) -> StreamingResponse:
        prompt, chosen, max_tokens, _ = parse_request(await request.body(), config, available)

        def events() -> Iterator[str]:
            yield sse(
                "start",
                {
                    "prompt": prompt,
                    "models": [{"id": t.label, "provider": t.provider.name, "model": t.model} for t in chosen],
                },
            )
            results: dict[str, dict] = {}
            for kind, data in analysis.stream(
                chosen, prompt, max_tokens=max_tokens, timeout=config.timeout_s, redact=redact
            ):
                if kind == "result":
                    results[data["id"]] = {k: v for k, v in data.items() if k != "id"}
                yield sse(kind, data)
            ordered = [results[t.label] for t in chosen]
            yield sse("done", {"id": keep(prompt, chosen, max_tokens, ordered)})

        def sse(event: str, data: Any) -> str:
            return f"event: {event}\ndata: {json.dumps(_tree(data, redact), ensure_ascii=False)}\n\n"

        return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})

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
        return HTMLResponse(
            html,
            headers={
                "Content-Security-Policy": "default-src 'self'; style-src 'self' "
                "'unsafe-inline'; script-src 'self' 'unsafe-inline'"
            },
        )

    return app
