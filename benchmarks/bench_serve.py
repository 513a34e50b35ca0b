"""``yolo-probs serve`` against a plain FastAPI + Ultralytics server and local ``yolo-probs predict``.

One run, loopback only. The images are the speed benchmark's (``bench_predict.make_images``: N
640x480 JPEGs cropped from scikit-image's photos), the model an untrained yolo26n-cls built from its
YAML (or ``--model``), at imgsz 224 on the CPU. Measured, one after the other:

- ``predict``: the pipeline of ``yolo-probs predict DIR --engine auto`` in this process (the steady
  state, after one warm-up pass; batch 1, the CLI's default, and ``--batch 8``), and the CLI itself
  as a subprocess, start-up included;
- ``serve``: ``yolo-probs serve -m MODEL --engine auto`` in a subprocess;
- ``plain``: ``benchmarks/plain_server.py`` (one image per request, the model called in the endpoint).

Each server gets C = 1, 8, 32, 64 concurrent clients (asyncio, one keep-alive connection each, each
request's bytes built once: httpx, ``--client httpx``, costs the shared cores 2-6 ms per request), every
level sending each image ``--passes`` times as its own multipart request. Per level: requests/s,
images/s, p50/p99 latency, the server's CPU milliseconds per image (steadier than the wall-clock
figures on a shared machine) and errors. The first level's ``serve`` answers are checked against the
local predictions (the same classes, probabilities to 1e-6). Then the goals: at 32 clients at least
70% of local predict's throughput (the better of batch 1 and 8) and 3x the plain server; p99 under 3x
p50 at 8 clients. The client runs on the same cores as the server: on a small machine it takes a
good share of them (its CPU time is reported), so the server figures are a lower bound.

Writes ``OUT.md`` (the table) and ``OUT.json`` (every figure, the load average before and after).
No assertion on time anywhere: these are figures to read.

Usage:
    python benchmarks/bench_serve.py                       # 200 images, 1 pass per level
    python benchmarks/bench_serve.py --quick               # 24 images, 1 and 8 clients: a smoke test
    python benchmarks/bench_serve.py --out runs/bench_serve/today
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_VERBOSE", "False")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

LEVELS = (1, 8, 32, 64)
IMGSZ = 224


@dataclass
class Level:
    """One concurrency level against one server."""

    clients: int
    requests: int
    images: int
    seconds: float
    errors: int
    p50_ms: float
    p99_ms: float
    server_cpu_ms_per_image: float | None
    client_cpu_ms_per_image: float
    first_error: str | None = None

    @property
    def requests_per_s(self) -> float:
        return self.requests / self.seconds

    @property
    def images_per_s(self) -> float:
        return self.images / self.seconds

    def row(self) -> dict[str, Any]:
        return asdict(self) | {"requests_per_s": self.requests_per_s, "images_per_s": self.images_per_s}


@dataclass
class ServerRun:
    name: str
    command: list[str]
    start_s: float
    levels: list[Level] = field(default_factory=list)
    records_check: str | None = None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


class Process:
    """A server subprocess: started, waited for until ``ready`` answers 200, stopped with SIGINT."""

    def __init__(self, command: list[str], url: str, ready: str, log: Path, timeout: float = 300.0) -> None:
        import httpx

        self.command, self.url = command, url
        env = os.environ | {"PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
        self.log = log.open("wb")
        start = time.perf_counter()
        self.proc = subprocess.Popen(command, stdout=self.log, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
        deadline = start + timeout
        while True:
            if self.proc.poll() is not None:
                raise SystemExit(
                    f"{command[2:4]} exited with {self.proc.returncode}; see {log}:\n{log.read_text()[-2000:]}"
                )
            try:
                if httpx.get(url + ready, timeout=2.0).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.perf_counter() > deadline:
                self.stop()
                raise SystemExit(f"{command} not ready within {timeout:g} s; see {log}")
            time.sleep(0.2)
        self.start_s = time.perf_counter() - start

    def cpu_s(self) -> float | None:
        try:
            import psutil

            t = psutil.Process(self.proc.pid).cpu_times()
            return float(t.user + t.system)
        except Exception:  # psutil missing, or the process is gone
            return None

    def rss_mib(self) -> float | None:
        try:
            import psutil

            return float(psutil.Process(self.proc.pid).memory_info().rss) / 2**20
        except Exception:
            return None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(2)  # SIGINT: uvicorn's graceful shutdown
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


class RawClient:
    """A minimal HTTP/1.1 keep-alive client on asyncio streams, with each request's bytes built once.

    httpx costs 2-6 CPU ms per request, which on a small machine is CPU taken from the server under
    test; this costs a fraction of that (both servers answer with a Content-Length).
    """

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    @staticmethod
    def request(host: str, port: int, name: str, data: bytes) -> bytes:
        boundary = "yolo-probs-bench-7d1f0c"
        body = (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
                "Content-Type: image/jpeg\r\n\r\n"
            ).encode()
            + data
            + f"\r\n--{boundary}--\r\n".encode()
        )
        head = (
            f"POST /predict HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: multipart/form-data; "
            f"boundary={boundary}\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        return head.encode() + body

    async def send(self, raw: bytes) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        self.writer.write(raw)
        await self.writer.drain()
        head = (await self.reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        status = int(head[0].split()[1])
        fields = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in head[1:] if h)}
        body = await self.reader.readexactly(int(fields.get("content-length", "0")))
        if fields.get("connection", "").lower() == "close":
            await self.close()
        return status, body

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.reader = self.writer = None


async def hammer(
    url: str, images: list[tuple[str, bytes]], clients: int, passes: int, keep: bool = False, client: str = "raw"
) -> tuple[list[float], int, str | None, dict[str, Any]]:
    """Send every image ``passes`` times as its own request from ``clients`` concurrent clients.

    Returns the latencies (s), the error count, the first error and (``keep``) the answers by source.
    """
    if client == "httpx":
        return await hammer_httpx(url, images, clients, passes, keep)
    host, port = url.removeprefix("http://").rsplit(":", 1)
    prepared = {name: RawClient.request(host, int(port), name, data) for name, data in images}
    work = [name for _ in range(passes) for name, _ in images]
    latencies: list[float] = []
    errors = 0
    first_error: str | None = None
    answers: dict[str, Any] = {}
    cursor = iter(range(len(work)))

    async def one_client() -> None:
        nonlocal errors, first_error
        conn = RawClient(host, int(port))
        try:
            for i in cursor:
                name = work[i]
                t0 = time.perf_counter()
                try:
                    status, body = await conn.send(prepared[name])
                    why = None if status == 200 else f"HTTP {status}: {body[:200]!r}"
                except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
                    why = f"{type(exc).__name__}: {exc}"
                    await conn.close()
                latencies.append(time.perf_counter() - t0)
                if why is not None:
                    errors += 1
                    first_error = first_error or why
                elif keep:
                    answers[name] = json.loads(body)
        finally:
            await conn.close()

    await asyncio.gather(*(one_client() for _ in range(clients)))
    return latencies, errors, first_error, answers


async def hammer_httpx(
    url: str, images: list[tuple[str, bytes]], clients: int, passes: int, keep: bool = False
) -> tuple[list[float], int, str | None, dict[str, Any]]:
    """:func:`hammer` with httpx (``--client httpx``): what an application would use, at more CPU per request."""
    import httpx

    work = [img for _ in range(passes) for img in images]
    latencies: list[float] = []
    errors = 0
    first_error: str | None = None
    answers: dict[str, Any] = {}
    cursor = iter(range(len(work)))
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=120.0) as client:

        async def one_client() -> None:
            nonlocal errors, first_error
            for i in cursor:
                name, data = work[i]
                t0 = time.perf_counter()
                try:
                    r = await client.post("/predict", files={"file": (name, data, "image/jpeg")})
                    ok = r.status_code == 200
                    why = None if ok else f"HTTP {r.status_code}: {r.text[:200]}"
                except httpx.HTTPError as exc:
                    ok, why = False, f"{type(exc).__name__}: {exc}"
                latencies.append(time.perf_counter() - t0)
                if not ok:
                    errors += 1
                    first_error = first_error or why
                elif keep:
                    answers[name] = r.json()

        await asyncio.gather(*(one_client() for _ in range(clients)))
    return latencies, errors, first_error, answers


def speed_images(tmp: Path, n: int, model: str | None) -> tuple[Path, str, list[tuple[str, bytes]]]:
    """The speed benchmark's ``n`` JPEGs in ``tmp/images``, the model (an untrained yolo26n-cls unless
    ``model`` is given, copied into ``tmp``) and each image's name and bytes, for the clients."""
    from bench_predict import make_images, untrained_checkpoint

    folder = tmp / "images"
    folder.mkdir()
    make_images(folder, n)
    path = str(untrained_checkpoint(tmp)) if model is None else str(shutil.copy(model, tmp))
    return folder, path, [(p.name, p.read_bytes()) for p in sorted(folder.glob("*.jpg"))]


