"""The HTTP app in process (FastAPI's TestClient): records equal the CLI's, bad input, API key, metrics, reload."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

from tests.conftest import IMAGES, MODEL
from tests.serve.conftest import KEY, assert_same_records, files, png_claiming, truncated_jpeg
from yolo_probs.cli import main
from yolo_probs.client import Client
from yolo_probs.serve import ServeSettings
from yolo_probs.serve.app import create_app

LIMIT = 300_000  # bytes of body


@pytest.fixture(scope="module")
def served(decisions_profile: Path) -> Iterator[tuple[TestClient, Any]]:
    settings = ServeSettings(
        profile=decisions_profile,
        model_options={"device": "cpu"},
        max_batch=8,
        max_wait_ms=20,
        api_key=KEY,
        max_body_bytes=LIMIT,
        max_files=12,
        timeout_s=30,
    )
    app = create_app(settings)
    with TestClient(app) as client:
        client.headers["Authorization"] = f"Bearer {KEY}"
        assert app.state.server.wait_ready(120), app.state.server.failure
        yield client, app.state.server


def _cli(paths: list[Path], profile: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> list[dict[str, Any]]:
    capsys.readouterr()
    args = ["predict", *map(str, paths), "--profile", str(profile), "--engine", "auto", "--device", "cpu"]
    assert main([*args, "-f", "json", *extra]) == 0
    return json.loads(capsys.readouterr().out)  # type: ignore[no-any-return]


def test_predict_gives_the_records_of_the_cli_with_decisions(
    served: tuple[TestClient, Any], decisions_profile: Path, uploads: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    client, _ = served
    expected = _cli(uploads, decisions_profile, capsys)
    answer = client.post("/predict", files=files(uploads))
    assert answer.status_code == 200, answer.text
    assert_same_records(answer.json(), expected)
    assert all("set" in r and "unknown" in r for r in expected)
    assert {r["unknown"] for r in expected} == {False, True}  # the photo is no digit
    # one image per request, from many threads at once: batched across requests, the same records
    with Client(http=client, api_key=KEY) as c, ThreadPoolExecutor(6) as pool:
        alone = list(pool.map(lambda p: c.predict([p])[0], map(str, uploads)))
    assert_same_records(alone, expected)


def test_top_k_and_min_prob_of_a_request_match_the_cli_flags(
    served: tuple[TestClient, Any], decisions_profile: Path, uploads: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    client, _ = served
    expected = _cli(uploads[:4], decisions_profile, capsys, "--top-k", "2", "--min-prob", "0.001")
    answer = client.post("/predict", params={"top_k": 2, "min_prob": 0.001}, files=files(uploads[:4]))
    assert_same_records(answer.json(), expected)
    raw = client.post("/predict?top_k=1", content=uploads[0].read_bytes(), headers={"content-type": "image/png"})
    assert raw.status_code == 200 and len(raw.json()[0]["top"]) == 1 and raw.json()[0]["source"] == "image"
    assert raw.json()[0]["top"] == expected[0]["top"][:1]


def _bad_requests(client: TestClient) -> dict[str, Any]:
    good = (IMAGES / "digit_7.png").read_bytes()
    post = client.post
    return {
        "corrupt image": post("/predict", files=[("file", ("junk.jpg", b"\xff\xd8 junk \xff\xd9", "image/jpeg"))]),
        "truncated image": post("/predict", files=[("file", ("cut.jpg", truncated_jpeg(), "image/jpeg"))]),
        "non-image file": post("/predict", files=[("file", ("notes.txt", b"hello\n", "text/plain"))]),
        "empty file": post("/predict", files=[("file", ("zero.png", b"", "image/png"))]),
        "huge image header": post("/predict", files=[("file", ("bomb.png", png_claiming(40000, 40000), "image/png"))]),
        "empty body": post("/predict", content=b"", headers={"content-type": "image/png"}),
        "wrong content type": post("/predict", content=b'{"image": 1}', headers={"content-type": "application/json"}),
        "no content type": post("/predict", content=good, headers={"content-type": ""}),
        "body over the limit": post("/predict", content=b"\0" * (LIMIT + 1), headers={"content-type": "image/png"}),
        "too many files": post("/predict", files=[("file", (f"{i}.png", good, "image/png")) for i in range(13)]),
        "a URL to fetch": post("/predict", files=[("url", (None, "http://169.254.169.254/latest"))]),
        "bad top_k": post("/predict?top_k=0", files=[("file", ("a.png", good, "image/png"))]),
        "missing API key": TestClient(client.app).post("/predict", files=[("file", ("a.png", good, "image/png"))]),
        "wrong API key": client.get("/ready", headers={"Authorization": "Bearer nope"}),
        "unknown endpoint": client.get("/admin"),
    }


EXPECTED = {  # status, kind, words of the message
    "corrupt image": (422, "bad_image", "junk.jpg: not a readable image"),
    "truncated image": (422, "bad_image", "cut.jpg: truncated JPEG"),
    "non-image file": (422, "bad_image", "notes.txt: not a readable image"),
    "empty file": (422, "bad_image", "zero.png: the file is empty"),
    "huge image header": (422, "bad_image", "above the limit of 178,956,970"),
    "empty body": (400, "empty_body", "the request body is empty"),
    "wrong content type": (415, "unsupported_media_type", "'application/json' is not an image upload"),
    "no content type": (415, "unsupported_media_type", "'none' is not an image upload"),
    "body over the limit": (413, "body_too_large", "above the limit of 300,000"),
    "too many files": (400, "bad_multipart", "Too many files"),
    "a URL to fetch": (400, "not_a_file", "the server does not fetch URLs"),
    "bad top_k": (400, "bad_parameter", "top_k"),
    "missing API key": (401, "unauthorized", "no Authorization header"),
    "wrong API key": (401, "unauthorized", "a wrong API key"),
    "unknown endpoint": (404, "not_found", "no endpoint '/admin'"),
}


def test_every_bad_request_gets_a_json_error_naming_it_and_the_server_keeps_serving(
    served: tuple[TestClient, Any],
) -> None:
    client, _ = served
    answers = _bad_requests(client)
    for name, answer in answers.items():
        status, kind, words = EXPECTED[name]
        body = answer.json()
        assert (answer.status_code, body["kind"]) == (status, kind), (name, body)
        assert words in body["error"], (name, body["error"])
    assert answers["missing API key"].headers["www-authenticate"] == "Bearer"
    mixed = client.post(
        "/predict",
        files=[
            ("file", ("one.png", (IMAGES / "digit_3.png").read_bytes(), "image/png")),
            ("file", ("cut.jpg", truncated_jpeg(), "image/jpeg")),
            ("file", ("two.png", (IMAGES / "digit_5.png").read_bytes(), "image/png")),
        ],
    )
    assert mixed.status_code == 200
    records = mixed.json()
    assert [r["source"] for r in records] == ["one.png", "cut.jpg", "two.png"]
    assert records[1] == {
        "source": "cut.jpg",
        "error": "truncated JPEG (no end-of-image marker); re-download or re-export it",
    }
    assert [records[0]["top"][0]["name"], records[2]["top"][0]["name"]] == ["3", "5"]
    again = client.post(
        "/predict", files=[("file", ("digit_7.png", (IMAGES / "digit_7.png").read_bytes(), "image/png"))]
    )
    assert again.status_code == 200 and again.json()[0]["top"][0]["name"] == "7"


def test_health_is_open_the_rest_needs_the_key(served: tuple[TestClient, Any]) -> None:
    client, _ = served
    bare = TestClient(client.app)  # no Authorization header; shares the running app
    assert bare.get("/health").json() == {"status": "ok"}
    for path in ("/ready", "/metrics", "/docs", "/openapi.json"):
        answer = bare.get(path)
        assert answer.status_code == 401 and answer.json()["kind"] == "unauthorized", path
    assert bare.get("/ready", headers={"Authorization": f"Bearer {KEY}x"}).status_code == 401
    assert bare.get("/ready", headers={"Authorization": f"Basic {KEY}"}).status_code == 401
    ready = bare.get("/ready", headers={"Authorization": f"Bearer {KEY}"})
    assert ready.status_code == 200 and ready.json()["ready"] is True and ready.json()["classes"] == 10
    spec = client.get("/openapi.json").json()
    assert "multipart/form-data" in spec["paths"]["/predict"]["post"]["requestBody"]["content"]


def test_metrics_count_requests_images_batches_errors_and_decisions(served: tuple[TestClient, Any]) -> None:
    client, _ = served
    client.post("/predict", files=[("file", ("zero.png", b"", "image/png"))])
    client.post("/predict", files=[("file", ("a.png", (IMAGES / "digit_0.png").read_bytes(), "image/png"))])
    text = client.get("/metrics").text
    values = {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line and not line.startswith("#")
    }
    assert values['yolo_probs_requests_total{endpoint="/predict",status="200"}'] >= 1
    assert values['yolo_probs_requests_total{endpoint="/predict",status="422"}'] >= 1
    assert values['yolo_probs_errors_total{kind="bad_image"}'] >= 1
    assert values['yolo_probs_images_total{outcome="ok"}'] >= 1
    assert (
        values["yolo_probs_batch_size_count"] >= 1
        and values['yolo_probs_request_seconds_count{endpoint="/predict"}'] >= 2
    )
    assert 0 <= values["yolo_probs_unknown_rate"] <= 1 and values["yolo_probs_mean_set_size"] >= 1
    assert values["yolo_probs_ready"] == 1
    # The profile's drift monitor saw every served image (not the warm-up ones) and reports its state.
    assert values["yolo_probs_monitor_images"] == values['yolo_probs_images_total{outcome="ok"}']
    assert values["yolo_probs_drift"] in (0, 1) and values["yolo_probs_drift_alarm"] in (0, 1)
    assert 0 <= values["yolo_probs_estimated_accuracy"] <= 1


def test_reload_keeps_the_old_model_when_the_new_one_fails_its_sha256(tmp_path: Path) -> None:
    model = tmp_path / "model.pt"
    shutil.copy(MODEL, model)
    profile = tmp_path / "p.yaml"
    sha = hashlib.sha256(model.read_bytes()).hexdigest()
    profile.write_text(yaml.safe_dump({"version": 1, "name": "p", "model": str(model), "model_sha256": sha,
                                       "temperature": 2.0, "top_k": 3}))  # fmt: skip
    app = create_app(ServeSettings(profile=profile, model_options={"device": "cpu"}, max_batch=2))
    image = ("file", ("digit_3.png", (IMAGES / "digit_3.png").read_bytes(), "image/png"))
    with TestClient(app) as client:
        server = app.state.server
        assert server.wait_ready(120)
        before = client.post("/predict", files=[image]).json()
        model.write_bytes(model.read_bytes() + b"changed")  # the sha256 no longer matches
        assert server.reload() is False
        assert client.post("/predict", files=[image]).json() == before
        profile.write_text(profile.read_text().replace("temperature: 2.0", "temperature: 1.0"))
        shutil.copy(MODEL, model)
        assert server.reload() is True
        after = client.post("/predict", files=[image]).json()
        assert client.get("/ready").json()["generation"] == 1
    assert before[0]["temperature"] == 2.0 and after[0]["temperature"] == 1.0 and len(after[0]["top"]) == 3
