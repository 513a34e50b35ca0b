"""``yolo-probs serve``: calibrated probabilities and decisions over HTTP (FastAPI on uvicorn).

The command checks its options, binds the port and loads the model before it serves, so a bad
option, a busy port or a model that cannot load is a one-line usage error (exit 2). It then serves
until SIGINT or SIGTERM, finishing the requests in flight; SIGHUP reloads the profile (or model).
"""

from __future__ import annotations

import errno
import socket
from typing import Annotated, Any, Optional

import typer

from yolo_probs._util.console import note, set_verbose, warn
from yolo_probs.api.profile import load_profile
from yolo_probs.cli.options import (
    ENGINE,
    MIN_PROB,
    RAY,
    TOP_K,
    DeviceOption,
    ImgszOption,
    ModelOption,
    Preprocessing,
    ProfileOption,
    TemperatureOption,
    VerboseOption,
    option_groups,
    tailored,
)
from yolo_probs.cli.ray_serve import serve_on_ray
from yolo_probs.errors import ConfigError
from yolo_probs.serve.app import create_app
from yolo_probs.serve.server import load_classifier
from yolo_probs.serve.settings import API_KEY_ENV, ServeSettings

# How serve shows the shared options (declared in yolo_probs.cli.options), and its own.
# Optional[...] rather than X | None: Typer reads these annotations at runtime.
_TopK = Annotated[
    Optional[int],  # noqa: UP045
    tailored(TOP_K, detail="A request's ?top_k= overrides it.", default="the profile's, else 5"),
]
_MinProb = Annotated[
    Optional[float],  # noqa: UP045
    tailored(MIN_PROB, detail="Classes below it are dropped; a request's ?min_prob= overrides it.",
             default="the profile's, else none"),
]  # fmt: skip
_Engine = Annotated[Optional[str], tailored(ENGINE, default="the profile's, else auto")]  # noqa: UP045
_Host = Annotated[
    str, typer.Option("--host", help="Address to listen on (0.0.0.0: every interface; set --api-key then).")
]
_Port = Annotated[int, typer.Option("--port", min=0, max=65535, help="Port to listen on (0: any free port).")]
_MaxBatch = Annotated[int, typer.Option("--max-batch", min=1, max=1024, help="Most images per model run.")]
_MaxWait = Annotated[
    float,
    typer.Option("--max-wait-ms", min=0, help="How long a batch waits for images of other requests to join it."),
]
_MaxQueue = Annotated[
    int, typer.Option("--max-queue", min=1, help="Most images waiting for the model; past it: 503, retry later.")
]
_ApiKey = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option(
        "--api-key",
        envvar=API_KEY_ENV,
        show_envvar=True,
        help="Every endpoint but /health then needs 'Authorization: Bearer KEY' (prefer the environment "
        "variable: a command line is visible to other users).",
    ),
]
_MaxBody = Annotated[float, typer.Option("--max-body-mb", min=0.001, help="Largest request body in MB (413 past it).")]
_MaxFiles = Annotated[int, typer.Option("--max-files", min=1, help="Most images in one request.")]
_Timeout = Annotated[
    float,
    typer.Option("--timeout", min=0.001, help="Seconds a request may take to arrive (408) and to be answered (504)."),
]
_Ray = Annotated[
    Optional[str],  # noqa: UP045
    tailored(
        RAY,
        detail="Serves there with Ray Serve (--replicas of the model, Ray's own batching). "
        "Needs 'pip install yolo-probs[serve,ray]'.",
    ),
]
_Replicas = Annotated[int, typer.Option("--replicas", min=1, help="With --ray: copies of the model serving requests.")]