def measure(
    server: Process,
    images: list[tuple[str, bytes]],
    clients: int,
    passes: int,
    keep: bool = False,
    client: str = "raw",
) -> tuple[Level, dict[str, Any]]:
    cpu0, client0, t0 = server.cpu_s(), time.process_time(), time.perf_counter()
    latencies, errors, first_error, answers = asyncio.run(hammer(server.url, images, clients, passes, keep, client))
    seconds = time.perf_counter() - t0
    cpu1, client1 = server.cpu_s(), time.process_time()
    n = len(latencies)
    level = Level(
        clients=clients,
        requests=n,
        images=n - errors,
        seconds=seconds,
        errors=errors,
        p50_ms=1000 * quantile(latencies, 0.50),
        p99_ms=1000 * quantile(latencies, 0.99),
        server_cpu_ms_per_image=None if cpu0 is None or cpu1 is None else 1000 * (cpu1 - cpu0) / max(1, n),
        client_cpu_ms_per_image=1000 * (client1 - client0) / max(1, n),
        first_error=first_error,
    )
    return level, answers


def run_server(
    name: str,
    command: list[str],
    url: str,
    ready: str,
    images: list[tuple[str, bytes]],
    args: argparse.Namespace,
    log: Path,
) -> tuple[ServerRun, dict[str, Any]]:
    print(f"{name}: starting {' '.join(command[1:])}", flush=True)
    server = Process(command, url, ready, log)
    run = ServerRun(name, command, server.start_s)
    answers: dict[str, Any] = {}
    try:
        measure(
            server, images[: min(len(images), 32)], 4, 1, client=args.client
        )  # warm-up: connections, caches, first batches
        for i, clients in enumerate(args.levels):
            level, got = measure(server, images, clients, args.passes, keep=i == 0, client=args.client)
            answers = answers or got
            run.levels.append(level)
            print(
                f"  {clients:>3} clients: {level.requests_per_s:7.1f} req/s {level.images_per_s:7.1f} img/s "
                f"p50 {level.p50_ms:7.1f} ms p99 {level.p99_ms:7.1f} ms errors {level.errors}",
                flush=True,
            )
    finally:
        server.stop()
    return run, answers


