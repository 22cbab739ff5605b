"""FastAPI peer of mcdropout-serve's POST /predict: a Python engine (scripts/benchmarks/peers/engines.py: numpy by
default, or MCDROPOUT_ENGINE=onnxruntime) behind uvicorn.

Usage: MCDROPOUT_MODEL=models/mnist.safetensors MCDROPOUT_ENGINE=numpy OPENBLAS_NUM_THREADS=1 \
           python -m uvicorn fastapi_app:app --app-dir scripts/benchmarks/peers --workers 2 --port PORT
  (scripts/benchmarks/bench-http.sh --peer fastapi starts it so and drives it with the same wrk script as
  mcdropout-serve)

Accepts {"pixels": [784 numbers], "samples": N, "seed": S} and answers the same summary fields as mcdropout-serve
(probabilities, variance, entropies, mutual information, prediction), validated by a pydantic model, as a typical
FastAPI service would be written (async endpoint, see below). Each worker process owns one engine; a request without a seed continues that
engine's random stream.
"""
import os

import numpy as np
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel

from engines import ENGINES

engine = ENGINES[os.environ.get("MCDROPOUT_ENGINE", "numpy")](
    os.environ.get("MCDROPOUT_MODEL", "models/mnist.safetensors"), seed=os.getpid())
app = FastAPI()


class PredictRequest(BaseModel):
    pixels: list[float]
    samples: int = 100
    seed: int | None = None


@app.post("/predict")
async def predict(request: PredictRequest):
    # async: computed on the event loop, no hop to the thread pool. A worker then runs one request at a time, as
    # each of mcdropout-serve's worker threads does, and a loaded 2-core machine does not add two thread hand-offs
    # (each a wait for a time slice) to every request; a sync endpoint measured several times slower at 1 connection.
    if len(request.pixels) != engine.weights[0].shape[1] or not 1 <= request.samples <= 10000:
        raise HTTPException(status_code=400, detail="need 784 pixels and 1 <= samples <= 10000")
    if request.seed is not None:
        engine.masks = type(engine.masks)(request.seed)
    x = np.asarray(request.pixels, dtype=np.float32) / np.float32(engine.scale)
    summary = engine.predict(x, request.samples)
    return {"samples": request.samples, "prediction": summary["prediction"],
            "probabilities": summary["probabilities"].tolist(), "variance": summary["variance"].tolist(),
            "predictive_entropy": summary["predictive_entropy"], "expected_entropy": summary["expected_entropy"],
            "mutual_information": summary["mutual_information"]}


@app.get("/health")
def health():
    return {"status": "ok"}
