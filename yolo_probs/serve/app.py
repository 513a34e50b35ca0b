"""The HTTP app of ``yolo-probs serve``: FastAPI routes around a :class:`~yolo_probs.serve.server.Server`.

Endpoints: ``POST /predict`` (images as multipart ``file`` fields, or one image as the raw body with
an ``image/*`` content type; query ``top_k`` and ``min_prob``), ``GET /health`` (the process answers),
``GET /ready`` (the model is loaded and warmed), ``GET /metrics`` (Prometheus text) and the OpenAPI
page at ``/docs``. Every answer other than 200 is JSON ``{"error": "...", "kind": "..."}``.

Limits are enforced before work is done: the API key (``Authorization: Bearer KEY``, compared in
constant time, on every endpoint but ``/health``), the body size (413, from ``Content-Length`` before
the body is read, and while it is read), the time to receive the body (408: a slow client cannot hold
a connection forever) and to answer (504), the number of images (400), and the pixels an image may
claim (:data:`~yolo_probs.inputs.sources.MAX_IMAGE_PIXELS`). The server never fetches a URL: it only
classifies the bytes it is sent.

FastAPI is used for its OpenAPI page, its request validation and its test client; uvicorn runs it.
Dedicated model servers (LitServe, BentoML, Triton) bring their own batching and process model;
yolo-probs batches itself (:mod:`yolo_probs.serve.batcher`), so a plain ASGI app is all it needs.

Example:
    >>> from fastapi.testclient import TestClient
    >>> app = create_app(ServeSettings(model="examples/models/digits-yolo26n-cls.pt", model_options={"device": "cpu"}))
    >>> with TestClient(app) as client:
    ...     _ = app.state.server.wait_ready(120)
    ...     with open("examples/images/digit_7.png", "rb") as f:
    ...         answer = client.post("/predict?top_k=2", files={"file": ("digit_7.png", f, "image/png")})
    >>> answer.status_code, answer.json()[0]["top"][0]["name"], len(answer.json()[0]["top"])
    (200, '7', 2)
"""

# No "from __future__ import annotations": FastAPI reads the routes' annotations (Request, Query) at runtime.
import asyncio
import contextlib
import hmac
import importlib.metadata
import signal
import threading
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

from yolo_probs.errors import printable
from yolo_probs.serve.server import ApiError, Server
from yolo_probs.serve.settings import ServeSettings

if TYPE_CHECKING:
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse

    from yolo_probs.api.model import YoloProbs

__all__ = ["ENDPOINTS", "create_app"]

#: The endpoints, as the metrics label them (anything else is ``other``).
ENDPOINTS = ("/predict", "/health", "/ready", "/metrics", "/docs", "/openapi.json")
_OPEN = frozenset({"/health"})  # answered without the API key
_RAW_TYPES = ("image/", "application/octet-stream")

_PREDICT_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "properties": {"file": {"type": "array", "items": {"type": "string", "format": "binary"}}},
                "required": ["file"],
            }
        },
        "image/*": {"schema": {"type": "string", "format": "binary"}},
    },
}


