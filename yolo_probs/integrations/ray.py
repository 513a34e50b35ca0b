"""Score folders and buckets too large for one machine on a Ray cluster (optional extra ``yolo-probs[ray]``).

:func:`score_dataset` adds prediction columns to a ``ray.data.Dataset`` of images with ``map_batches``
and a callable class: every actor loads the classifier once, runs one torch thread, and the pool is
sized from the cluster's CPUs with ``compute=ActorPoolStrategy(size=n)``, leaving a little CPU free
for the read and write tasks (:func:`plan_actors`). The rows it returns are the records
``yolo-probs predict`` writes (see :mod:`yolo_probs.outputs.parquet`), plus an ``error`` column that names the
rows that could not be scored (null for the others). :func:`predict_files` is what
``yolo-probs predict SOURCE --ray [ADDRESS] -o out.parquet`` runs.

The dataset may come from ``ray.data.read_images(paths, include_paths=True)`` (an ``image`` column,
decoded by Ray's reader, in RGB) or from ``ray.data.read_binary_files(paths, include_paths=True)`` (a
``bytes`` column, decoded in the actors by the same OpenCV decoder as the local run, so the records
are identical to it and a corrupt file becomes an ``error`` row instead of failing the job).

Example (a local cluster; on a real one call ``ray.init(address="auto")`` on a cluster node):
    >>> import ray  # doctest: +SKIP
    >>> from yolo_probs.integrations.ray import score_dataset
    >>> ray.init(num_cpus=2)  # doctest: +SKIP
    >>> ds = ray.data.read_binary_files("examples/images", include_paths=True)  # doctest: +SKIP
    >>> scored = score_dataset(ds, "examples/models/digits-yolo26n-cls.pt", top_k=3)  # doctest: +SKIP
    >>> scored.write_parquet("/tmp/scored", min_rows_per_file=10_000)  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import math
import numbers
import os
import socket
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from yolo_probs.api.model import YoloProbs
from yolo_probs.backends.ultralytics import DEFAULT_MODEL
from yolo_probs.core.prediction import Prediction
from yolo_probs.errors import ConfigError, SourceError
from yolo_probs.inputs.sources import IMAGE_SUFFIXES, decode_image
from yolo_probs.outputs.parquet import schema, to_record

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "ActorPlan",
    "check_address",
    "connect",
    "plan_actors",
    "predict_files",
    "require_ray",
    "resolve_address",
    "score_dataset",
]

RAY_EXTRA = "pip install 'yolo-probs[ray]'"
#: :func:`predict_files` starts one more actor per this many images, up to the plan's count.
MIN_IMAGES_PER_ACTOR = 32
#: Seconds to wait for a Ray address to answer before giving up.
CONNECT_TIMEOUT = 5.0


def require_ray() -> Any:
    """The ``ray`` module, or :class:`ConfigError` saying which extra to install."""
    try:
        import ray
        import ray.data
    except ImportError:
        raise ConfigError(f"Ray is not installed; install it with {RAY_EXTRA}", option="ray") from None
    return ray


@dataclass(frozen=True)
class ActorPlan:
    """How a job is spread over the cluster.

    Attributes:
        actors: model replicas (one ``YoloProbs`` each).
        cpus_per_actor: CPUs each actor reserves (a little below 1 so read/write tasks still get scheduled).
        threads: torch threads per actor (1: several threads per actor on shared cores slow every actor down).
        batch_size: images per ``map_batches`` call; also the rows of each output block.
    """

    actors: int
    cpus_per_actor: float
    threads: int = 1
    batch_size: int = 256


def plan_actors(cpus: float, *, reserve: float = 0.1, batch_size: int = 256) -> ActorPlan:
    """One single-threaded actor per whole CPU, together leaving ``reserve`` CPUs (at least) for the other tasks.

    Measured on a 2-core machine (issue 13): 2 actors x 0.95 CPU with one torch thread each ran as
    fast as the local loop, while fractional actors with two threads each were 2.5-5x slower, and
    actors that reserve every CPU leave none for the write step (Ray warns the job may hang).

    Example:
        >>> plan_actors(2), plan_actors(64).actors, plan_actors(64).cpus_per_actor
        (ActorPlan(actors=2, cpus_per_actor=0.95, threads=1, batch_size=256), 64, 0.95)
    """
    cpus = _real(cpus, "cpus", "2")
    reserve = _real(reserve, "reserve", "0.1")
    if reserve < 0:
        raise ConfigError(f"reserve must be a number of CPUs >= 0, got {reserve:g}; pass e.g. 0.1", option="ray")
    if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) or batch_size < 1:
        raise ConfigError(f"batch_size must be a whole number >= 1, got {batch_size!r}; pass e.g. 256", option="ray")
    if cpus <= reserve:
        raise ConfigError(f"the Ray cluster has {cpus:g} CPUs; it needs more than {reserve:g} to score images")
    actors = max(1, math.floor(cpus))
    # rounded down to 1/1000 CPU, so that the actors never take more than the CPUs left after the reserve
    per_actor = min(0.95, math.floor((cpus - reserve) / actors * 1000 + 1e-9) / 1000)
    if per_actor <= 0:
        raise ConfigError(f"the Ray cluster has {cpus:g} CPUs; it needs more than {reserve:g} to score images")
    return ActorPlan(actors=actors, cpus_per_actor=per_actor, batch_size=int(batch_size))


def _real(value: Any, name: str, example: str) -> float:
    """``value`` as a finite float, else a :class:`ConfigError` naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ConfigError(
            f"{name} must be a finite number of CPUs, got {value!r} ({type(value).__name__}); pass e.g. {example}",
            option="ray",
        )
    return float(value)


