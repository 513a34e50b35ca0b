"""``yolo-probs serve --ray --replicas N``: the serve API on Ray Serve, answers equal to the single-machine server."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from tests.conftest import IMAGES, MODEL, ROOT
from yolo_probs.cli import main
from yolo_probs.errors import ConfigError
from yolo_probs.serve import ServeSettings
from yolo_probs.serve.ray_serve import Replica, replica_cpus
from yolo_probs.serve.server import ApiError

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi")


@pytest.mark.parametrize(
    ("cpus", "replicas", "each"), [(16, 4, 1.0), (2, 1, 1.0), (2, 2, 0.95), (2, 4, 0.475), (1, 3, 0.316)]
)
def test_replicas_share_the_cluster_cpus(cpus, replicas, each):
    assert replica_cpus(cpus, replicas) == each
    assert replicas * replica_cpus(cpus, replicas) <= max(cpus * 0.95, replicas * 1.0) + 1e-9


@pytest.mark.parametrize(("cpus", "replicas", "message"), [(2, 0, "replicas"), (2, True, "replicas"), (0, 1, "CPUs")])
def test_replica_cpus_refuses_nonsense(cpus, replicas, message):
    with pytest.raises(ConfigError, match=message):
        replica_cpus(cpus, replicas)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--replicas", "2"], "replicas run on Ray; add --ray"),
        (["--ray", "--port", "0"], "Ray Serve needs a fixed port"),
        (["--ray", "127.0.0.1:1"], "the Ray cluster at 127.0.0.1:1 does not answer"),
    ],
)
def test_bad_ray_options_are_one_line_usage_errors(extra, message, capsys):
    assert main(["serve", "-m", str(MODEL), *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and message in err


def _alone(replica):
    """What the deployment's ``@serve.batch`` method is to a caller: one image in, its result out."""

    async def run_batch(item):
        return (await replica.run([item]))[0]

    return run_batch


@pytest.fixture(scope="module")
def replica():
    return Replica(ServeSettings(model=str(MODEL), model_options={"device": "cpu"}, max_batch=4))


def test_a_replica_answers_the_records_of_predict_and_names_bad_images(replica):
    from yolo_probs import YoloProbs

    paths = sorted(IMAGES.glob("*.png"))[:3]
    images = [(p.name, p.read_bytes()) for p in paths] + [("empty.png", b"")]
    records = asyncio.run(replica.predict(images, _alone(replica), top_k=2))
    with YoloProbs(str(MODEL), device="cpu", top_k=2) as clf:
        local = [p.to_dict() for p in clf.predict([str(p) for p in paths])]
    for mine, theirs in zip(records[:3], local, strict=True):
        assert [t["name"] for t in mine["top"]] == [t["name"] for t in theirs["top"]]
        assert [t["prob"] for t in mine["top"]] == pytest.approx([t["prob"] for t in theirs["top"]], abs=1e-6)
    assert records[3] == {"source": "empty.png", "error": records[3]["error"]} and "empty" in records[3]["error"]


@pytest.mark.parametrize(
    ("images", "options", "status", "kind"),
    [([("a.png", b"junk")], {}, 422, "bad_image"), ([("a.png", b"junk")], {"top_k": 0}, 400, "bad_parameter")],
)
def test_a_replica_refuses_as_the_server_does(replica, images, options, status, kind):
    with pytest.raises(ApiError) as caught:
        asyncio.run(replica.predict(images, _alone(replica), **options))
    assert (caught.value.status, caught.value.kind) == (status, kind)


def test_a_failing_batch_is_retried_image_by_image(replica, monkeypatch):
    real = replica.model.run

    def run(items):
        if any(item.source == "poison.png" for item in items):
            raise RuntimeError("boom")
        return real(items)

    monkeypatch.setattr(replica.model, "run", run)
    data = (IMAGES / "digit_3.png").read_bytes()
    items = [replica.model.decode(data, name) for name in ("a.png", "poison.png", "b.png")]
    results = asyncio.run(replica.run(items))
    assert [type(r).__name__ for r in results] == ["Prediction", "InputFailure", "Prediction"]
    assert "the model failed on it (boom)" in results[1].reason


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _single_machine_answers(files: list[tuple[str, tuple[str, bytes, str]]]) -> list[dict]:
    from fastapi.testclient import TestClient

    from yolo_probs.serve import ServeSettings
    from yolo_probs.serve.app import create_app

    app = create_app(ServeSettings(model=str(MODEL), model_options={"device": "cpu"}))
    with TestClient(app) as client:
        assert app.state.server.wait_ready(120)
        answer = client.post("/predict?top_k=3", files=files)
    assert answer.status_code == 200
    return answer.json()


@pytest.mark.slow
def test_two_replicas_on_a_local_ray_answer_as_the_single_machine_server():
    pytest.importorskip("ray.serve")
    files = [("file", (p.name, p.read_bytes(), "image/png")) for p in sorted(IMAGES.glob("*.png"))[:3]]
    files.append(("file", ("broken.png", b"\x89PNG\r\n\x1a\nnot really", "image/png")))
    expected = _single_machine_answers(files)

    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "yolo_probs", "serve", "-m", str(MODEL), "--device", "cpu", "--port", str(port)]
    command += ["--ray", "local", "--replicas", "2", "--max-batch", "8", "--api-key", "k3y"]
    env = {"PYTHONPATH": str(ROOT), "RAY_ADDRESS": ""}
    proc = subprocess.Popen(command, cwd=ROOT, env={**os.environ, **env}, stderr=subprocess.PIPE, text=True)
    auth = {"Authorization": "Bearer k3y"}
    try:
        deadline = time.monotonic() + 240
        while True:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            try:
                if httpx.get(url + "/ready", headers=auth, timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the Ray Serve app did not become ready in 240 s"
            time.sleep(0.5)
        answer = httpx.post(url + "/predict?top_k=3", files=files, headers=auth, timeout=60)
        assert answer.status_code == 200, answer.text
        got = answer.json()
        assert [r.get("source") for r in got] == [r.get("source") for r in expected]
        assert got[-1] == expected[-1] and "error" in got[-1]  # the broken image, named, the others answered
        for mine, theirs in zip(got[:-1], expected[:-1], strict=True):
            assert [t["name"] for t in mine["top"]] == [t["name"] for t in theirs["top"]]
            for a, b in zip(mine["top"], theirs["top"], strict=True):
                assert a["prob"] == pytest.approx(b["prob"], abs=1e-6)

        unauthorized = httpx.post(url + "/predict", files=files[:1], timeout=60)
        assert unauthorized.status_code == 401 and unauthorized.json()["kind"] == "unauthorized"
        empty = httpx.post(url + "/predict", content=b"", headers={**auth, "content-type": "image/png"}, timeout=60)
        assert empty.status_code == 400 and empty.json()["kind"] == "empty_body"
        replicas = {httpx.get(url + "/ready", headers=auth, timeout=30).json()["replica"] for _ in range(40)}
        assert len(replicas) == 2  # both replicas answer
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(120)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0
