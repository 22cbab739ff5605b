"""Drive a running mcdropout server's gRPC port with NVIDIA's official KServe V2 client (tritonclient[grpc]).

Usage: tritonclient_grpc_check.py HOST:PORT MODEL SCENARIO [ARGUMENT]

Scenarios (each prints one JSON object on stdout; assertion failures exit non-zero):
  health        liveness, readiness, model readiness (also of an unknown model), server and model metadata, and
                the status code of metadata for an unknown model.
  infer INPUTS  infers the inputs (a JSON list of 784-pixel lists) as FP32 and as UINT8 (raw contents, the
                client's way) with samples 50, seed 3 and an uncertainty threshold of 2 nats, then with typed
                fp32_contents (built by hand, as the client only sends raw), and once asking for two outputs only;
                prints the outputs, their dtypes and the response parameters.
  errors INPUTS the status codes of bad requests: unknown model, unknown input, bad shape, bad datatype, samples
                over the limit, unknown output, batch over the limit, and a request message over the size limit.
  auth KEY      infer without a key, with a wrong one and with KEY; metadata without a key.
  drain         one costly infer (the server is stopped while it runs), then another call once it has returned.
"""
import numpy as np
import json
import sys

import tritonclient.grpc as grpcclient
from tritonclient.utils import InferenceServerException

url, model, scenario = sys.argv[1:4]
client = grpcclient.InferenceServerClient(url=url)


def status_of(call):
    """The gRPC status name and message a failing call raised."""
    try:
        call()
    except InferenceServerException as error:
        return {"status": error.status(), "message": error.message()}
    raise AssertionError("the call succeeded")


if scenario == "health":
    server = client.get_server_metadata(as_json=True)
    metadata = client.get_model_metadata(model, as_json=True)
    print(json.dumps({
        "live": client.is_server_live(),
        "ready": client.is_server_ready(),
        "model_ready": client.is_model_ready(model),
        "unknown_model_ready": client.is_model_ready("no-such-model"),
        "server": server,
        "model": metadata,
        "unknown_model_metadata": status_of(lambda: client.get_model_metadata("no-such-model")),
        "wrong_version_metadata": status_of(lambda: client.get_model_metadata(model, model_version="7")),
    }))
elif scenario == "infer":
    with open(sys.argv[4]) as f:
        pixels = np.array(json.load(f), dtype=np.float32)
    names = ["probabilities", "variance", "predictive_entropy", "mutual_information", "prediction", "uncertain",
             "uncertainty_triggered"]
    parameters = {"samples": 50, "seed": 3, "uncertainty_threshold": 2.0}
    results = {}
    for mode, datatype in [("fp32", "FP32"), ("uint8", "UINT8")]:
        data = pixels if datatype == "FP32" else pixels.astype(np.uint8)
        tensor = grpcclient.InferInput("pixels", list(data.shape), datatype)
        tensor.set_data_from_numpy(data)
        response = client.infer(model, [tensor], request_id=f"id-{mode}", parameters=parameters)
        message = response.get_response(as_json=True)
        results[mode] = {
            "outputs": {name: response.as_numpy(name).tolist() for name in names},
            "dtypes": {name: str(response.as_numpy(name).dtype) for name in names},
            "shapes": {name: list(response.as_numpy(name).shape) for name in names},
            "id": message["id"],
            "parameters": message["parameters"],
            "output_names": [output["name"] for output in message["outputs"]],
            "triggered_scores": [output.get("parameters", {}) for output in message["outputs"]
                                 if output["name"] == "uncertainty_triggered"],
        }
    # Typed contents: tritonclient always sends raw_input_contents, so build the request message by hand.
    from tritonclient.grpc import service_pb2
    request = service_pb2.ModelInferRequest(model_name=model)
    request.parameters["samples"].int64_param = 50
    request.parameters["seed"].int64_param = 3
    tensor = request.inputs.add(name="pixels", datatype="FP32", shape=list(pixels.shape))
    tensor.contents.fp32_contents.extend(pixels.flatten().tolist())
    request.outputs.add(name="probabilities")
    typed = client._client_stub.ModelInfer(request)
    results["fp32_contents"] = np.frombuffer(typed.raw_output_contents[0], dtype=np.float32).reshape(
        len(pixels), -1).tolist()
    tensor = grpcclient.InferInput("pixels", list(pixels.shape), "FP32")
    tensor.set_data_from_numpy(pixels)
    requested = [grpcclient.InferRequestedOutput("mutual_information"), grpcclient.InferRequestedOutput("prediction")]
    response = client.infer(model, [tensor], outputs=requested, parameters={"samples": 50, "seed": 3})
    results["requested"] = {
        "names": [output["name"] for output in response.get_response(as_json=True)["outputs"]],
        "prediction": response.as_numpy("prediction").tolist(),
    }
    print(json.dumps(results))
elif scenario == "errors":
    with open(sys.argv[4]) as f:
        pixels = np.array(json.load(f), dtype=np.float32)

    def infer(name="pixels", data=pixels, datatype="FP32", model_name=model, outputs=None, **parameters):
        tensor = grpcclient.InferInput(name, list(data.shape), datatype)
        tensor.set_data_from_numpy(data)
        requested = [grpcclient.InferRequestedOutput(output) for output in outputs] if outputs else None
        return lambda: client.infer(model_name, [tensor], outputs=requested, parameters=parameters or None)

    print(json.dumps({
        "unknown_model": status_of(infer(model_name="no-such-model")),
        "unknown_input": status_of(infer(name="image")),
        "bad_shape": status_of(infer(data=pixels[:, :100])),
        "bad_datatype": status_of(infer(data=pixels.astype(np.float64), datatype="FP64")),
        "pixel_range": status_of(infer(data=pixels + 300)),
        "samples_over_limit": status_of(infer(samples=1_000_000)),
        "seed_not_integer": status_of(infer(seed="x")),
        "unknown_output": status_of(infer(outputs=["logits"])),
        "batch_over_limit": status_of(infer(data=np.repeat(pixels[:1], 300, axis=0))),
        "message_too_large": status_of(infer(data=np.repeat(pixels[:1], 2000, axis=0))),
    }))
elif scenario == "auth":
    key = sys.argv[4]
    tensor = grpcclient.InferInput("pixels", [1, 784], "FP32")
    tensor.set_data_from_numpy(np.zeros((1, 784), np.float32))
    infer = lambda headers: client.infer(model, [tensor], headers=headers)
    response = infer({"authorization": f"Bearer {key}"})
    print(json.dumps({
        "missing": status_of(lambda: infer(None)),
        "wrong": status_of(lambda: infer({"authorization": "Bearer wrong-key-wrong-key"})),
        "right_shape": list(response.as_numpy("probabilities").shape),
        "metadata_without_key": client.get_model_metadata(model, as_json=True)["name"],
    }))
elif scenario == "drain":
    tensor = grpcclient.InferInput("pixels", [64, 784], "FP32")
    tensor.set_data_from_numpy(np.full((64, 784), 128, np.float32))
    response = client.infer(model, [tensor], parameters={"samples": 4000, "seed": 1})
    print(json.dumps({
        "in_flight": list(response.as_numpy("probabilities").shape),
        "after": status_of(lambda: client.is_server_live()),
    }))
else:
    raise SystemExit(f"unknown scenario {scenario}")
