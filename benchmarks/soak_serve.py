"""A bounded soak of ``yolo-probs serve``: steady load for some minutes, flat memory and no error.

Starts ``yolo-probs serve -m MODEL --engine auto`` in a subprocess (the model as in ``bench_serve.py``:
an untrained yolo26n-cls at imgsz 224, or ``--model``), warms it up, then keeps ``--clients``
concurrent clients sending the speed benchmark's JPEGs (one per request, round and round) for
``--minutes``, while sampling the server's resident memory (RSS) every ``--every`` seconds.

It fails (exit 1) if any request errs, or if the memory grew: the median RSS of the last fifth of
the run against the highest RSS of the first fifth (allocators and caches settle early), by more
than ``--max-growth-mib``. It prints and writes (``OUT.md``, ``OUT.json``) the requests, images/s,
p50/p99 latency, the RSS at start, end and peak, the growth and its slope (MiB per minute, a least
squares fit over the samples after the first fifth).

Usage:
    python benchmarks/soak_serve.py                    # 2 minutes, 8 clients
    python benchmarks/soak_serve.py --minutes 10       # the figure of the docs
    python benchmarks/soak_serve.py --minutes 0.3 --n 16   # a smoke test
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_VERBOSE", "False")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_serve import IMGSZ, Process, free_port, quantile, speed_images  # noqa: E402


@dataclass
class Soak:
    """What a soak measured."""

    minutes: float
    clients: int
    requests: int
    errors: int
    first_error: str | None
    images_per_s: float
    p50_ms: float
    p99_ms: float
    rss_start_mib: float
    rss_end_mib: float
    rss_peak_mib: float
    growth_mib: float
    slope_mib_per_min: float
    max_growth_mib: float
    samples: list[tuple[float, float]]

    @property
    def passed(self) -> bool:
        return self.errors == 0 and self.growth_mib <= self.max_growth_mib


async def load(
    server: Process, images: list[tuple[str, bytes]], clients: int, seconds: float, every: float
) -> tuple[list[float], int, str | None, list[tuple[float, float]]]:
    """Keep ``clients`` clients busy for ``seconds``; the latencies, errors, first error and RSS samples."""
    import httpx

    latencies: list[float] = []
    errors = 0
    first_error: str | None = None
    samples: list[tuple[float, float]] = []
    start = time.perf_counter()
    deadline = start + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)

    async def sample() -> None:
        while time.perf_counter() < deadline:
            rss = server.rss_mib()
            if rss is not None:
                samples.append((time.perf_counter() - start, rss))
            await asyncio.sleep(every)

    async with httpx.AsyncClient(base_url=server.url, limits=limits, timeout=120.0) as client:

        async def one_client(offset: int) -> None:
            nonlocal errors, first_error
            i = offset
            while time.perf_counter() < deadline:
                name, data = images[i % len(images)]
                i += clients
                t0 = time.perf_counter()
                try:
                    r = await client.post("/predict", files={"file": (name, data, "image/jpeg")})
                    why = None if r.status_code == 200 else f"HTTP {r.status_code}: {r.text[:200]}"
                except httpx.HTTPError as exc:
                    why = f"{type(exc).__name__}: {exc}"
                latencies.append(time.perf_counter() - t0)
                if why is not None:
                    errors += 1
                    first_error = first_error or why

        await asyncio.gather(sample(), *(one_client(c) for c in range(clients)))
    return latencies, errors, first_error, samples


def slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, MiB), in MiB per minute (0 with fewer than 2 points)."""
    if len(points) < 2:
        return 0.0
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    return 0.0 if sxx == 0 else 60 * sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx


def summarize(
    latencies: list[float],
    errors: int,
    first_error: str | None,
    samples: list[tuple[float, float]],
    args: argparse.Namespace,
    seconds: float,
) -> Soak:
    fifth = max(1, len(samples) // 5)
    early, late = samples[:fifth], samples[-fifth:]
    settled = max(rss for _, rss in early)
    end = statistics.median(rss for _, rss in late)
    return Soak(
        minutes=seconds / 60,
        clients=args.clients,
        requests=len(latencies),
        errors=errors,
        first_error=first_error,
        images_per_s=(len(latencies) - errors) / seconds,
        p50_ms=1000 * quantile(latencies, 0.5),
        p99_ms=1000 * quantile(latencies, 0.99),
        rss_start_mib=samples[0][1],
        rss_end_mib=end,
        rss_peak_mib=max(rss for _, rss in samples),
        growth_mib=end - settled,
        slope_mib_per_min=slope(samples[fifth:]),
        max_growth_mib=args.max_growth_mib,
        samples=[(round(t, 1), round(m, 1)) for t, m in samples],
    )


def report(soak: Soak, cpus: int, load_avg: list[float]) -> str:
    verdict = "PASSED" if soak.passed else "FAILED"
    return "\n".join(
        [
            f"# soak_serve: {soak.minutes:.1f} min, {soak.clients} clients, imgsz {IMGSZ}, {cpus} cores: {verdict}",
            "",
            f"Load average at the end: {load_avg}",
            "",
            "| requests | errors | img/s | p50 ms | p99 ms | RSS start MiB | RSS end MiB | RSS peak MiB "
            "| growth MiB | slope MiB/min |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
            f"| {soak.requests} | {soak.errors} | {soak.images_per_s:.1f} | {soak.p50_ms:.1f} | {soak.p99_ms:.1f} | "
            f"{soak.rss_start_mib:.1f} | {soak.rss_end_mib:.1f} | {soak.rss_peak_mib:.1f} | {soak.growth_mib:+.1f} | "
            f"{soak.slope_mib_per_min:+.2f} |",
            "",
            "Bound: growth (median RSS of the last fifth minus the peak of the first fifth) "
            f"<= {soak.max_growth_mib:g} MiB, "
            "and no request error." + (f" First error: {soak.first_error}" if soak.first_error else ""),
            "",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="checkpoint; default: yolo26n-cls built from its YAML (untrained)")
    parser.add_argument("--minutes", type=float, default=2.0, help="minutes of steady load")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients")
    parser.add_argument("--n", type=int, default=200, help="number of JPEGs")
    parser.add_argument("--every", type=float, default=2.0, help="seconds between RSS samples")
    parser.add_argument("--max-growth-mib", type=float, default=32.0, help="allowed RSS growth (MiB)")
    parser.add_argument(
        "--out", type=Path, default=ROOT / "runs" / "soak_serve" / "soak_serve", help="OUT.md and OUT.json"
    )
    args = parser.parse_args()
    if args.minutes <= 0 or args.clients < 1 or args.n < 1 or args.every <= 0:
        parser.error("--minutes, --every must be above 0; --clients, --n at least 1")

    from bench_predict import logging_off

    logging_off()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        _, model, images = speed_images(tmp, args.n, args.model)
        port = free_port()
        cmd = [sys.executable, "-m", "yolo_probs", "serve", "-m", model, "--engine", "auto", "--imgsz", str(IMGSZ)]
        cmd += ["--device", "cpu", "--host", "127.0.0.1", "--port", str(port)]
        server = Process(cmd, f"http://127.0.0.1:{port}", "/ready", tmp / "serve.log")
        try:
            asyncio.run(load(server, images, args.clients, min(10.0, 60 * args.minutes), args.every))  # warm-up
            print(f"soaking for {args.minutes:g} minutes with {args.clients} clients...", flush=True)
            t0 = time.perf_counter()
            latencies, errors, first_error, samples = asyncio.run(
                load(server, images, args.clients, 60 * args.minutes, args.every)
            )
            seconds = time.perf_counter() - t0
            alive = server.proc.poll() is None
        finally:
            server.stop()
        if not alive:
            errors, first_error = errors + 1, first_error or "the server process died"
    soak = summarize(latencies, errors, first_error, samples, args, seconds)
    md = report(soak, os.cpu_count() or 1, [round(x, 2) for x in os.getloadavg()])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".md").write_text(md)
    args.out.with_suffix(".json").write_text(json.dumps(asdict(soak) | {"passed": soak.passed}, indent=2) + "\n")
    print(md)
    print(f"wrote {args.out.with_suffix('.md')} and {args.out.with_suffix('.json')}")
    sys.exit(0 if soak.passed else 1)


if __name__ == "__main__":
    main()