def create_app(
    settings: ServeSettings | None = None,
    *,
    classifier: "YoloProbs | None" = None,
    reload_on_sighup: bool = False,
) -> "FastAPI":
    """The FastAPI app serving ``settings``' model; its :class:`Server` is ``app.state.server``.

    The model loads and warms in a thread when the app starts (``/health`` answers meanwhile,
    ``/ready`` once it is done); ``classifier`` serves an already loaded one instead. With
    ``reload_on_sighup`` (the CLI; the main thread only) SIGHUP reloads the model.
    """
    from fastapi import FastAPI, Query, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse, Response
    from starlette.exceptions import HTTPException

    settings = settings or ServeSettings()
    server = Server(settings, classifier)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        starting = loop.run_in_executor(None, server.start)
        if reload_on_sighup:
            loop.add_signal_handler(signal.SIGHUP, _reload_in_thread, server)
        try:
            yield
        finally:  # uvicorn has finished the requests in flight
            if reload_on_sighup:
                loop.remove_signal_handler(signal.SIGHUP)
            await starting
            await loop.run_in_executor(None, server.stop)

    app = FastAPI(
        title="yolo-probs",
        version=_version(),
        description="Calibrated class probabilities and decisions (unknown inputs, conformal sets) over HTTP.",
        lifespan=lifespan,
    )
    app.state.server = server

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return _error(server, exc)

    @app.exception_handler(HTTPException)
    async def _http_error(request: Request, exc: HTTPException) -> JSONResponse:
        kind = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        detail = f"no endpoint {printable(request.url.path)!r}; see /docs" if exc.status_code == 404 else exc.detail
        return _error(server, ApiError(exc.status_code, kind, str(detail)))

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception) -> JSONResponse:
        # uvicorn logs the traceback; the client gets JSON like every other error
        return _error(server, ApiError(500, "internal", f"internal error ({type(exc).__name__}); see the server's log"))

    @app.exception_handler(RequestValidationError)
    async def _bad_parameter(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(x) for x in first.get("loc", ()) if x != "query")
        return _error(server, ApiError(400, "bad_parameter", f"{where}: {first.get('msg', 'invalid')}"))

    @app.get("/health", summary="The process answers (no API key needed)")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/ready", summary="The model is loaded and warmed (503 until then)")
    async def ready() -> JSONResponse:
        return JSONResponse(server.describe(), status_code=200 if server.ready else 503)

    @app.get("/metrics", summary="Prometheus metrics")
    async def metrics() -> Response:
        body, content_type = server.metrics.render()
        return Response(body, media_type=content_type)

    @app.post("/predict", summary="Classify images", openapi_extra={"requestBody": _PREDICT_BODY})
    async def predict(
        request: Request,
        top_k: int | None = Query(None, ge=1, description="Classes kept per image (default: the model's)."),
        min_prob: float | None = Query(None, ge=0, le=1, description="Drop classes below this probability."),
        source: str | None = Query(None, max_length=1000, description="A raw body's name in its record."),
    ) -> JSONResponse:
        """One record per image, in order, as ``yolo-probs predict -f json`` writes them; an image that
        cannot be used gets ``{"source", "error"}`` in its place (422 when no image can be used)."""
        deadline = time.monotonic() + settings.timeout_s
        images = await _images(request, settings, deadline, source)
        left = max(0.001, deadline - time.monotonic())  # one deadline for the body and the answer
        records = await server.predict(images, top_k=top_k, min_prob=min_prob, timeout=left)
        return JSONResponse(records)

    app.add_middleware(_Guard, server=server, settings=settings)
    return app


def _version() -> str:
    try:
        return importlib.metadata.version("yolo-probs")
    except importlib.metadata.PackageNotFoundError:  # run from a source tree that is not installed
        return "0+unknown"


def _error(server: Server, exc: ApiError) -> "JSONResponse":
    from fastapi.responses import JSONResponse

    if exc.kind != "bad_image":  # failed images are counted per image by Server.predict
        server.metrics.observe_error(exc.kind)
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
    if exc.status in (408, 413):  # the body was not read to its end: the connection cannot be reused
        headers = {**(headers or {}), "Connection": "close"}
    return JSONResponse(exc.body(), status_code=exc.status, headers=headers)


def _reload_in_thread(server: Server) -> None:
    threading.Thread(target=server.reload, name="yolo-probs-reload", daemon=True).start()


async def _images(
    request: "Request", settings: ServeSettings, deadline: float, source: str | None = None
) -> list[tuple[str, bytes]]:
    """The ``(source, bytes)`` of the images a request carries, after the body and format checks."""
    content_type = request.headers.get("content-type", "")
    media = content_type.split(";", 1)[0].strip().lower()
    if media != "multipart/form-data" and not media.startswith(_RAW_TYPES):
        shown = printable(media)[:80] or "none"
        raise ApiError(
            415,
            "unsupported_media_type",
            f"content type {shown!r} is not an image upload; send multipart/form-data 'file' fields, or one "
            "image as the body with its image/* type (the server does not fetch URLs)",
        )
    body = await _body(request, settings.max_body_bytes, deadline, settings.timeout_s)
    if not body:
        raise ApiError(400, "empty_body", "the request body is empty; send one or more images")
    if media != "multipart/form-data":
        return [(source or "image", body)]
    return await _multipart(request, body, settings.max_files)