def _output_schema(logits: bool) -> pa.Schema:
    import pyarrow as pa

    return schema(logits).append(pa.field("error", pa.string()))


class _Scorer:
    """The ``map_batches`` callable class: one classifier per actor, loaded once in ``__init__``."""

    def __init__(self, factory: Callable[[], YoloProbs], logits: bool, threads: int) -> None:
        import cv2
        import torch

        torch.set_num_threads(threads)
        cv2.setNumThreads(threads)
        self.clf = factory()
        self.logits = logits
        self.schema = _output_schema(logits)

    def __call__(self, batch: dict[str, np.ndarray]) -> pa.Table:
        import pyarrow as pa

        paths = [str(p) for p in batch["path"]]
        frames: list[np.ndarray] = []
        rows: list[dict[str, Any]] = [{"source": p} for p in paths]
        good: list[int] = []
        for i, path in enumerate(paths):
            try:
                if "bytes" in batch:
                    image = decode_image(bytes(batch["bytes"][i]), path)
                else:
                    image = _rgb_to_bgr(np.asarray(batch["image"][i]), path)
            except SourceError as exc:
                rows[i]["error"] = exc.reason
                continue
            frames.append(image)
            good.append(i)
        for i, item in zip(good, self.clf.predict_each(frames), strict=True):
            if isinstance(item, Prediction):
                rows[i] = dataclasses.replace(item, source=paths[i]).to_dict(self.logits)
            else:  # an in-memory frame the classifier refused (e.g. an empty image)
                rows[i]["error"] = item.message
        return pa.Table.from_pylist(rows, schema=self.schema)


def _rgb_to_bgr(image: np.ndarray, source: str) -> np.ndarray:
    """An image from Ray's reader (RGB, RGBA or grey; ``mode=`` decides) as the BGR frame the classifier takes."""
    import cv2

    if image.dtype != np.uint8 or image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (3, 4)):
        raise SourceError(
            source, f"expected an 8-bit RGB image, got {image.dtype} {image.shape}; read it with mode='RGB'"
        )
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    return np.ascontiguousarray(image[..., 2::-1])  # RGB(A) -> BGR, alpha dropped


