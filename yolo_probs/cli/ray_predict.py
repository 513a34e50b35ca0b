"""``yolo-probs predict SOURCE --ray [ADDRESS]``: the same records as the local run, scored on a Ray cluster.

Local sources are expanded as the local run expands them (folders, globs, files); URIs such as
``s3://bucket/images/`` go to Ray's reader as they are. The classifier is checked once here, then
built the same way in every actor; the records come back in input order and are written here.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

import typer

from yolo_probs._util.console import error, wrote
from yolo_probs.cli.options import build_classifier
from yolo_probs.inputs.sources import STREAM_PREFIXES, ImageInput, InputFailure, expand
from yolo_probs.integrations.ray import check_address, connect, predict_files, require_ray
from yolo_probs.outputs.formats import make_writer, open_records


def _absolute(path: Any) -> Any:
    """Actors may run in another folder: name existing local files by their absolute path."""
    return os.path.abspath(path) if path is not None and os.path.exists(path) else path


def _inputs(sources: list[str]) -> tuple[list[str], list[str]]:
    """Image paths and URIs for Ray, and the failure lines for everything else."""
    paths: list[str] = []
    failures: list[str] = []
    for source in sources:
        if "://" in source and not source.startswith(STREAM_PREFIXES):
            paths.append(source)  # a bucket or other filesystem Ray's reader knows (s3://, gs://, ...)
            continue
        for item in expand(source):
            if isinstance(item, ImageInput) and "://" not in item.path:
                paths.append(item.path)
            elif isinstance(item, InputFailure):
                failures.append(str(item))
            else:
                what = getattr(item, "source", None) or getattr(item, "path", "")
                failures.append(f"{what}: --ray scores image files; classify videos, streams and URLs without --ray")
    return paths, failures


def predict_on_ray(
    sources: list[str],
    *,
    address: str,
    fmt: str,
    output: Path | None,
    logits: bool,
    model: str | None,
    profile: Path | None,
    options: dict[str, Any],
) -> None:
    """Score ``sources`` on the cluster and write the records to ``output`` (Parquet); exit 1 if some failed."""
    if fmt != "parquet":
        raise typer.BadParameter("--ray writes Parquet; pass e.g. --output out.parquet", param_hint="--output")
    require_ray()
    check_address(address)  # before the (slow) model load
    paths, failures = _inputs(sources)
    # Fail fast on a bad model or option, with the local run's messages, before any actor starts.
    with build_classifier(model=model, profile=profile, **options) as clf:
        task = clf.task
    if task != "classify":  # the cluster path writes one class distribution per image
        raise typer.BadParameter(
            f"{model or profile} is a {task} model and --ray scores classifiers; leave out --ray for its boxes",
            param_hint="--ray",
        )
    if paths:  # nothing to score: no cluster to start
        connect(address)
    factory = functools.partial(
        build_classifier,
        model=_absolute(model),
        profile=_absolute(profile),
        **{k: _absolute(v) if k == "names" else v for k, v in options.items()},
    )
    for line in failures:
        error(line)
    written, failed = 0, len(failures)
    with open_records(output, fmt) as stream:
        writer = make_writer(fmt, stream, logits)
        try:
            for record in predict_files(paths, classifier=factory, logits=logits):
                if "error" in record:
                    failed += 1
                    error(f"{record['source']}: {record['error']}")
                else:
                    writer.write_record(record)  # type: ignore[attr-defined]
                    written += 1
        finally:
            writer.close()
    if output is not None:
        wrote(output, written, "record")
    if failed:
        error(f"{failed} of {failed + written} inputs failed (listed above); the others were written")
        raise typer.Exit(1)