def local_predict(
    model: str, folder: Path, rounds: int
) -> tuple[dict[int, float], dict[int, float], dict[str, Any], str]:
    """images/s of ``YoloProbs(engine='auto').predict(folder)`` (median of rounds), batch 1 and 8; the records."""
    from yolo_probs import YoloProbs

    rates: dict[int, float] = {}
    cpu_ms: dict[int, float] = {}  # process CPU (all threads) per image, the steadier figure on a shared machine
    records: dict[str, Any] = {}
    engine = "?"
    for batch in (1, 8):
        clf = YoloProbs(model, engine="auto", imgsz=IMGSZ, device="cpu", batch=batch)
        engine = getattr(clf.backend, "engine", "torch")
        first = list(clf.predict(str(folder), stream=True))  # warm-up: the engine's build or cache, first runs
        records = records or {Path(p.source).name: p.to_dict() for p in first}
        times = []
        cpu0 = time.process_time()
        for _ in range(rounds):
            t0 = time.perf_counter()
            n = sum(1 for _ in clf.predict(str(folder), stream=True))
            times.append(time.perf_counter() - t0)
        rates[batch] = n / statistics.median(times)
        cpu_ms[batch] = 1000 * (time.process_time() - cpu0) / (n * rounds)
        clf.close()
        print(
            f"predict (in process, batch {batch}, engine {engine}): {rates[batch]:.1f} img/s, "
            f"CPU {cpu_ms[batch]:.1f} ms/img",
            flush=True,
        )
    return rates, cpu_ms, records, engine


