"""Scale-out on Ray Data: the same records as the local run, on one module-scoped local cluster (2 CPUs)."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import types

import pytest

from tests.conftest import IMAGES, MODEL, ROOT
from yolo_probs.cli import _bare_ray, main
from yolo_probs.errors import ConfigError
from yolo_probs.integrations.ray import ActorPlan, plan_actors
from yolo_probs.outputs.parquet import read_records

ray = pytest.importorskip("ray")


@pytest.mark.parametrize(
    ("cpus", "actors", "per_actor"),
    [(1, 1, 0.9), (2, 2, 0.95), (3.5, 3, 0.95), (16, 16, 0.95), (64, 64, 0.95)],
)
def test_plan_leaves_cpu_for_the_other_tasks(cpus, actors, per_actor):
    plan = plan_actors(cpus)
    assert (plan.actors, plan.cpus_per_actor, plan.threads) == (actors, per_actor, 1)
    assert plan.actors * plan.cpus_per_actor <= cpus - 0.1 + 1e-9


@pytest.mark.parametrize("cpus", [0, 0.05, float("nan")])
def test_plan_refuses_a_cluster_without_cpus(cpus):
    with pytest.raises(ConfigError, match="CPUs"):
        plan_actors(cpus)


def test_bare_ray_means_rays_own_default():
    assert _bare_ray(["predict", "a.jpg", "--ray"]) == ["predict", "a.jpg", "--ray", ""]
    assert _bare_ray(["predict", "a.jpg", "--ray", "-o", "x"]) == ["predict", "a.jpg", "--ray", "", "-o", "x"]
    assert _bare_ray(["predict", "a.jpg", "--ray", "h:1"]) == ["predict", "a.jpg", "--ray", "h:1"]


@pytest.mark.parametrize(
    ("address", "env", "dialled"),
    [
        ("", None, "local"),
        (None, None, "local"),
        ("", "10.1.2.3:6379", "10.1.2.3:6379"),
        ("auto", "10.1.2.3:6379", "10.1.2.3:6379"),
        ("auto", None, "auto"),
        ("local", "10.1.2.3:6379", "local"),  # a new local cluster: RAY_ADDRESS is not dialled
        ("ray://h:10001", "10.1.2.3:6379", "ray://h:10001"),
    ],
)
def test_which_cluster_each_address_means(monkeypatch, address, env, dialled):
    from yolo_probs.integrations import ray as ray_module

    if env is None:
        monkeypatch.delenv("RAY_ADDRESS", raising=False)
    else:
        monkeypatch.setenv("RAY_ADDRESS", env)
    assert ray_module.resolve_address(address)[0] == dialled
    asked = []
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", lambda **kw: asked.append(kw["address"]))
    monkeypatch.setattr(ray_module, "check_address", lambda address: None)
    monkeypatch.setattr(ray.data.DataContext, "get_current", lambda: types.SimpleNamespace())
    ray_module.connect(address)
    assert asked == [dialled]  # never None: Ray would read RAY_ADDRESS itself, unchecked


class Listener:
    """A TCP port on 127.0.0.1 that accepts connections and then says nothing, or answers garbage."""

    def __init__(self, reply: bytes | None) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.reply = reply
        self.held: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            self.held.append(conn)  # kept open: a silent peer, as a hung service is
            if self.reply is not None:
                with contextlib.suppress(OSError):
                    conn.sendall(self.reply)

    def close(self) -> None:
        self.server.close()
        for conn in self.held:
            conn.close()


SILENT, GARBAGE, HTTP = None, b"\x00\xffgarbage" * 8, b"HTTP/1.1 400 Bad Request\r\n\r\n"


@pytest.mark.parametrize("reply", [GARBAGE, HTTP], ids=["bytes", "http"])
def test_a_listener_that_is_not_ray_is_refused(reply):
    from yolo_probs.integrations.ray import check_address

    server = Listener(reply)
    try:
        with pytest.raises(
            ConfigError, match=r"does not answer \(something else listens there: (its reply is not gRPC|it closed the)"
        ):
            check_address(f"127.0.0.1:{server.port}")
    finally:
        server.close()


@pytest.mark.parametrize(
    ("reply", "how", "expect"),
    [
        (SILENT, "--ray ADDR", "the Ray cluster at 127.0.0.1:{port} does not answer (no answer within 5 s"),
        (GARBAGE, "--ray ADDR", "the Ray cluster at 127.0.0.1:{port} does not answer"),
        (SILENT, "RAY_ADDRESS + bare --ray", "the Ray cluster at RAY_ADDRESS=127.0.0.1:{port} (from the environment)"),
        (SILENT, "RAY_ADDRESS + --ray auto", "the Ray cluster at RAY_ADDRESS=127.0.0.1:{port} (from the environment)"),
    ],
    ids=["silent", "garbage", "silent-RAY_ADDRESS-bare", "silent-RAY_ADDRESS-auto"],
)
def test_an_address_that_is_not_ray_fails_in_seconds(tmp_path, reply, how, expect):
    """Something that accepts the connection but is not Ray: one line, exit 2, no minutes of Ray retries."""
    listener = Listener(reply)
    address = f"127.0.0.1:{listener.port}"
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env["PYTHONPATH"] = str(ROOT)
    ray_args = ["--ray", address]
    if how.startswith("RAY_ADDRESS"):
        env["RAY_ADDRESS"] = address
        ray_args = ["--ray"] if how.endswith("bare --ray") else ["--ray", "auto"]
    command = [sys.executable, "-m", "yolo_probs", "predict", str(IMAGES), "-m", str(MODEL), *ray_args]
    start = time.monotonic()
    try:
        run = subprocess.run(
            [*command, "-o", str(tmp_path / "o.parquet")], env=env, capture_output=True, text=True, timeout=120
        )
    finally:
        listener.close()
    assert time.monotonic() - start < 60  # CONNECT_TIMEOUT is 5 s; the rest is Python and Ray's import
    assert run.returncode == 2, run.stderr
    (line,) = run.stderr.splitlines()
    assert line.startswith("yolo-probs: error: " + expect.format(port=listener.port)) and line.endswith("(--ray)")
    assert not (tmp_path / "o.parquet").exists()


def test_the_check_passes_a_real_ray_cluster(cluster):
    from yolo_probs.integrations.ray import check_address

    check_address(ray.get_runtime_context().gcs_address)  # Ray's GCS answers the HTTP/2 hello


@pytest.mark.slow
def test_ray_local_starts_a_new_cluster_whatever_ray_address_says(tmp_path):
    silent = Listener(None)
    try:
        env = {**os.environ, "PYTHONPATH": str(ROOT), "RAY_ADDRESS": f"127.0.0.1:{silent.port}"}
        out = tmp_path / "o.parquet"
        command = [sys.executable, "-m", "yolo_probs", "predict", str(IMAGES / "digit_3.png"), "-m", str(MODEL)]
        run = subprocess.run(
            [*command, "--ray", "local", "-o", str(out)], env=env, capture_output=True, text=True, timeout=300
        )
    finally:
        silent.close()
    assert run.returncode == 0, run.stderr
    assert [r["top"][0]["name"] for r in read_records(out)] == ["3"]


def test_without_ray_installed_names_the_extra(monkeypatch, capsys, tmp_path):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    assert main(["predict", str(IMAGES), "--ray", "-o", str(tmp_path / "o.parquet")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "yolo-probs[ray]" in err


def test_an_address_that_does_not_answer_fails_fast(capsys, tmp_path):
    start = time.monotonic()
    assert (
        main(["predict", str(IMAGES), "-m", str(MODEL), "--ray", "127.0.0.1:1", "-o", str(tmp_path / "o.parquet")]) == 2
    )
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "127.0.0.1:1 does not answer" in err and "--ray" in err
    assert time.monotonic() - start < 30  # no model load, no Ray retries (generous: the machine is shared)


def test_ray_needs_parquet_output(capsys, tmp_path):
    assert main(["predict", str(IMAGES), "-m", str(MODEL), "--ray", "-o", str(tmp_path / "o.json")]) == 2
    assert "--ray writes Parquet" in capsys.readouterr().err


def test_videos_are_refused_with_ray_and_nothing_starts(video, tmp_path, capsys):
    out = tmp_path / "o.parquet"
    started = ray.is_initialized()
    assert main(["predict", str(video), str(tmp_path / "missing.png"), "-m", str(MODEL), "--ray", "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert "digits.mp4: --ray scores image files" in err and "missing.png: no such file" in err
    assert "2 of 2 inputs failed" in err
    assert read_records(out) == [] and ray.is_initialized() == started


@pytest.fixture(scope="module")
def cluster():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def test_cli_on_ray_writes_the_local_records(cluster, tmp_path, capsys):
    """A folder plus a corrupt file: exit 1, the failure named on one line, the rest equal to the local run."""
    folder = tmp_path / "imgs"
    shutil.copytree(IMAGES, folder)
    (folder / "zz_corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    options = ["-m", str(MODEL), "--logits", "-k", "3", "-t", "0.8"]
    local, remote = tmp_path / "local.parquet", tmp_path / "ray.parquet"
    assert main(["predict", str(folder), *options, "-o", str(local)]) == 1
    capsys.readouterr()
    assert main(["predict", str(folder), *options, "--ray", "-o", str(remote)]) == 1
    err = capsys.readouterr().err
    assert "zz_corrupt.png: truncated PNG" in err and "1 of 7 inputs failed" in err
    assert f"yolo-probs: wrote 6 records to {remote}\n" in err  # as the local run says it
    records = read_records(remote)
    assert len(records) == 6
    assert records == read_records(local)  # same order, same numbers


def test_the_console_script_says_one_line_on_stderr(tmp_path):
    """The real command in its own process: the wrote line, and none of Ray's own log lines.

    (Ray's C++ core prints ``[... E ...] core_worker.cc: Actor ... max_restarts > 0`` as the actors start;
    the console script's stderr filter drops it.) A cluster of its own: about 15 s.
    """
    out = tmp_path / "ray.parquet"
    command = [sys.executable, "-m", "yolo_probs", "predict", str(IMAGES), "-m", str(MODEL), "--ray", "-o", str(out)]
    env = {**os.environ, "YOLO_OFFLINE": "1", "RAY_ADDRESS": ""}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    assert done.stderr == f"yolo-probs: wrote 6 records to {out}\n"


def test_score_dataset_on_read_images_rgb(cluster):
    """Ray's own image reader gives RGB; the scorer flips it, so PNG records equal the local run."""
    from yolo_probs import YoloProbs
    from yolo_probs.integrations.ray import score_dataset

    paths = sorted(str(p) for p in IMAGES.glob("*.png"))
    ds = ray.data.read_images(paths, include_paths=True, mode="RGB")
    rows = score_dataset(ds, str(MODEL), top_k=2, temperature=2.0, plan=ActorPlan(1, 0.9, 1, 4)).take_all()
    assert {r["error"] for r in rows} == {None}
    with YoloProbs(MODEL, top_k=2, temperature=2.0) as clf:
        local = {p.source: p.to_dict() for p in clf.predict(paths)}
    assert len(rows) == len(local)
    for row in rows:
        source = next(s for s in local if row["source"].endswith(s))
        assert row["top"] == local[source]["top"] and row["temperature"] == 2.0


def test_ray_images_become_bgr_frames():
    import numpy as np

    from yolo_probs.errors import SourceError
    from yolo_probs.integrations.ray import _rgb_to_bgr

    rgb = np.zeros((2, 3, 3), np.uint8)
    rgb[..., 0] = 200  # red
    assert _rgb_to_bgr(rgb, "a")[0, 0].tolist() == [0, 0, 200]
    rgba = np.concatenate([rgb, np.full((2, 3, 1), 7, np.uint8)], axis=2)
    assert _rgb_to_bgr(rgba, "a")[0, 0].tolist() == [0, 0, 200]
    assert _rgb_to_bgr(np.full((2, 3), 9, np.uint8), "a").shape == (2, 3, 3)
    with pytest.raises(SourceError, match="mode='RGB'"):
        _rgb_to_bgr(np.zeros((2, 3, 3), np.float32), "a")


def test_predict_files_on_a_uri_prefix(cluster, tmp_path):
    """A URI (here Ray's local:// scheme; s3:// and gs:// take the same path) is listed by Ray, non-images skipped."""
    from yolo_probs.integrations.ray import predict_files

    for name in ("digit_0.png", "digit_7.png"):
        shutil.copy(IMAGES / name, tmp_path / name)
    (tmp_path / "notes.txt").write_text("not an image")
    ctx = ray.data.DataContext.get_current()
    before = ctx.execution_options.preserve_order
    records = list(predict_files([f"local://{tmp_path}"], str(MODEL), top_k=1))
    assert ctx.execution_options.preserve_order == before  # the caller's setting is given back
    assert sorted(r["source"] for r in records) == [
        f"local://{tmp_path}/digit_0.png",
        f"local://{tmp_path}/digit_7.png",
    ]
    assert {r["source"][-5]: r["top"][0]["name"] for r in records} == {"0": "0", "7": "7"}


def test_save_is_refused_with_ray(capsys, tmp_path):
    rc = main(["predict", str(IMAGES), "--ray", "--save", str(tmp_path / "a"), "-o", str(tmp_path / "o.parquet")])
    assert rc == 2
    assert "run without --ray" in capsys.readouterr().err and not (tmp_path / "a").exists()
