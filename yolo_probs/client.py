"""A small client for ``yolo-probs serve`` (httpx): images in, the records of ``predict -f json`` out.

:meth:`Client.predict` uploads image files (paths) or encoded bytes in one request and returns one
record per image, in order: ``{"source", "frame", "temperature", "top", ...}`` with the profile's
decisions (``unknown``, ``set``), or ``{"source", "error"}`` for an image the server could not use.
Any other refusal (a wrong API key, a body over the server's limit, a timeout) raises
:class:`ServerError` with the server's one-line message.

Example:
    >>> from fastapi.testclient import TestClient
    >>> from yolo_probs.serve import ServeSettings
    >>> from yolo_probs.serve.app import create_app
    >>> app = create_app(ServeSettings(model="examples/models/digits-yolo26n-cls.pt", api_key="s3cret"))
    >>> with TestClient(app) as http, Client(http=http, api_key="s3cret") as client:
    ...     client.wait_ready(120)
    ...     records = client.predict(["examples/images/digit_3.png", b"not an image"], top_k=1)
    True
    >>> records[0]["top"][0]["name"], records[1]["error"][:21]
    ('3', 'not a readable image ')
"""

from __future__ import annotations

import mimetypes
import os
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from yolo_probs.errors import YoloProbsError

__all__ = ["Client", "ServerError"]

Image = str | os.PathLike[str] | bytes


class ServerError(YoloProbsError):
    """The server refused the request: ``status`` (401, 413, 503...), ``kind`` and its message."""

    def __init__(self, status: int, kind: str, message: str) -> None:
        super().__init__(f"HTTP {status} ({kind}): {message}")
        self.status, self.kind = status, kind


class Client:
    """A connection to a ``yolo-probs serve`` server.

    Args:
        url: the server's address.
        api_key: its API key; None reads ``$YOLO_PROBS_API_KEY`` (no key when unset).
        timeout: seconds to wait for an answer.
        http: an ``httpx.Client`` of your own (``base_url`` set), e.g. FastAPI's ``TestClient``.
    """

    def __init__(
        self,
        url: str = "http://127.0.0.1:8000",
        *,
        api_key: str | None = None,
        timeout: float = 60.0,
        http: Any = None,
    ) -> None:
        import httpx

        key = api_key if api_key is not None else os.environ.get("YOLO_PROBS_API_KEY")
        self.headers = {"Authorization": f"Bearer {key}"} if key else {}
        self.own = http is None
        self.http = http if http is not None else httpx.Client(base_url=url, timeout=timeout)

    def predict(
        self, images: Image | Sequence[Image], *, top_k: int | None = None, min_prob: float | None = None
    ) -> list[dict[str, Any]]:
        """One record per image (paths are read here; bytes are sent as they are), in order."""
        if isinstance(images, str | bytes | os.PathLike):
            images = [images]
        files = [("file", _upload(image, i)) for i, image in enumerate(images)]
        params = {k: v for k, v in (("top_k", top_k), ("min_prob", min_prob)) if v is not None}
        response = self.http.post("/predict", files=files, params=params, headers=self.headers)
        body = _json(response)
        if response.status_code == 422 and isinstance(body, dict) and "records" in body:
            return list(body["records"])  # every image failed: their error records
        _raise_for(response, body)
        return list(body)

    def ready(self) -> bool:
        """Whether the model is loaded and warmed (``GET /ready``)."""
        response = self.http.get("/ready", headers=self.headers)
        if response.status_code == 401:
            _raise_for(response, _json(response))
        return bool(response.status_code == 200)

    def wait_ready(self, timeout: float = 60.0) -> bool:
        """Wait up to ``timeout`` seconds for :meth:`ready`; whether it came."""
        deadline = time.monotonic() + timeout
        while not self.ready():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.1)
        return True

    def metrics(self) -> str:
        """The server's Prometheus metrics, as text."""
        response = self.http.get("/metrics", headers=self.headers)
        _raise_for(response, None)
        return str(response.text)

    def close(self) -> None:
        """Close the connection pool (not an ``http`` client passed in)."""
        if self.own:
            self.http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


def _upload(image: Image, index: int) -> tuple[str, bytes, str]:
    if isinstance(image, bytes):
        return f"image{index}", image, "application/octet-stream"
    path = Path(image)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise YoloProbsError(f"{image}: cannot read the file ({exc.strerror}); check the path") from None
    return os.fspath(image), data, mimetypes.guess_type(path.name)[0] or "application/octet-stream"


def _json(response: Any) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _raise_for(response: Any, body: Any) -> None:
    if response.status_code < 400:
        return
    if isinstance(body, dict) and "error" in body:
        raise ServerError(response.status_code, str(body.get("kind", "error")), str(body["error"]))
    raise ServerError(response.status_code, "http_error", response.text[:200] or response.reason_phrase)
