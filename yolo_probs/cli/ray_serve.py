"""``yolo-probs serve --ray [ADDRESS] --replicas N``: the serve API as a Ray Serve deployment.

The address is checked and the model loaded once here (a bad one is a one-line usage error before
any replica starts), then the cluster is joined (or a local one started), the deployment runs
(:func:`yolo_probs.serve.ray_serve.run`) and this process waits; Ctrl-C or SIGTERM stops Ray Serve.
"""

from __future__ import annotations

import signal
import threading

from yolo_probs._util.console import note, warn
from yolo_probs.integrations.ray import check_address, connect, require_ray
from yolo_probs.serve.ray_serve import require_serve, run, shutdown
from yolo_probs.serve.server import load_classifier
from yolo_probs.serve.settings import API_KEY_ENV, ServeSettings


def serve_on_ray(settings: ServeSettings, *, address: str, replicas: int, host: str, port: int) -> None:
    """Deploy ``settings``' model on the Ray cluster at ``address`` with ``replicas`` replicas; serve until stopped."""
    require_ray()
    require_serve()
    check_address(address)  # before the (slow) model load
    load_classifier(settings).close()  # a bad model or option fails here, with the local run's message
    connect(address)
    run(settings, replicas=replicas, host=host, port=port)
    what = settings.profile or settings.model or "the default model"
    shown = f"[{host}]" if ":" in host else host
    note(f"serving {what} on Ray Serve, {replicas} replica(s), at http://{shown}:{port} (Ctrl-C stops)")
    if settings.api_key is None and host not in ("127.0.0.1", "localhost", "::1"):
        warn(f"no API key while listening on {host}; set {API_KEY_ENV} or --api-key")
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        stop.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        note("stopping Ray Serve")
        shutdown()
