"""Validates JSON instances against named schemas of the OpenAPI document (JSON Schema 2020-12, as OpenAPI 3.1).

Usage: openapi-instances.py DOCUMENT < CASES.json
  CASES is a list of {"schema": "InferRequest", "instance": {...}}; prints a list of {"valid": bool, "error": str}
  in the same order. Needs jsonschema (installed with scripts/python/requirements-api.txt). Used by
  Tests/InferenceServerTests/OpenAPIFeaturesTests.swift on real requests and responses of features models.
"""
import json
import sys

from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012


def main():
    with open(sys.argv[1]) as handle:
        document = json.load(handle)
    uri = "urn:mcdropout:openapi"
    registry = Registry().with_resource(uri, Resource(contents=document, specification=DRAFT202012))
    results = []
    for case in json.load(sys.stdin):
        validator = Draft202012Validator({"$ref": f"{uri}#/components/schemas/{case['schema']}"}, registry=registry)
        errors = sorted(validator.iter_errors(case["instance"]), key=lambda e: list(e.path))
        results.append({"valid": not errors, "error": "; ".join(
            f"{'/'.join(map(str, e.absolute_path))}: {e.message[:200]}" for e in errors[:3])})
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()
