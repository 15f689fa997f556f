#!/usr/bin/env python3
"""Validate Kubernetes objects strictly: custom resources against the CRD schemas in
../shared/schemas/crds (a field the schema does not declare is an error, as the API server's
pruning would silently drop it), core kinds with kubernetes-validate (Kubernetes 1.37, strict).

    kubecheck.py CRD_DIR[,CRD_DIR...] STREAM.yaml [DOC_INDEX ...]

Checks every document of STREAM (0-based indices: only those) and prints one JSON line per
document: {"index", "kind", "name", "checked": "crd|kubernetes", "error": null|"..."}.
Exits 1 when any checked document is invalid, 2 when a kind has no schema here.
"""
import json
import os
import sys

import jsonschema
import kubernetes_validate
import yaml


Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

# The API server accepts these at the root of every object; the CRDs declare only spec/status.
ROOT = {
    "apiVersion": {"type": "string"},
    "kind": {"type": "string"},
    "metadata": {
        "type": "object",
        "additionalProperties": False,
        "required": ["name"],
        "properties": {
            "name": {"type": "string"},
            "namespace": {"type": "string"},
            "labels": {"type": "object", "additionalProperties": {"type": "string"}},
            "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
        },
    },
}


def strict(schema):
    """Forbid undeclared fields wherever the schema lists properties (structural schemas prune them)."""
    if isinstance(schema, dict):
        out = {k: strict(v) for k, v in schema.items()}
        if out.get("type") == "object" and "properties" in out and "additionalProperties" not in out \
                and not out.get("x-kubernetes-preserve-unknown-fields"):
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [strict(v) for v in schema]
    return schema


def crd_schemas(root):
    schemas = {}
    for dirpath, _, files in os.walk(root):
        for f in files:
            if not f.endswith(".yaml"):
                continue
            with open(os.path.join(dirpath, f)) as fh:
                text = fh.read()
            # prometheus-operator CRDs hold a bare `=` (YAML 1.1's value tag); it is a string here.
            Loader.add_constructor("tag:yaml.org,2002:value", yaml.SafeLoader.construct_yaml_str)
            if True:
                for doc in yaml.load_all(text, Loader=Loader):
                    if not doc or doc.get("kind") != "CustomResourceDefinition":
                        continue
                    spec = doc["spec"]
                    for v in spec["versions"]:
                        schema = v.get("schema", {}).get("openAPIV3Schema")
                        if schema:
                            schema = strict(schema)
                            schema.setdefault("properties", {}).update(ROOT)
                            schema["required"] = sorted(set(schema.get("required", [])) | {"apiVersion", "kind", "metadata"})
                            schemas[(spec["group"], v["name"], spec["names"]["kind"])] = schema
    return schemas


def main():
    crd_dirs, stream = sys.argv[1].split(","), sys.argv[2]
    only = {int(i) for i in sys.argv[3:]}
    schemas = {}
    for d in crd_dirs:
        schemas.update(crd_schemas(d))
    with open(stream) as fh:
        docs = [d for d in yaml.load_all(fh, Loader=Loader) if d is not None]
    status = 0
    for i, doc in enumerate(docs):
        if only and i not in only:
            continue
        api = doc.get("apiVersion", "")
        group, _, version = api.rpartition("/")
        kind = doc.get("kind")
        name = doc.get("metadata", {}).get("name")
        key = (group, version, kind)
        error = None
        if key in schemas:
            checked = "crd"
            v = jsonschema.Draft7Validator(schemas[key])
            errors = sorted(v.iter_errors(doc), key=lambda e: list(e.path))
            if errors:
                error = "; ".join("%s: %s" % ("/".join(map(str, e.path)), e.message) for e in errors)
        elif "." in group and not group.endswith(".k8s.io"):
            # Kubernetes' own dotted groups (rbac.authorization.k8s.io, networking.k8s.io …) are
            # kubernetes-validate's; any other dotted group is a custom resource without a CRD here.
            checked = "none"
            error = "no schema for %s" % (key,)
            status = max(status, 2)
        else:
            checked = "kubernetes"
            try:
                kubernetes_validate.validate(doc, "1.37.0", strict=True)
            except Exception as e:  # ValidationError, InvalidSchemaError, ...
                error = "%s: %s" % (type(e).__name__, e)
        if error and status == 0:
            status = 1
        print(json.dumps({"index": i, "kind": kind, "name": name, "checked": checked, "error": error}))
    sys.exit(status)


if __name__ == "__main__":
    main()
