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
  extensions INPUTS
                what tritonclient_check.py checks of Triton's extensions, over gRPC: three requests of two inputs
                each, then model configuration, statistics (of the model and of all), the repository index and the
                refused load / unload, with the status codes of their bad requests.
  compare HTTP  server and model metadata, configuration, statistics and repository index over gRPC and over HTTP
                (tritonclient.http at HOST:PORT HTTP), and where they differ beyond proto3's encoding.
  unimplemented the status of RPCs the server does not serve (shared memory, trace and log settings, streaming),
                each with a 10-second client deadline so that a hang shows as DEADLINE_EXCEEDED.
  deadline      an infer with a 0.5-second deadline (the test holds it in the queue past it), then one with 60.
  auth_all KEY  with keys on every route: configuration, statistics and index without a key and with KEY.
"""
import json
import queue
import sys

import grpc
import numpy as np
import tritonclient.grpc as grpcclient
from tritonclient.grpc import service_pb2
from tritonclient.utils import InferenceServerException

url, model, scenario = sys.argv[1:4]
client = grpcclient.InferenceServerClient(url=url)


def status_of(call):
    """The gRPC status name and message a failing call raised (through tritonclient or the raw stub)."""
    try:
        call()
    except InferenceServerException as error:
        return {"status": error.status(), "message": error.message()}
    except grpc.RpcError as error:
        return {"status": str(error.code()), "message": error.details()}
    raise AssertionError("the call succeeded")


def plain(message):
    """A protobuf message as plain JSON values, the way Triton's HTTP JSON shows the same data: every field with
    its value (defaults included), int64 as numbers, enums by name, unset sub-messages left out."""
    result = {}
    for field in message.DESCRIPTOR.fields:
        value = getattr(message, field.name)
        # `is_repeated` since protobuf 5.29 (`label` is deprecated there); `label` before.
        repeated = field.is_repeated if hasattr(field, "is_repeated") else field.label == field.LABEL_REPEATED
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            is_message = field.message_type.fields_by_name["value"].message_type is not None
            result[field.name] = {key: plain(item) if is_message else item for key, item in value.items()}
        elif field.message_type is not None:
            if repeated:
                result[field.name] = [plain(item) for item in value]
            elif message.HasField(field.name):
                result[field.name] = plain(value)
        elif field.enum_type is not None:
            name = lambda number: field.enum_type.values_by_number[number].name
            result[field.name] = [name(item) for item in value] if repeated else name(value)
        else:
            result[field.name] = list(value) if repeated else value
    return result


def differences(http, grpc_value, path="$"):
    """Where the gRPC form differs from the HTTP one. A field only gRPC has must hold its default (proto3 has no
    absent scalars and the HTTP form leaves such fields out); anything HTTP has, gRPC must have equal."""
    if isinstance(http, dict) and isinstance(grpc_value, dict):
        found = [f"{path}.{key}: missing over gRPC" for key in http if key not in grpc_value]
        found += [f"{path}.{key}: only over gRPC, {grpc_value[key]!r}" for key in grpc_value
                  if key not in http and grpc_value[key]]
        for key in http:
            if key in grpc_value:
                found += differences(http[key], grpc_value[key], f"{path}.{key}")
        return found
    if isinstance(http, list) and isinstance(grpc_value, list):
        if len(http) != len(grpc_value):
            return [f"{path}: {len(http)} entries over HTTP, {len(grpc_value)} over gRPC"]
        return [found for index, (a, b) in enumerate(zip(http, grpc_value))
                for found in differences(a, b, f"{path}[{index}]")]
    return [] if http == grpc_value and type(http) is type(grpc_value) else [f"{path}: {http!r} != {grpc_value!r}"]


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
elif scenario == "extensions":
    # The assertions of tritonclient_check.py's extension part, over gRPC.
    with open(sys.argv[4]) as f:
        pixels = np.array(json.load(f), dtype=np.float32)
    parameters = {"samples": 50, "seed": 3, "uncertainty_threshold": 2.0}
    for datatype in ["FP32", "UINT8", "FP32"]:
        data = pixels if datatype == "FP32" else pixels.astype(np.uint8)
        tensor = grpcclient.InferInput("pixels", list(data.shape), datatype)
        tensor.set_data_from_numpy(data)
        assert client.infer(model, [tensor], parameters=parameters).as_numpy("probabilities").shape == (2, 10)
    results = {"unknown_model_infer": status_of(lambda: client.infer("no-such-model", [tensor]))}
    config = plain(client.get_model_config(model).config)
    assert config["name"] == model and config["max_batch_size"] >= 1, config
    pixels_input = {key: config["input"][0][key] for key in ["name", "data_type", "format", "dims"]}
    assert pixels_input == {"name": "pixels", "data_type": "TYPE_FP32", "format": "FORMAT_NONE", "dims": [784]}, config
    outputs = {output["name"]: output for output in config["output"]}
    assert outputs["probabilities"]["dims"] == [10] and outputs["prediction"]["data_type"] == "TYPE_INT64", outputs
    results["config"] = config
    statistics = plain(client.get_inference_statistics(model))["model_stats"]
    assert [entry["name"] for entry in statistics] == [model], statistics
    results["statistics"] = statistics[0]
    assert [entry["name"] for entry in plain(client.get_inference_statistics())["model_stats"]] == [model]
    index = plain(client.get_model_repository_index())["models"]
    assert index == [{"name": model, "version": "1", "state": "READY", "reason": ""}], index
    results["index"] = index
    results["load_error"] = status_of(lambda: client.load_model(model))
    results["unload_error"] = status_of(lambda: client.unload_model(model))
    results["unknown_model_config"] = status_of(lambda: client.get_model_config("no-such-model"))
    results["wrong_version_config"] = status_of(lambda: client.get_model_config(model, model_version="7"))
    results["unknown_model_statistics"] = status_of(lambda: client.get_inference_statistics("no-such-model"))
    results["wrong_version_statistics"] = status_of(lambda: client.get_inference_statistics(model, "7"))
    results["named_repository"] = status_of(
        lambda: client._client_stub.RepositoryIndex(service_pb2.RepositoryIndexRequest(repository_name="other")))
    # A truncated request message (name of 5 bytes, 2 present), sent as raw bytes on a channel of our own.
    raw = grpc.insecure_channel(url).unary_unary("/inference.GRPCInferenceService/ModelConfig")
    results["malformed_request"] = status_of(lambda: raw(b"\x0a\x05ab", timeout=10))
    print(json.dumps(results))
elif scenario == "compare":
    import tritonclient.http as httpclient
    http = httpclient.InferenceServerClient(url=sys.argv[4])
    names = [entry["name"] for entry in http.get_model_repository_index()]
    http_only = set()

    def http_metadata(name):
        """HTTP's model metadata without its `parameters` object (dataset, task, labels, dropout…), which gRPC's
        ModelMetadataResponse has no field for; the keys left out are reported."""
        metadata = http.get_model_metadata(name)
        http_only.update(key for key in ["parameters"] if metadata.pop(key, None) is not None)
        return metadata

    answers = {
        "server_metadata": (http.get_server_metadata(), plain(client.get_server_metadata())),
        "model_metadata": [(http_metadata(name), plain(client.get_model_metadata(name))) for name in names],
        "config": [(http.get_model_config(name), plain(client.get_model_config(name).config)) for name in names],
        "statistics": [(http.get_inference_statistics(name), plain(client.get_inference_statistics(name)))
                       for name in names],
        "all_statistics": (http.get_inference_statistics(), plain(client.get_inference_statistics())),
        "index": (http.get_model_repository_index(), plain(client.get_model_repository_index())["models"]),
    }
    print(json.dumps({
        "names": names,
        "http_only_metadata": sorted(http_only),
        "answers": answers,
        "differences": {key: differences([pair[0] for pair in value], [pair[1] for pair in value])
                        if isinstance(value, list) else differences(*value) for key, value in answers.items()},
    }))
elif scenario == "unimplemented":
    deadline = {"client_timeout": 10}
    results = {
        "CudaSharedMemoryStatus": status_of(lambda: client.get_cuda_shared_memory_status(**deadline)),
        "SystemSharedMemoryStatus": status_of(lambda: client.get_system_shared_memory_status(**deadline)),
        "SystemSharedMemoryRegister": status_of(
            lambda: client.register_system_shared_memory("region", "/mcdropout-none", 64, **deadline)),
        "SystemSharedMemoryUnregister": status_of(lambda: client.unregister_system_shared_memory(**deadline)),
        "TraceSetting": status_of(lambda: client.get_trace_settings(**deadline)),
        "LogSettings": status_of(lambda: client.get_log_settings(**deadline)),
        "UpdateLogSettings": status_of(lambda: client.update_log_settings({"log_verbose_level": 1}, **deadline)),
    }
    errors = queue.Queue()
    client.start_stream(callback=lambda result, error: errors.put(error), stream_timeout=10)
    tensor = grpcclient.InferInput("pixels", [1, 784], "FP32")
    tensor.set_data_from_numpy(np.zeros((1, 784), np.float32))
    client.async_stream_infer(model, [tensor])
    error = errors.get(timeout=20)
    client.stop_stream()
    results["ModelStreamInfer"] = {"status": error.status(), "message": error.message()}
    results["live_after"] = client.is_server_live()
    print(json.dumps(results))
elif scenario == "deadline":
    tensor = grpcclient.InferInput("pixels", [1, 784], "FP32")
    tensor.set_data_from_numpy(np.zeros((1, 784), np.float32))
    expired = status_of(lambda: client.infer(model, [tensor], client_timeout=0.5))
    response = client.infer(model, [tensor], client_timeout=60)
    print(json.dumps({"expired": expired, "in_time": list(response.as_numpy("probabilities").shape)}))
elif scenario == "auth_all":
    key = sys.argv[4]
    with_key = {"authorization": f"Bearer {key}"}
    print(json.dumps({
        "config_without_key": status_of(lambda: client.get_model_config(model)),
        "statistics_without_key": status_of(lambda: client.get_inference_statistics(model)),
        "index_without_key": status_of(lambda: client.get_model_repository_index()),
        "config_with_key": plain(client.get_model_config(model, headers=with_key).config)["name"],
        "statistics_with_key": len(plain(client.get_inference_statistics(headers=with_key))["model_stats"]),
        "index_with_key": len(plain(client.get_model_repository_index(headers=with_key))["models"]),
        "load_with_key": status_of(lambda: client.load_model(model, headers=with_key)),
    }))
else:
    raise SystemExit(f"unknown scenario {scenario}")
