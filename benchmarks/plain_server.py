"""The baseline of ``bench_serve.py``: a FastAPI + ``ultralytics.YOLO`` classifier as its users write it.

One image per request (a multipart ``file`` field), the model loaded once at import and called in the
endpoint, the top-5 classes and probabilities returned. The endpoint is ``async def``, as in most
published examples: the model then runs on the event loop, one request at a time, which is also the
only safe way to share one ``YOLO`` object (Ultralytics' thread-safe inference guide: a model called
from several threads at once is not safe; a ``def`` endpoint would do that on FastAPI's thread pool).
No batching, no calibration, no decisions.

Usage:
    python benchmarks/plain_server.py MODEL --port 8001 [--imgsz 224]
"""

from __future__ import annotations

import argparse
import io
import os

os.environ.setdefault("YOLO_OFFLINE", "1")

import uvicorn
from fastapi import FastAPI, File, UploadFile
from PIL import Image
from ultralytics import YOLO

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("model")
parser.add_argument("--host", default="127.0.0.1")
parser.add_argument("--port", type=int, default=8001)
parser.add_argument("--imgsz", type=int, default=224)
args = parser.parse_args()

model = YOLO(args.model)
app = FastAPI()


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/predict")
async def predict(file: UploadFile = File(...)) -> dict[str, object]:  # noqa: B008  (as FastAPI documents it)
    image = Image.open(io.BytesIO(await file.read()))
    result = model(image, imgsz=args.imgsz, verbose=False)[0]
    probs = result.probs
    return {"top": [{"class": result.names[i], "prob": float(probs.data[i])} for i in probs.top5]}


if __name__ == "__main__":
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
