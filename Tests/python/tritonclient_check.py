"""Drive a running mcdropout server with NVIDIA's official KServe V2 client (tritonclient[http]).

Usage: tritonclient_check.py HOST:PORT MODEL INPUTS.json

Checks health, readiness and metadata, then infers the inputs (a JSON list of 784-pixel lists) three ways:
FP32 binary tensors (the client's default), FP32 JSON, and UINT8 binary, with an uncertainty threshold of 2 nats on
predictive entropy (so the BOOL output 'uncertain' is offered); then Triton's extensions beyond infer: model
configuration, inference statistics (which must count the three requests of two inputs each), the read-only
repository index, and a refused model load and unload. Prints the outputs and what the extensions returned as JSON.
"""
import json
import sys

import numpy as np
import tritonclient.http as httpclient

url, model, inputs_path = sys.argv[1:4]
client = httpclient.InferenceServerClient(url=url)
assert client.is_server_live(), "server not live"
assert client.is_server_ready(), "server not ready"
assert client.is_model_ready(model), "model not ready"
metadata = client.get_model_metadata(model)
assert metadata["inputs"][0]["name"] == "pixels", metadata

with open(inputs_path) as f:
    pixels = np.array(json.load(f), dtype=np.float32)
names = ["probabilities", "variance", "predictive_entropy", "expected_entropy", "mutual_information", "prediction", "uncertain"]
results = {}
for mode, datatype, binary in [("fp32_binary", "FP32", True), ("fp32_json", "FP32", False), ("uint8_binary", "UINT8", True)]:
    data = pixels if datatype == "FP32" else pixels.astype(np.uint8)
    tensor = httpclient.InferInput("pixels", list(data.shape), datatype)
    tensor.set_data_from_numpy(data, binary_data=binary)
    outputs = [httpclient.InferRequestedOutput(name, binary_data=binary) for name in names]
    response = client.infer(model, [tensor], outputs=outputs, request_id=f"id-{mode}", parameters={"samples": 50, "seed": 3, "uncertainty_threshold": 2.0})
    assert response.get_response()["id"] == f"id-{mode}"
    results[mode] = {name: response.as_numpy(name).tolist() for name in names}
    assert response.as_numpy("probabilities").shape == (len(pixels), 10)
    assert response.as_numpy("prediction").dtype == np.int64
    assert response.as_numpy("uncertain").dtype == np.bool_
    assert response.get_response()["parameters"]["uncertainty_score"] == "predictive_entropy"

try:
    client.infer("no-such-model", [tensor])
    raise AssertionError("unknown model accepted")
except httpclient.InferenceServerException as error:
    results["unknown_model_error"] = str(error)

# Triton's extensions beyond infer.
config = client.get_model_config(model)
assert config["name"] == model and config["max_batch_size"] >= 1, config
assert config["input"][0] == {"name": "pixels", "data_type": "TYPE_FP32", "format": "FORMAT_NONE", "dims": [784]}, config
outputs = {output["name"]: output for output in config["output"]}
assert outputs["probabilities"]["dims"] == [10] and outputs["prediction"]["data_type"] == "TYPE_INT64", outputs
statistics = client.get_inference_statistics(model)["model_stats"]
assert [entry["name"] for entry in statistics] == [model], statistics
results["statistics"] = statistics[0]
assert [entry["name"] for entry in client.get_inference_statistics()["model_stats"]] == [model]
index = client.get_model_repository_index()
assert index == [{"name": model, "version": "1", "state": "READY"}], index
try:
    client.load_model(model)
    raise AssertionError("load_model accepted")
except httpclient.InferenceServerException as error:
    results["load_error"] = str(error)
try:
    client.unload_model(model)
    raise AssertionError("unload_model accepted")
except httpclient.InferenceServerException as error:
    results["unload_error"] = str(error)
print(json.dumps(results))
