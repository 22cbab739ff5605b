"""Check the KServe manifests in deploy/kserve and the MCDROPOUT_* settings in deploy/ against the server.

Usage: kserve-check.py [--crd-dir DIR] [--server BINARY] [--kubernetes-validate PATH]
  (scripts/checks/deploy-check.sh runs it with the project venv, which has PyYAML, jsonschema and kubernetes-validate)

1. Consistency: the InferenceService names the ServingRuntime, a model format it supports and the V2 protocol it
   speaks; the runtime's probes use the V2 health routes; its --model path is the file named after the
   InferenceService (so the V2 model name is the InferenceService name).
2. Every MCDROPOUT_* variable and --option used anywhere in deploy/ (ConfigMap, ServingRuntime, Dockerfile, systemd
   unit) is one mcdropout-serve accepts (read from Sources/mcdropout-serve/ServeCommand.swift).
3. The core Kubernetes objects embedded in the KServe resources — the runtime's containers and the predictor's model
   container fields — are wrapped in Pods and validated by kubernetes-validate --strict.
4. With --crd-dir (a KServe checkout's config/crd/full), each resource is validated against its CRD's
   openAPIV3Schema, with unknown fields rejected wherever the schema does not preserve them.
5. With --server (a built mcdropout-serve), runs it the way KServe would: the runtime container's args and env with
   {{.Name}} = the InferenceService name and /mnt/models = a directory holding models/mnist.safetensors under that
   name (only the port is moved to a free loopback one); the probes' paths must answer 200, V2 inference at
   /v2/models/<InferenceService name>/infer must answer, and SIGTERM must end it with status 0.
Prints what it checked; exits 1 on any failure.
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
failures = []


def check(condition: bool, message: str) -> None:
    print(f"  {'ok  ' if condition else 'FAIL'} {message}")
    if not condition:
        failures.append(message)


def server_options() -> set:
    """The long names of ServeCommand's @Option/@Flag properties (ArgumentParser's default: the property name in
    kebab case, unless a customLong name is given; a .prefixedNo flag also has its --no- form)."""
    source = (ROOT / "Sources" / "mcdropout-serve" / "ServeCommand.swift").read_text()
    options = set()
    for attributes, name in re.findall(r"@(?:Option|Flag)\((.*?)\)\s*var (\w+)", source, re.S):
        custom = re.search(r'customLong\("([a-z-]+)"\)', attributes)
        option = custom.group(1) if custom else re.sub(r"(?<!^)([A-Z])", r"-\1", name).lower()
        options.add(option)
        if ".prefixedNo" in attributes:
            options.add("no-" + option)
    return options


def strict(schema):
    """Rejects unknown properties wherever a CRD schema lists properties and does not preserve unknown fields."""
    if isinstance(schema, dict):
        schema = {key: strict(value) for key, value in schema.items()}
        if "properties" in schema and not schema.get("x-kubernetes-preserve-unknown-fields") \
                and "additionalProperties" not in schema:
            schema["additionalProperties"] = False
        return schema
    if isinstance(schema, list):
        return [strict(item) for item in schema]
    return schema


def validate_against_crd(resource: dict, crd_dir: Path) -> None:
    import jsonschema
    group, version = resource["apiVersion"].split("/")
    kind = resource["kind"]
    for path in sorted(crd_dir.glob(f"{group}_*.yaml")):
        crd = yaml.safe_load(path.read_text())
        if crd.get("kind") != "CustomResourceDefinition" or crd["spec"]["names"]["kind"] != kind:
            continue
        schema = next(v["schema"]["openAPIV3Schema"] for v in crd["spec"]["versions"] if v["name"] == version)
        schema = strict(schema)
        schema["properties"]["metadata"] = {"type": "object"}
        errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(resource), key=lambda e: list(e.path))
        for error in errors[:5]:
            print(f"       {'/'.join(map(str, error.path))}: {error.message[:200]}")
        check(not errors, f"{kind} {resource['metadata']['name']} matches {path.name} ({version})")
        return
    check(False, f"no CRD for {kind} in {crd_dir}")


def run_like_kserve(binary: Path, runtime: dict, service: dict) -> None:
    container = runtime["spec"]["containers"][0]
    name = service["metadata"]["name"]
    with tempfile.TemporaryDirectory() as models:
        shutil.copy(ROOT / "models" / "mnist.safetensors", Path(models) / f"{name}.safetensors")
        args = [a.replace("{{.Name}}", name).replace("/mnt/models", models) for a in container["args"]]
        args = [a for a in args if not a.startswith(("--port", "--host", "--grpc-port"))]
        args += ["--host=127.0.0.1", "--port=0"]  # gRPC ("auto") then takes a free port too
        env = {**os.environ, **{e["name"]: e["value"] for e in container.get("env", [])}}
        process = subprocess.Popen([str(binary), *args], stdout=subprocess.PIPE, text=True, env=env)
        try:
            line = process.stdout.readline()
            match = re.search(r"http://127\.0\.0\.1:(\d+)", line)
            check(match is not None, f"starts with the runtime's args {args[:1]} ... ({line.strip()})")
            if not match:
                return
            url = f"http://127.0.0.1:{match.group(1)}"
            for probe in ("readinessProbe", "livenessProbe"):
                path = container[probe]["httpGet"]["path"]
                with urllib.request.urlopen(url + path, timeout=10) as response:
                    check(response.status == 200, f"{probe} GET {path}: {response.status}")
            body = {"inputs": [{"name": "pixels", "shape": [1, 784], "datatype": "FP32", "data": [0.0] * 784}],
                    "parameters": {"samples": 10, "seed": 1}}
            request = urllib.request.Request(f"{url}/v2/models/{name}/infer", data=json.dumps(body).encode())
            with urllib.request.urlopen(request, timeout=30) as response:
                answer = json.loads(response.read())
            check(answer.get("model_name") == name and any(o["name"] == "probabilities" for o in answer["outputs"]),
                  f"POST /v2/models/{name}/infer answers for the InferenceService's name")
        finally:
            process.terminate()
            status = process.wait(timeout=60)
        check(status == 0, f"SIGTERM: exit status {status}")


def main() -> None:
    parser = argparse.ArgumentParser(usage=__doc__.split("\n\n")[1].split("\n  (")[0][len("Usage: "):])
    parser.add_argument("--crd-dir", type=Path)
    parser.add_argument("--server", type=Path)
    parser.add_argument("--kubernetes-validate", default="kubernetes-validate")
    args = parser.parse_args()

    runtime = yaml.safe_load((DEPLOY / "kserve" / "servingruntime.yaml").read_text())
    service = yaml.safe_load((DEPLOY / "kserve" / "inferenceservice.yaml").read_text())

    print("KServe consistency:")
    check(runtime["apiVersion"] == "serving.kserve.io/v1alpha1" and runtime["kind"] == "ServingRuntime",
          "ServingRuntime is serving.kserve.io/v1alpha1")
    check(service["apiVersion"] == "serving.kserve.io/v1beta1" and service["kind"] == "InferenceService",
          "InferenceService is serving.kserve.io/v1beta1")
    model = service["spec"]["predictor"]["model"]
    check(model.get("runtime") == runtime["metadata"]["name"], "the InferenceService names the runtime")
    formats = {(f["name"], f.get("version")) for f in runtime["spec"]["supportedModelFormats"]}
    check((model["modelFormat"]["name"], model["modelFormat"].get("version")) in formats,
          f"the runtime supports model format {model['modelFormat']}")
    check(model.get("protocolVersion") == "v2" and "v2" in runtime["spec"]["protocolVersions"],
          "both use the V2 inference protocol")
    container = runtime["spec"]["containers"][0]
    check(container["name"] == "kserve-container", "the runtime's container is named kserve-container")
    check(container["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
          and container["livenessProbe"]["httpGet"]["path"] == "/v2/health/live",
          "probes use the V2 health routes")
    check("--model=/mnt/models/{{.Name}}.safetensors" in container["args"],
          "the runtime serves /mnt/models/<InferenceService name>.safetensors (V2 model name = service name)")
    check(model["storageUri"].endswith(f"/{service['metadata']['name']}.safetensors"),
          "storageUri names the file <InferenceService name>.safetensors")

    print("mcdropout-serve options used in deploy/:")
    options = server_options()
    used = set()
    for path in [*DEPLOY.rglob("*.yaml"), DEPLOY / "Dockerfile", *DEPLOY.rglob("*.service")]:
        text = path.read_text()
        for name in re.findall(r"\bMCDROPOUT_([A-Z_]+)", text):
            used.add((name.lower().replace("_", "-"), f"MCDROPOUT_{name} in {path.relative_to(ROOT)}"))
    for argument in container["args"]:
        used.add((argument[2:].split("=")[0], f"{argument.split('=')[0]} in the ServingRuntime"))
    for option, where in sorted(used):
        check(option in options, where)

    print("core objects embedded in the KServe resources (kubernetes-validate --strict):")
    with tempfile.TemporaryDirectory() as directory:
        pods = []
        for i, embedded in enumerate(runtime["spec"]["containers"]):
            pods.append((f"runtime-container-{i}", [embedded]))
        fields = {k: v for k, v in model.items() if k not in ("modelFormat", "runtime", "protocolVersion",
                                                               "storageUri")}
        pods.append(("predictor-model", [{"name": "kserve-container", "image": container["image"], **fields}]))
        paths = []
        for name, containers in pods:
            path = Path(directory) / f"{name}.yaml"
            path.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
                                            "spec": {"containers": containers}}))
            paths.append(str(path))
        result = subprocess.run([args.kubernetes_validate, "--strict", "--quiet", *paths], capture_output=True,
                                text=True)
        output = (result.stdout + result.stderr).strip()
        if output:
            print("       " + output.replace("\n", "\n       "))
        check(result.returncode == 0 and "ERROR" not in output,
              "ServingRuntime containers and the predictor's container fields are valid core/v1 Containers")

    if args.crd_dir:
        print(f"KServe CRD schemas ({args.crd_dir}):")
        validate_against_crd(runtime, args.crd_dir)
        validate_against_crd(service, args.crd_dir)

    if args.server:
        print(f"the runtime's container as KServe would run it ({args.server}):")
        run_like_kserve(args.server, runtime, service)

    print(json.dumps({"kserve_check": "ok" if not failures else "failed", "failures": failures}))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
