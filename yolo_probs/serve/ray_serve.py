"""``yolo-probs serve --ray [ADDRESS] --replicas N``: the same HTTP API as a Ray Serve deployment.

For users who outgrow one machine: N replicas, each loading the classifier once, behind Ray Serve's
HTTP proxy, which spreads the requests over them. The routes and answers are ``yolo-probs serve``'s
(:mod:`yolo_probs.serve.app`): ``POST /predict`` (multipart ``file`` fields or one raw ``image/*``
body; ``top_k``, ``min_prob``) answers the records ``predict -f json`` gives, a bad image gets its
``{"source", "error"}`` record, every other failure the same JSON ``{"error", "kind"}``; ``GET
/health``, ``GET /ready`` and the OpenAPI page at ``/docs``. The API key, body limit, image count
and timeouts are the same settings (:class:`~yolo_probs.serve.settings.ServeSettings`).

What differs is the batching: each replica batches with Ray Serve's own ``@serve.batch`` (up to
``max_batch`` images, waiting up to ``max_wait_ms``) instead of the single-machine
:class:`~yolo_probs.serve.batcher.Batcher`; the images are decoded and run by the same code
(:class:`~yolo_probs.serve.batcher.ServedModel`), the model on one thread per replica. Metrics are
Ray Serve's (its Prometheus exporter: request counts, latencies and queue lengths per replica), not
``/metrics``. A profile is not reloaded on SIGHUP: roll out a new one with ``serve deploy`` or a
restart.

Needs ``pip install 'yolo-probs[serve,ray]'`` (``ray[serve]``). The CLI connects to the cluster
(:func:`yolo_probs.integrations.ray.connect`) and then calls :func:`run`.

Example (a local cluster; on a real one, connect to it first):
    >>> import ray  # doctest: +SKIP
    >>> from yolo_probs.serve import ServeSettings
    >>> from yolo_probs.serve.ray_serve import run
    >>> ray.init(num_cpus=2)  # doctest: +SKIP
    >>> run(ServeSettings(model="examples/models/digits-yolo26n-cls.pt"), replicas=2, port=8000)  # doctest: +SKIP
    >>> # curl -F file=@examples/images/digit_7.png http://127.0.0.1:8000/predict
"""

# No ``from __future__ import annotations`` here: FastAPI reads the route methods' annotations
# (``request: Request``) at definition time, inside :func:`deployment`, where fastapi is imported.
import asyncio
import dataclasses
import hmac
import logging
import math
import os
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from yolo_probs._util.threads import engine_threads
from yolo_probs.core.probs import check_min_prob, check_top_k
from yolo_probs.errors import ConfigError, first_line
from yolo_probs.inputs.sources import InputFailure
from yolo_probs.serve.app import _images, _version
from yolo_probs.serve.batcher import Prepared, Result, ServedModel
from yolo_probs.serve.server import ApiError, _decoded, load_classifier, record
from yolo_probs.serve.settings import ServeSettings

__all__ = ["DEPLOYMENT", "Replica", "replica_cpus", "require_serve", "run"]

#: The name of the Ray Serve application and deployment.
DEPLOYMENT = "yolo-probs"
SERVE_EXTRA = "pip install 'yolo-probs[serve,ray]'"

log = logging.getLogger("yolo_probs")


def require_serve() -> Any:
    """The ``ray.serve`` module, or :class:`ConfigError` saying what to install."""
    try:
        import fastapi  # noqa: F401
        from ray import serve
    except ImportError as exc:
        raise ConfigError(
            f"--ray needs {exc.name or 'ray[serve]'}; install it with {SERVE_EXTRA}", option="ray"
        ) from None
    return serve


def replica_cpus(cluster_cpus: float, replicas: int) -> float:
    """CPUs each replica reserves: one, or an even share of 95% of the cluster when it has fewer.

    Example:
        >>> replica_cpus(16, 4), replica_cpus(2, 2), replica_cpus(2, 4)
        (1.0, 0.95, 0.475)
    """
    if isinstance(replicas, bool) or not isinstance(replicas, int) or replicas < 1:
        raise ConfigError(f"replicas must be a whole number >= 1, got {replicas!r}", option="replicas")
    if not cluster_cpus > 0:
        raise ConfigError(f"the Ray cluster has {cluster_cpus:g} CPUs; it needs some to run replicas", option="ray")
    return min(1.0, math.floor(cluster_cpus * 0.95 / replicas * 1000) / 1000)