async def _body(request: "Request", limit: int, deadline: float, timeout: float) -> bytes:
    """The whole body, refused past ``limit`` bytes (413) or when it takes past ``deadline`` (408)."""
    from starlette.requests import ClientDisconnect

    declared = request.headers.get("content-length")
    if declared is not None and declared.strip().isdigit() and int(declared) > limit:
        raise _too_large(int(declared), limit)
    chunks: list[bytes] = []
    size = 0
    stream = request.stream().__aiter__()
    while True:
        left = deadline - time.monotonic()
        try:
            if left <= 0:
                raise TimeoutError
            chunk = await asyncio.wait_for(stream.__anext__(), left)
        except StopAsyncIteration:
            break
        except TimeoutError:
            raise ApiError(
                408, "slow_client", f"the request body did not arrive within {timeout:g} s; send it at once"
            ) from None
        except ClientDisconnect:
            raise ApiError(400, "client_disconnected", "the client left before sending the whole body") from None
        size += len(chunk)
        if size > limit:
            raise _too_large(size, limit, so_far=True)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(size: int, limit: int, so_far: bool = False) -> ApiError:
    what = f"over {size:,}" if so_far else f"{size:,}"
    return ApiError(
        413,
        "body_too_large",
        f"the request body is {what} bytes, above the limit of {limit:,}; send fewer or smaller images",
    )


async def _multipart(request: "Request", body: bytes, max_files: int) -> list[tuple[str, bytes]]:
    """The files of a multipart body (any field name), in order; text fields are refused."""
    from starlette.datastructures import UploadFile
    from starlette.formparsers import MultiPartException, MultiPartParser

    async def replay() -> AsyncGenerator[bytes, None]:
        yield body

    parser = MultiPartParser(request.headers, replay(), max_files=max_files, max_fields=max_files)
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise ApiError(
            400, "bad_multipart", f"{exc.message}; send at most {max_files} images as 'file' fields"
        ) from None
    images: list[tuple[str, bytes]] = []
    try:
        for field, value in form.multi_items():
            if not isinstance(value, UploadFile):
                hint = (
                    "the server does not fetch URLs; download the image and upload its bytes"
                    if str(value).strip().lower().startswith(("http://", "https://", "ftp://", "file:"))
                    else "send images as file fields"
                )
                raise ApiError(400, "not_a_file", f"form field {printable(field)[:60]!r} is text, not a file; {hint}")
            images.append((value.filename or f"image{len(images)}", await value.read()))
    finally:
        await form.close()
    if not images:
        raise ApiError(400, "no_images", "the form holds no file; send images as 'file' fields")
    return images


class _Guard:
    """ASGI middleware in front of the routes: the API key, an early 413 from Content-Length, and the
    per-endpoint request metrics (status and latency of every answer, errors included)."""

    def __init__(self, app: Any, server: Server, settings: ServeSettings) -> None:
        self.app, self.server = app, server
        self.key = settings.api_key.encode() if settings.api_key else None

    async def __call__(self, scope: dict[str, Any], receive: Callable[[], Awaitable[Any]], send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        endpoint = path if path in ENDPOINTS else "other"
        status = [500]
        start = time.perf_counter()

        async def sent(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            if self.key is not None and path not in _OPEN and not self._authorized(scope):
                await _send_error(sent, _error(self.server, _unauthorized(scope)))
                return
            await self.app(scope, receive, sent)
        finally:
            self.server.metrics.observe_request(endpoint, status[0], time.perf_counter() - start)

    def _authorized(self, scope: dict[str, Any]) -> bool:
        given = dict(scope.get("headers") or []).get(b"authorization", b"")
        scheme, _, token = given.partition(b" ")
        return scheme.lower() == b"bearer" and hmac.compare_digest(token.strip(), self.key or b"")


def _unauthorized(scope: dict[str, Any]) -> ApiError:
    given = dict(scope.get("headers") or []).get(b"authorization")
    what = "no Authorization header" if given is None else "a wrong API key"
    return ApiError(401, "unauthorized", f"{what}; send 'Authorization: Bearer KEY' with the server's API key")


async def _send_error(send: Any, response: "JSONResponse") -> None:
    await send({"type": "http.response.start", "status": response.status_code, "headers": response.raw_headers})
    await send({"type": "http.response.body", "body": response.body})