@option_groups
def serve_command(
    model: ModelOption = None,
    profile: ProfileOption = None,
    temperature: TemperatureOption = None,
    top_k: _TopK = None,
    min_prob: _MinProb = None,
    imgsz: ImgszOption = None,
    device: DeviceOption = None,
    engine: _Engine = None,
    prep: Preprocessing = Preprocessing(),  # noqa: B008  (Typer shows its fields; see option_groups)
    host: _Host = "127.0.0.1",
    port: _Port = 8000,
    max_batch: _MaxBatch = 32,
    max_wait_ms: _MaxWait = 5.0,
    max_queue: _MaxQueue = 1024,
    api_key: _ApiKey = None,
    max_body_mb: _MaxBody = 32.0,
    max_files: _MaxFiles = 64,
    timeout: _Timeout = 30.0,
    ray: _Ray = None,
    replicas: _Replicas = 1,
    verbose: VerboseOption = False,
) -> None:
    """Serve calibrated probabilities and decisions over HTTP: POST /predict, GET /health, /ready, /metrics, /docs.

    Images from concurrent requests are batched (--max-batch, --max-wait-ms) on the fast engines.
    SIGHUP reloads the profile (its model's sha256 checked), keeping the old one if that fails;
    SIGINT / SIGTERM finish the requests in flight, then stop.
    """
    set_verbose(verbose)
    if profile is not None:
        load_profile(profile, check_model=False)  # a bad profile fails here, before anything else
    options: dict[str, Any] = {"temperature": temperature, "top_k": top_k, "min_prob": min_prob, "imgsz": imgsz}
    options |= {"device": device, "engine": engine, **prep.model_kwargs(imgsz)}
    settings = ServeSettings(
        model=model,
        profile=profile,
        model_options=options,
        max_batch=max_batch,
        max_wait_ms=max_wait_ms,
        max_queue=max_queue,
        api_key=api_key or None,
        max_body_bytes=max(1, int(max_body_mb * 1024 * 1024)),
        max_files=max_files,
        timeout_s=timeout,
    )
    if ray is not None:
        if port == 0:
            raise typer.BadParameter("Ray Serve needs a fixed port; pass e.g. --port 8000", param_hint="--port")
        serve_on_ray(settings, address=ray, replicas=replicas, host=host, port=port)
        return
    if replicas != 1:
        raise typer.BadParameter(
            "replicas run on Ray; add --ray (a local cluster) or --ray ADDRESS", param_hint="--replicas"
        )
    uvicorn = _uvicorn()
    sock = _bound(host, port)  # a busy port fails before the (slow) model load
    try:
        clf = load_classifier(settings)
    except BaseException:
        sock.close()
        raise
    app = create_app(settings, classifier=clf, reload_on_sighup=True)
    config = uvicorn.Config(
        app, log_level="warning", access_log=False, timeout_graceful_shutdown=int(timeout) + 5, lifespan="on"
    )
    bound_host, bound_port = sock.getsockname()[:2]
    shown = f"[{bound_host}]" if ":" in bound_host else bound_host
    what = profile or model or "the default model"
    note(f"serving {what} on http://{shown}:{bound_port} (API at /docs; Ctrl-C stops)")
    if api_key is None and host not in ("127.0.0.1", "localhost", "::1"):
        warn(f"no API key while listening on {host}; set {API_KEY_ENV} or --api-key")
    uvicorn.Server(config).run(sockets=[sock])


def _uvicorn() -> Any:
    """uvicorn (and FastAPI), or a usage error saying how to install them."""
    try:
        import fastapi  # noqa: F401
        import prometheus_client  # noqa: F401
        import uvicorn
    except ImportError as exc:
        raise ConfigError(f"{exc.name} is not installed; install it with pip install 'yolo-probs[serve]'") from None
    return uvicorn


def _bound(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port``, or a usage error naming them (busy port, unknown address)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise typer.BadParameter(
            f"cannot listen on {host!r} ({exc.strerror}); pass an address of this machine"
        ) from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        hint = "pass another --port (or 0 for any free one)" if exc.errno == errno.EADDRINUSE else "check --host"
        raise ConfigError(f"cannot listen on {host}:{port} ({exc.strerror}); {hint}") from None
    sock.set_inheritable(True)
    return sock