def _build(model: Any, profile: Any, options: dict[str, Any]) -> YoloProbs:
    if profile is not None:
        return YoloProbs.from_profile(profile, model=model, **options)
    return YoloProbs(model, **options)


def score_dataset(
    ds: Any,
    model: Any = None,
    *,
    profile: str | os.PathLike[str] | None = None,
    classifier: Callable[[], YoloProbs] | None = None,
    logits: bool = False,
    plan: ActorPlan | None = None,
    **options: Any,
) -> Any:
    """Score a ``ray.data.Dataset`` of images: its rows in, prediction records out (a lazy Dataset).

    Args:
        ds: rows with ``path`` and either ``image`` (RGB ``HxWx3`` uint8, as ``read_images`` gives) or
            ``bytes`` (the encoded file, as ``read_binary_files`` gives; decoded as the local run does).
        model: what :class:`~yolo_probs.api.model.YoloProbs` takes as ``model`` (a path must exist on every node).
        profile: a deployment profile instead of (or with) ``model``.
        classifier: a picklable zero-argument callable returning a ``YoloProbs``, instead of ``model``.
        logits: add the ``logits`` column.
        plan: actors, CPUs and batch size; default :func:`plan_actors` on the cluster's CPUs.
        **options: further ``YoloProbs`` keyword arguments (``temperature``, ``top_k``, ``imgsz``, ...).

    Returns:
        A Dataset with the columns of :func:`yolo_probs.outputs.parquet.schema` plus ``error`` (null when scored).
    """
    ray = require_ray()
    from ray.data import ActorPoolStrategy

    if classifier is None:
        if model is None and profile is None:
            model = DEFAULT_MODEL
        classifier = functools.partial(_build, model, profile, options)
    elif model is not None or profile is not None or options:
        raise ConfigError("pass classifier, or model/profile and their options, not both")
    plan = _cluster_plan(ray) if plan is None else plan
    return ds.map_batches(
        _Scorer,
        fn_constructor_args=(classifier, logits, plan.threads),
        batch_size=plan.batch_size,
        batch_format="numpy",
        compute=ActorPoolStrategy(size=plan.actors),
        num_cpus=plan.cpus_per_actor,
    )


#: An HTTP/2 client preface and an empty SETTINGS frame: a gRPC server (Ray's GCS, the Ray Client server)
#: answers with a SETTINGS frame of its own at once (RFC 9113, section 3.4).
_HTTP2_HELLO = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes([0, 0, 0, 4, 0, 0, 0, 0, 0])


def _split(address: str) -> tuple[str, int] | None:
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        return None
    return host.strip("[]") or "127.0.0.1", int(port)


def _speaks_grpc(sock: socket.socket) -> str | None:
    """None if the peer answers the HTTP/2 preface with a SETTINGS frame, else why it is not a Ray cluster."""
    sock.sendall(_HTTP2_HELLO)
    head = b""
    while len(head) < 9:
        chunk = sock.recv(9 - len(head))
        if not chunk:
            return "something else listens there: it closed the connection without a reply"
        head += chunk
    if head[3] != 4:  # frame type 4: SETTINGS
        return "something else listens there: its reply is not gRPC"
    return None


def _reachable(address: str) -> str | None:
    """None if ``host:port`` answers as a gRPC server within :data:`CONNECT_TIMEOUT` seconds, else the reason.

    A bare TCP check is not enough: Ray dials anything that accepts a connection and retries for minutes.
    With ``RAY_USE_TLS`` set only the TCP connection is checked (the handshake is Ray's).
    """
    target = _split(address)
    if target is None:
        return f"expected HOST:PORT or ray://HOST:PORT, got {address!r}"
    try:
        with socket.create_connection(target, timeout=CONNECT_TIMEOUT) as sock:
            if os.environ.get("RAY_USE_TLS", "0").lower() in ("1", "true"):
                return None
            sock.settimeout(CONNECT_TIMEOUT)
            return _speaks_grpc(sock)
    except TimeoutError:
        return f"no answer within {CONNECT_TIMEOUT:g} s: something else listens there, or a firewall is in the way"
    except OSError as exc:
        return exc.strerror or type(exc).__name__.replace("Error", " error").lower().strip() or "no answer"


