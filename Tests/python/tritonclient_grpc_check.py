"""Drive a running mcdropout server's gRPC port with NVIDIA's official KServe V2 client (tritonclient[grpc]).

Usage: tritonclient_grpc_check.py HOST:PORT MODEL SCENARIO [ARGUMENT]

Scenarios (each prints one JSON object on stdout; assertion failures exit non-zero):
  health        liveness, readiness, model readiness (also of an unknown model), server and model metadata, and
                the status code of metadata for an unknown model.
"""
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
else:
    raise SystemExit(f"unknown scenario {scenario}")