class Replica:
    """One replica's model side: the classifier, its decoder threads and its model thread.

    :meth:`predict` turns ``(source, bytes)`` images into records as
    :meth:`yolo_probs.serve.server.Server.predict` does; ``run_batch`` (the deployment's
    ``@serve.batch`` method) gathers the decoded images of concurrent requests into model runs.
    """

    def __init__(self, settings: ServeSettings) -> None:
        self.settings = settings
        self.model = ServedModel(load_classifier(settings))
        workers = settings.decode_threads or max(1, engine_threads()[1])
        self.pool = ThreadPoolExecutor(workers, thread_name_prefix="yolo-probs-decode")
        self.worker = ThreadPoolExecutor(1, thread_name_prefix="yolo-probs-model")  # the model's one thread
        warm = np.full((64, 64, 3), 114, np.uint8)
        self.model.run([self.model.frame(warm, "warm-up") for _ in range(settings.max_batch)])

    async def run(self, items: list[Prepared]) -> list[Result]:
        """One model run over ``items`` on the model thread."""
        return await asyncio.get_running_loop().run_in_executor(self.worker, self._run, items)

    def _run(self, items: list[Prepared]) -> list[Result]:
        """The model's results; when a batch fails, each image alone, so one bad image fails only itself."""
        try:
            return self.model.run(items)
        except Exception as exc:
            if len(items) == 1:
                log.warning("the model failed on %s: %s", items[0].source, first_line(exc))
                return [InputFailure(items[0].source, f"the model failed on it ({first_line(exc)})")]
        return [self._run([item])[0] for item in items]

    async def predict(
        self,
        images: list[tuple[str, bytes]],
        run_batch: Callable[[Prepared], Awaitable[Result]],
        *,
        top_k: int | None = None,
        min_prob: float | None = None,
    ) -> list[dict[str, Any]]:
        """The records of ``images``, in order; raises :class:`ApiError` (400 bad parameter, 422 no usable
        image, 504 past the settings' ``timeout_s``)."""
        try:
            top_k = None if top_k is None else check_top_k(top_k)
            min_prob = check_min_prob(min_prob)
        except ConfigError as exc:
            raise ApiError(400, "bad_parameter", str(exc)) from None
        try:
            results = await asyncio.wait_for(self._results(images, run_batch), self.settings.timeout_s)
        except TimeoutError:
            raise ApiError(
                504, "timeout", f"no answer within {self.settings.timeout_s:g} s; the replicas are overloaded, retry"
            ) from None
        records = [record(r, top_k, min_prob) for r in results]
        failed = [r for r in results if isinstance(r, InputFailure)]
        if failed and len(failed) == len(results):
            what = str(failed[0]) if len(failed) == 1 else f"none of the {len(failed)} images could be used"
            raise ApiError(422, "bad_image", what, records)
        return records

    async def _results(
        self, images: list[tuple[str, bytes]], run_batch: Callable[[Prepared], Awaitable[Result]]
    ) -> list[Result]:
        loop = asyncio.get_running_loop()
        decoded = await asyncio.gather(
            *(loop.run_in_executor(self.pool, _decoded, self.model, data, source) for source, data in images)
        )
        done = iter(await asyncio.gather(*(run_batch(d) for d in decoded if isinstance(d, Prepared))))
        return [next(done) if isinstance(d, Prepared) else d for d in decoded]


def _api(settings: ServeSettings) -> Any:
    """The FastAPI app of the deployment: its error answers and the API key, as ``yolo-probs serve`` has them."""
    from fastapi import FastAPI, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from starlette.exceptions import HTTPException

    api = FastAPI(
        title="yolo-probs",
        version=_version(),
        description="Calibrated class probabilities and decisions over HTTP, on Ray Serve replicas.",
    )
    key = settings.api_key.encode() if settings.api_key else None

    def answer(exc: ApiError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return JSONResponse(exc.body(), status_code=exc.status, headers=headers)

    @api.middleware("http")
    async def guard(request: Request, call_next: Any) -> Any:
        if key is not None and request.url.path not in ("/health", "/-/healthz", "/-/routes"):
            given = request.headers.get("authorization")
            scheme, _, token = (given or "").partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), key):
                what = "no Authorization header" if given is None else "a wrong API key"
                return answer(ApiError(401, "unauthorized", f"{what}; send 'Authorization: Bearer KEY'"))
        try:
            return await call_next(request)
        except ApiError as exc:  # raised below the exception handlers (e.g. while the body streams)
            return answer(exc)

    @api.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return answer(exc)

    @api.exception_handler(HTTPException)
    async def _http_error(request: Request, exc: HTTPException) -> JSONResponse:
        kind = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return answer(ApiError(exc.status_code, kind, str(exc.detail)))

    @api.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception) -> JSONResponse:
        log.error("internal error on %s: %s", request.url.path, first_line(exc), exc_info=exc)
        return answer(ApiError(500, "internal", f"internal error ({type(exc).__name__}); see the replica's log"))

    @api.exception_handler(RequestValidationError)
    async def _bad_parameter(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(x) for x in first.get("loc", ()) if x != "query")
        return answer(ApiError(400, "bad_parameter", f"{where}: {first.get('msg', 'invalid')}"))

    return api