def resolve_address(address: str | None) -> tuple[str, str]:
    """``(address, where it came from)``: what :func:`connect` dials for ``address``.

    ``None`` or ``""`` (a bare ``--ray``): ``RAY_ADDRESS`` if set, else ``"local"`` (a new local cluster);
    ``"auto"``: ``RAY_ADDRESS`` if set, else ``"auto"`` (Ray finds the cluster this node is in);
    ``"local"``: a new local cluster, whatever ``RAY_ADDRESS`` says; anything else as given.

    Example:
        >>> resolve_address("local"), resolve_address("10.0.0.5:6379")
        (('local', 'argument'), ('10.0.0.5:6379', 'argument'))
    """
    if address is not None and not isinstance(address, str):
        raise ConfigError(
            f"address must be text (HOST:PORT, ray://HOST:PORT, auto or local) or None, "
            f"got {address!r} ({type(address).__name__})",
            option="ray",
        )
    address = (address or "").strip()
    env = os.environ.get("RAY_ADDRESS", "").strip()
    if address in ("", "auto") and env:
        return env, "RAY_ADDRESS"
    return address or "local", "argument"


def check_address(address: str | None) -> None:
    """Raise :class:`ConfigError` at once if ``address`` (``HOST:PORT``, ``ray://HOST:PORT``) does not answer as Ray.

    The address is resolved as :func:`connect` does (:func:`resolve_address`): ``"local"`` needs no check,
    ``"auto"`` without ``RAY_ADDRESS`` is Ray's to find. The check is a TCP connection and an HTTP/2
    hello, each with a timeout of :data:`CONNECT_TIMEOUT` seconds, so a port where nothing listens,
    something silent or something that is not gRPC fails in seconds, not after Ray's minutes of retries.

    Example:
        >>> check_address("127.0.0.1:1")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        yolo_probs.errors.ConfigError: the Ray cluster at 127.0.0.1:1 does not answer (...); start it with ...
    """
    resolved, origin = resolve_address(address)
    if resolved in ("auto", "local"):
        return
    reason = _reachable(resolved)
    if reason is None:
        return
    if origin == "RAY_ADDRESS":
        raise ConfigError(
            f"the Ray cluster at RAY_ADDRESS={resolved} (from the environment) does not answer ({reason}); "
            "start it, unset RAY_ADDRESS, or pass local for a new local cluster",
            option="ray",
        )
    raise ConfigError(
        f"the Ray cluster at {resolved} does not answer ({reason}); start it with 'ray start --head' "
        "or check the address",
        option="ray",
    )


def connect(address: str | None = None) -> Any:
    """Connect to the Ray cluster at ``address`` (``"auto"``, ``HOST:PORT``, ``ray://HOST:PORT``), or start a local one.

    ``None`` or ``""``: ``RAY_ADDRESS`` if set, else a new local cluster on this machine's CPUs;
    ``"local"``: a new local cluster even when ``RAY_ADDRESS`` is set (see :func:`resolve_address`). An
    address that does not answer as a Ray cluster within :data:`CONNECT_TIMEOUT` seconds raises
    :class:`ConfigError` (:func:`check_address`).
    """
    resolved, _ = resolve_address(address)
    ray = require_ray()
    if ray.is_initialized():
        return ray
    check_address(address)

    for name in ("ray", "ray.data"):  # Ray Data logs every execution on stderr
        logging.getLogger(name).setLevel(logging.ERROR)
    try:
        ray.init(
            address=resolved,  # "local" starts a new cluster and ignores RAY_ADDRESS; None would dial it
            logging_level=logging.ERROR,
            log_to_driver=False,
            include_dashboard=False if resolved == "local" else None,
        )
    except ConnectionError as exc:
        raise ConfigError(
            f"cannot connect to Ray ({str(exc).strip().splitlines()[0]}); start a cluster with 'ray start --head' "
            "or pass local to start a local one",
            option="ray",
        ) from None
    ray.data.DataContext.get_current().enable_progress_bars = False
    return ray