def cli_predict(model: str, folder: Path, out: Path) -> float:
    """Seconds of ``yolo-probs predict DIR --engine auto -f json -o OUT`` as a subprocess, start-up included."""
    env = os.environ | {"PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    cmd = [sys.executable, "-m", "yolo_probs", "predict", str(folder), "-m", model, "--engine", "auto"]
    cmd += ["--imgsz", str(IMGSZ), "--device", "cpu", "-o", str(out)]
    t0 = time.perf_counter()
    done = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"yolo-probs predict failed ({done.returncode}): {done.stderr[-2000:]}")
    return time.perf_counter() - t0


def check_records(answers: dict[str, Any], local: dict[str, Any]) -> str:
    """Whether the server's answers equal the local predictions: the same top classes, probabilities to 1e-6."""
    worst, bad = 0.0, []
    for name, body in answers.items():
        mine, theirs = local[name]["top"], body[0]["top"]
        if [t["name"] for t in mine] != [t["name"] for t in theirs]:
            bad.append(name)
            continue
        worst = max(worst, *(abs(a["prob"] - b["prob"]) for a, b in zip(mine, theirs, strict=True)))
    if bad or worst > 1e-6:
        return f"DIFFER: {len(bad)} of {len(answers)} images rank other classes; largest difference {worst:.2e}"
    return f"equal: {len(answers)} images, the same classes, largest probability difference {worst:.1e}"


def at(run: ServerRun, clients: int) -> Level | None:
    return next((lv for lv in run.levels if lv.clients == clients), None)


def goals(ours: ServerRun, plain: ServerRun, reference: float) -> list[tuple[str, str, bool | None]]:
    out: list[tuple[str, str, bool | None]] = []
    a32, p32, a8 = at(ours, 32), at(plain, 32), at(ours, 8)
    if a32 is not None:
        r = a32.images_per_s / reference
        out.append(("serve at 32 clients >= 70% of local predict", f"{r:.1%}", r >= 0.7))
    if a32 is not None and p32 is not None:
        r = a32.images_per_s / p32.images_per_s
        out.append(("serve at 32 clients >= 3x the plain server", f"{r:.1f}x", r >= 3))
    if a8 is not None:
        r = a8.p99_ms / a8.p50_ms
        out.append(("p99 < 3x p50 at 8 clients (serve)", f"{r:.2f}x", r < 3))
    return out