def deployment(settings: ServeSettings, *, replicas: int, cpus: float) -> Any:
    """The Ray Serve deployment class (ingress: the FastAPI app of :func:`_api`), configured for ``settings``."""
    serve = require_serve()
    from fastapi import Query, Request
    from fastapi.responses import JSONResponse

    api = _api(settings)

    @serve.deployment(
        name=DEPLOYMENT,
        num_replicas=replicas,
        max_ongoing_requests=max(2 * settings.max_batch, 64),
        ray_actor_options={"num_cpus": cpus},
    )
    @serve.ingress(api)
    class YoloProbsDeployment:
        def __init__(self, settings: ServeSettings) -> None:
            self.replica = Replica(settings)

        @serve.batch(max_batch_size=settings.max_batch, batch_wait_timeout_s=settings.max_wait_ms / 1000)
        async def run_batch(self, items: list[Prepared]) -> list[Result]:
            return await self.replica.run(items)

        @api.get("/health", summary="The replica answers (no API key needed)")
        async def health(self) -> dict[str, str]:
            return {"status": "ok"}

        @api.get("/ready", summary="The model is loaded and warmed")
        async def ready(self) -> dict[str, Any]:
            model = self.replica.model
            return {
                "ready": True,
                "model": str(self.replica.settings.profile or self.replica.settings.model),
                "engine": getattr(model.backend, "engine", type(model.backend).__name__),
                "classes": len(model.clf.names),
                "max_batch": self.replica.settings.max_batch,
                "replica": os.getpid(),
            }

        @api.post("/predict", summary="Classify images")
        async def predict(
            self,
            request: Request,
            top_k: int | None = Query(None, ge=1, description="Classes kept per image (default: the model's)."),
            min_prob: float | None = Query(None, ge=0, le=1, description="Drop classes below this probability."),
        ) -> JSONResponse:
            s = self.replica.settings
            images = await _images(request, s, time.monotonic() + s.timeout_s)
            records = await self.replica.predict(images, self.run_batch, top_k=top_k, min_prob=min_prob)
            return JSONResponse(records)

    return YoloProbsDeployment


def _absolute(path: Any) -> Any:
    """Replicas may run in another folder (or on another node with the same files): name existing files absolutely."""
    return os.path.abspath(path) if path is not None and os.path.exists(path) else path


def run(
    settings: ServeSettings,
    *,
    replicas: int = 1,
    host: str = "127.0.0.1",
    port: int = 8000,
    cpus: float | None = None,
) -> Any:
    """Deploy the app on the connected Ray cluster (a local one if none) and return its handle.

    The HTTP proxy listens on ``host:port``; ``cpus`` per replica defaults to :func:`replica_cpus` on the
    cluster's CPUs. Returns when every replica has loaded and warmed its model; ``serve.shutdown()``
    (or :func:`shutdown`) stops it.
    """
    serve = require_serve()
    import ray

    if cpus is None:
        if not ray.is_initialized():
            ray.init()
        cpus = replica_cpus(float(ray.cluster_resources().get("CPU", 0.0)), replicas)
    else:
        replica_cpus(1.0, replicas)  # checks replicas
    settings = dataclasses.replace(settings, model=_absolute(settings.model), profile=_absolute(settings.profile))
    serve.start(http_options={"host": host, "port": port})
    app = deployment(settings, replicas=replicas, cpus=cpus).bind(settings)
    return serve.run(app, name=DEPLOYMENT, route_prefix="/")


def shutdown() -> None:
    """Delete the deployment and stop Ray Serve on the cluster (the cluster itself keeps running)."""
    from ray import serve

    serve.shutdown()