def predict_files(
    paths: Sequence[str],
    model: Any = None,
    *,
    profile: str | os.PathLike[str] | None = None,
    classifier: Callable[[], YoloProbs] | None = None,
    logits: bool = False,
    plan: ActorPlan | None = None,
    **options: Any,
) -> Iterator[dict[str, Any]]:
    """Score image files on the connected cluster (see :func:`connect`), yielding records in input order.

    Records are the dicts of :meth:`~yolo_probs.core.prediction.Prediction.to_dict`, ``source`` spelled as
    in ``paths``; a file that could not be scored yields ``{"source": ..., "error": message}``. Files
    are read by Ray's reader tasks, so on a multi-node cluster they must be on shared storage
    (``s3://``, ``gs://``, NFS at the same path on every node).
    """
    ray = require_ray()

    if not paths:
        return
    spelled = {os.path.abspath(p): p for p in paths if "://" not in p}
    scheme = next((p.split("://", 1)[0] + "://" for p in paths if "://" in p), "")
    ray_paths = [p if "://" in p else os.path.abspath(p) for p in paths]
    plan = _cluster_plan(ray) if plan is None else plan
    blocks = None  # a bucket prefix: Ray counts the files and sizes the blocks
    if not scheme:  # local files, counted
        plan, blocks = _plan_for_files(plan, len(paths))
    ctx = ray.data.DataContext.get_current()
    keep_order = ctx.execution_options.preserve_order
    ctx.execution_options.preserve_order = True  # the same order as the local run
    try:
        ds = ray.data.read_binary_files(
            ray_paths,
            include_paths=True,
            override_num_blocks=blocks,
            num_cpus=0.05,  # reading bytes is I/O: leave the CPUs to the actors
            file_extensions=sorted(s.lstrip(".") for s in IMAGE_SUFFIXES),  # a bucket may hold other files
        )
        scored = score_dataset(ds, model, profile=profile, classifier=classifier, logits=logits, plan=plan, **options)
        for batch in scored.iter_batches(batch_format="pyarrow", batch_size=None):
            for row in batch.to_pylist():
                path = row["source"]
                yield _record(row, spelled.get(path) or (scheme + path if scheme else path))  # Ray drops the scheme
    finally:
        ctx.execution_options.preserve_order = keep_order


def _cluster_plan(ray: Any) -> ActorPlan:
    """:func:`plan_actors` on the connected cluster's CPUs."""
    return plan_actors(float(ray.cluster_resources().get("CPU", 0.0)))


def _plan_for_files(plan: ActorPlan, files: int) -> tuple[ActorPlan, int]:
    """The plan and the block count for a known number of files: an actor costs seconds to start, so no more
    actors than :data:`MIN_IMAGES_PER_ACTOR` images each keep busy, and blocks of an even share of the files.

    Example:
        >>> _plan_for_files(ActorPlan(actors=4, cpus_per_actor=0.95), 100)
        (ActorPlan(actors=3, cpus_per_actor=0.95, threads=1, batch_size=34), 3)
    """
    actors = max(1, min(plan.actors, files // MIN_IMAGES_PER_ACTOR))
    per_block = max(1, min(plan.batch_size, math.ceil(files / actors)))
    blocks = max(1, math.ceil(files / per_block))
    return ActorPlan(actors, plan.cpus_per_actor, plan.threads, per_block), blocks


def _record(row: dict[str, Any], source: str) -> dict[str, Any]:
    """The record of one scored row, ``source`` spelled as the caller did; ``{"source", "error"}`` for a failure."""
    error = row.pop("error")
    if error is not None:
        return {"source": source, "error": error}
    row["source"] = source
    return to_record(row)