def table(
    runs: list[ServerRun],
    rates: dict[int, float],
    cpu_ms: dict[int, float],
    cli_s: float,
    n: int,
    engine: str,
    check: str,
    goal_rows: list,
    context: dict[str, Any],
) -> str:
    lines = [
        f"# bench_serve: {n} JPEGs 640x480, imgsz {IMGSZ}, CPU ({context['cpus']} cores), engine {engine}",
        "",
        f"Load average before/after: {context['load_before']} / {context['load_after']}"
        + (" (the machine was shared with other work: read the CPU columns)" if context["shared"] else ""),
        "",
        "| server | clients | req/s | img/s | p50 ms | p99 ms | server CPU ms/img | client CPU ms/img | errors |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for run in runs:
        for lv in run.levels:
            cpu = "-" if lv.server_cpu_ms_per_image is None else f"{lv.server_cpu_ms_per_image:.1f}"
            lines.append(
                f"| {run.name} | {lv.clients} | {lv.requests_per_s:.1f} | {lv.images_per_s:.1f} | {lv.p50_ms:.1f} | "
                f"{lv.p99_ms:.1f} | {cpu} | {lv.client_cpu_ms_per_image:.1f} | {lv.errors} |"
            )
    lines += [
        "",
        f"Local `yolo-probs predict --engine auto` (in process, steady state): batch 1 {rates[1]:.1f} img/s "
        f"({cpu_ms[1]:.1f} CPU ms/img), batch 8 {rates[8]:.1f} img/s ({cpu_ms[8]:.1f} CPU ms/img); "
        f"the CLI as a subprocess, start-up included: {cli_s:.1f} s "
        f"({n / cli_s:.1f} img/s).",
        "",
        "Server start-up to ready: " + ", ".join(f"{r.name} {r.start_s:.1f} s" for r in runs) + ".",
        "",
        f"serve's answers vs local predict: {check}.",
        "",
        "| goal | measured | met |",
        "|---|---:|:---:|",
        *(f"| {g} | {v} | {'yes' if ok else 'no'} |" for g, v, ok in goal_rows),
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="checkpoint; default: yolo26n-cls built from its YAML (untrained)")
    parser.add_argument("--n", type=int, default=200, help="number of JPEGs")
    parser.add_argument("--levels", type=int, nargs="+", default=list(LEVELS), help="concurrent clients")
    parser.add_argument("--passes", type=int, default=3, help="times each image is sent per level (a steadier p99)")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds of local predict")
    parser.add_argument("--max-batch", type=int, default=32, help="serve's --max-batch")
    parser.add_argument("--client", choices=["raw", "httpx"], default="raw", help="the load generator's HTTP client")
    parser.add_argument("--quick", action="store_true", help="24 images, 1 and 8 clients, 1 round")
    parser.add_argument(
        "--out", type=Path, default=ROOT / "runs" / "bench_serve" / "bench_serve", help="OUT.md and OUT.json"
    )
    args = parser.parse_args()
    if args.quick:
        args.n, args.levels, args.rounds = min(args.n, 24), [c for c in args.levels if c <= 8], 1

    from bench_predict import logging_off

    logging_off()
    load_before = [round(x, 2) for x in os.getloadavg()]
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        folder, model, images = speed_images(tmp, args.n, args.model)

        rates, cpu_ms, local, engine = local_predict(model, folder, args.rounds)
        cli_s = cli_predict(model, folder, tmp / "predict.json")
        print(f"predict (CLI subprocess, start-up included): {cli_s:.1f} s", flush=True)

        port = free_port()
        serve_cmd = [
            sys.executable,
            "-m",
            "yolo_probs",
            "serve",
            "-m",
            model,
            "--engine",
            "auto",
            "--imgsz",
            str(IMGSZ),
        ]
        serve_cmd += ["--device", "cpu", "--max-batch", str(args.max_batch), "--host", "127.0.0.1", "--port", str(port)]
        ours, answers = run_server(
            "serve", serve_cmd, f"http://127.0.0.1:{port}", "/ready", images, args, tmp / "serve.log"
        )
        check = check_records(answers, local)
        ours.records_check = check
        print(f"serve's answers vs local predict: {check}", flush=True)

        port = free_port()
        plain_cmd = [
            sys.executable,
            str(ROOT / "benchmarks" / "plain_server.py"),
            model,
            "--port",
            str(port),
            "--imgsz",
            str(IMGSZ),
        ]
        plain, _ = run_server(
            "plain", plain_cmd, f"http://127.0.0.1:{port}", "/health", images, args, tmp / "plain.log"
        )

    reference = max(rates.values())
    goal_rows = goals(ours, plain, reference)
    load_after = [round(x, 2) for x in os.getloadavg()]
    cpus = os.cpu_count() or 1
    context = {
        "cpus": cpus,
        "load_before": load_before,
        "load_after": load_after,
        "shared": max(load_before[0], load_after[0]) > 0.5 * cpus,
        "python": platform.python_version(),
        "machine": platform.machine(),
    }
    md = table([ours, plain], rates, cpu_ms, cli_s, args.n, engine, check, goal_rows, context)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    md_path, json_path = args.out.with_suffix(".md"), args.out.with_suffix(".json")
    md_path.write_text(md)
    figures = {
        "images": args.n,
        "imgsz": IMGSZ,
        "engine": engine,
        "passes": args.passes,
        "client": args.client,
        "predict_images_per_s": {str(k): v for k, v in rates.items()},
        "predict_cpu_ms_per_image": {str(k): v for k, v in cpu_ms.items()},
        "predict_cli_seconds": cli_s,
        "servers": {r.name: {"start_s": r.start_s, "levels": [lv.row() for lv in r.levels]} for r in (ours, plain)},
        "records_check": check,
        "goals": [{"goal": g, "measured": v, "met": ok} for g, v, ok in goal_rows],
        "context": context,
    }
    json_path.write_text(json.dumps(figures, indent=2) + "\n")
    print("\n" + md)
    print(f"wrote {md_path} and {json_path}")


if __name__ == "__main__":
    main()
