"""``yolo-probs serve`` as users run it: a real uvicorn process on an ephemeral loopback port.

What only real sockets show: a slow client, a client that leaves mid-request, a chunked body over
the limit, SIGHUP reloads and a SIGTERM that lets the request in flight finish.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.conftest import IMAGES, MODEL, ROOT
from tests.serve.conftest import KEY, truncated_jpeg
from yolo_probs.client import Client, ServerError

pytestmark = pytest.mark.slow


@dataclass
class Live:
    process: subprocess.Popen[str]
    port: int
    lines: list[str] = field(default_factory=list)

    def wait_for_line(self, pattern: str, timeout: float = 60.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.lines:
                if re.search(pattern, line):
                    return line
            time.sleep(0.05)
        raise AssertionError(f"no line matching {pattern!r} in {self.lines}")


def _start(args: list[str]) -> Live:
    env = {**os.environ, "YOLO_PROBS_API_KEY": KEY, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [sys.executable, "-m", "yolo_probs", "serve", "--device", "cpu", "--port", "0", *args],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        env=env,
        cwd=ROOT,
    )
    live = Live(process, 0)

    def read() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            live.lines.append(line.rstrip("\n"))

    threading.Thread(target=read, daemon=True).start()
    found = live.wait_for_line(r"on http://127\.0\.0\.1:\d+", timeout=120)
    live.port = int(re.search(r":(\d+) ", found).group(1))  # type: ignore[union-attr]
    with Client(f"http://127.0.0.1:{live.port}", api_key=KEY) as client:
        assert client.wait_ready(120)
    return live


def _stop(live: Live) -> None:
    if live.process.poll() is None:
        live.process.send_signal(signal.SIGTERM)
        try:
            live.process.wait(30)
        except subprocess.TimeoutExpired:
            live.process.kill()
            live.process.wait()


@pytest.fixture
def small_profile(tmp_path: Path) -> Path:
    """A profile on a private copy of the model (so a test can change the model under it)."""
    model = tmp_path / "model.pt"
    shutil.copy(MODEL, model)
    profile = tmp_path / "p.yaml"
    sha = hashlib.sha256(model.read_bytes()).hexdigest()
    fields = {"version": 1, "name": "p", "model": str(model), "model_sha256": sha, "temperature": 2.0, "top_k": 3}
    profile.write_text(yaml.safe_dump(fields))
    return profile


@pytest.fixture
def live(small_profile: Path) -> Iterator[Live]:
    server = _start(["-p", str(small_profile), "--timeout", "2", "--max-body-mb", "0.2", "--max-batch", "4"])
    yield server
    _stop(server)


def _raw(port: int, head: bytes, body: bytes = b"") -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=15)
    sock.sendall(head + body)
    return sock


def _answer(sock: socket.socket) -> tuple[int, Any]:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    sock.close()
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


def _headers(port: int, length: int, kind: str = "image/png") -> bytes:
    return (
        f"POST /predict HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {KEY}\r\n"
        f"Content-Type: {kind}\r\nContent-Length: {length}\r\n\r\n"
    ).encode()


def test_bad_clients_get_4xx_and_a_good_request_still_gets_the_right_answer(live: Live) -> None:
    url = f"http://127.0.0.1:{live.port}"
    good = (IMAGES / "digit_7.png").read_bytes()
    with Client(url, api_key=KEY) as client:
        first = client.predict([str(IMAGES / "digit_7.png")])
        # a slow client: half the body, then nothing: 408 once --timeout (2 s) has passed
        started = time.monotonic()
        status, body = _answer(_raw(live.port, _headers(live.port, len(good)), good[:100]))
        assert (status, body["kind"]) == (408, "slow_client") and 1.5 < time.monotonic() - started < 10
        # a client that leaves in the middle of its body
        _raw(live.port, _headers(live.port, len(good)), good[:100]).close()
        # a chunked body (no Content-Length) over the 0.2 MB limit
        chunks = (b"\0" * 65536 for _ in range(8))
        over = httpx.post(f"{url}/predict", content=chunks, headers={"Authorization": f"Bearer {KEY}",
                                                                      "content-type": "image/png"})  # fmt: skip
        assert over.status_code == 413 and over.json()["kind"] == "body_too_large"
        declared = _answer(_raw(live.port, _headers(live.port, 10_000_000)))
        assert declared[0] == 413 and "10,000,000 bytes" in str(declared[1]["error"])
        for key, words in ((None, "no Authorization header"), ("wrong", "a wrong API key")):
            with Client(url, api_key=key or "") as stranger, pytest.raises(ServerError, match=words) as caught:
                stranger.predict([str(IMAGES / "digit_7.png")])
            assert caught.value.status == 401
        bad = client.predict([truncated_jpeg(), b"", str(IMAGES / "digit_3.png")])
        assert ["truncated JPEG" in bad[0]["error"], "empty" in bad[1]["error"], bad[2]["top"][0]["name"]] == [
            True,
            True,
            "3",
        ]
        assert httpx.get(f"{url}/health").json() == {"status": "ok"}
        assert client.predict([str(IMAGES / "digit_7.png")]) == first
    assert live.process.poll() is None
    assert not [line for line in live.lines if "Traceback" in line or "Exception" in line], live.lines


def test_sighup_reloads_keeps_the_old_model_on_failure_and_sigterm_finishes_the_request_in_flight(
    live: Live, small_profile: Path
) -> None:
    url = f"http://127.0.0.1:{live.port}"
    model = Path(yaml.safe_load(small_profile.read_text())["model"])
    with Client(url, api_key=KEY) as client:
        before = client.predict([str(IMAGES / "digit_3.png")])[0]
        model.write_bytes(model.read_bytes() + b"tampered")
        live.process.send_signal(signal.SIGHUP)
        line = live.wait_for_line("reload of .* failed")
        assert "still serving the previous model" in line and "sha256" in line
        assert client.predict([str(IMAGES / "digit_3.png")])[0] == before
        shutil.copy(MODEL, model)
        small_profile.write_text(small_profile.read_text().replace("temperature: 2.0", "temperature: 1.0"))
        live.process.send_signal(signal.SIGHUP)
        live.wait_for_line(r"reloaded .*generation 1")
        after = client.predict([str(IMAGES / "digit_3.png")])[0]
    assert (before["temperature"], after["temperature"]) == (2.0, 1.0)
    # a request in flight when SIGTERM comes is answered; then the server stops
    good = (IMAGES / "digit_5.png").read_bytes()
    sock = _raw(live.port, _headers(live.port, len(good)), good[:50])
    time.sleep(0.2)
    live.process.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    sock.sendall(good[50:])
    status, records = _answer(sock)
    assert status == 200 and records[0]["top"][0]["name"] == "5"
    assert live.process.wait(30) in (0, -signal.SIGTERM)  # uvicorn raises the signal again once it has stopped
    assert [line for line in live.lines if "error" in line.lower() or "Traceback" in line] == [line], live.lines
