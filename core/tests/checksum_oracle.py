#!/usr/bin/env python3
"""Checks postwire's checksum annotations against host-test/oracle/oracle.py (see checksum_oracle.rs).

    checksum_oracle.py MODE INPUT OUTPUT     MODE: perObject or aggregate

The output must load (PyYAML) to exactly the input plus the checksum annotations computed here
from the oracle's independent re-implementation of the default wiring (`oracle.expect`: its
content hash, pod references, annotation keys and choice of workloads), in either mode:
perObject as `oracle.expect` hashes, aggregate as postwire documents it (SHA-256 of the sorted
`NAME=HASH\\n` lines of each kind). One rule `oracle.expect` lacks is added: a Job annotated
`postwire.dev/checksum: "true"` is annotated like a hook Job. Exit 0 prints how many
annotations were checked; exit 1 lists the first mismatches.
"""

import hashlib
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "host-test", "oracle"))

import oracle  # noqa: E402  (the path above)
import yaml  # noqa: E402

AGGREGATE_KEYS = (("ConfigMap", "checksum/config"), ("Secret", "checksum/secret"))


def objects_of(data):
    """(doc number, path prefix, object) for every mapping document and List item, as oracle.expect."""
    found = []
    for n, text in enumerate(oracle.document_texts(data), start=1):
        doc = yaml.load(text, Loader=oracle._KeyTolerantBaseLoader)
        if not isinstance(doc, dict):
            continue
        found.append((n, [], doc))
        if str(doc.get("kind", "")).endswith("List"):
            for i, item in enumerate(oracle._list(doc.get("items"))):
                if isinstance(item, dict):
                    found.append((n, ["items", i], item))
    return found


def namespace(obj):
    return oracle._str(oracle._get(obj, "metadata", "namespace"))


def template_of(obj):
    """The pod template of a workload the default wiring annotates, else None (oracle.expect's rules)."""
    kind = obj.get("kind")
    if kind not in oracle.TEMPLATE_PATHS:
        return None
    if kind == "Rollout" and not str(obj.get("apiVersion", "")).startswith("argoproj.io/"):
        return None
    annotations = oracle._get(obj, "metadata", "annotations")
    annotations = annotations if isinstance(annotations, dict) else {}
    if annotations.get("postwire.dev/checksum") == "false":
        return None
    opted_in = annotations.get("postwire.dev/checksum") == "true"
    if kind == "Job" and not opted_in and not any(a in annotations for a in oracle.HOOK_ANNOTATIONS):
        return None
    if kind == "Rollout" and oracle._get(obj, "spec", "workloadRef") is not None \
            and oracle._get(obj, "spec", "template") is None:
        return None
    tpath = oracle.TEMPLATE_PATHS[kind]
    template = oracle._get(obj, *tpath) if tpath else obj
    return template if isinstance(template, dict) else None


def per_object(used):
    """perObject: one annotation per name; several namespaces' objects of a name hashed together."""
    by_ref = {}
    for (kind, name, ns, h) in used.values():
        by_ref.setdefault((kind, name), []).append((ns, h))
    adds = {}
    for (kind, name), found in by_ref.items():
        if len(found) == 1:
            adds[oracle.annotation_key(kind, name)] = found[0][1]
        else:
            lines = sorted("%s/%s=%s\n" % (ns or "", name, h) for ns, h in found)
            adds[oracle.annotation_key(kind, name)] = hashlib.sha256("".join(lines).encode()).hexdigest()
    return adds


def aggregate(used):
    """aggregate: one annotation per kind over every object of that kind the pod uses."""
    adds = {}
    for kind, key in AGGREGATE_KEYS:
        lines = sorted("%s=%s\n" % (name, h) for k, name, _, h in used.values() if k == kind)
        if lines:
            adds[key] = hashlib.sha256("".join(lines).encode()).hexdigest()
    return adds


def expect(data, mode):
    """EXPECTED additions in `mode`, {doc number: [[path, key, value]]}."""
    objects = objects_of(data)
    sources = {}  # (kind, name) -> [(index, namespace, hash)] in stream order
    for index, (_, _, obj) in enumerate(objects):
        name = oracle._str(oracle._get(obj, "metadata", "name"))
        if obj.get("apiVersion") == "v1" and obj.get("kind") in ("ConfigMap", "Secret") and name:
            sources.setdefault((obj["kind"], name), []).append((index, namespace(obj), oracle.content_hash(obj)))
    expected = {}
    for n, prefix, obj in objects:
        template = template_of(obj)
        if template is None:
            continue
        ns = namespace(obj)
        used = {}  # source index -> (kind, name, namespace, hash): each object once
        for kind, name in oracle.pod_references(oracle._get(template, "spec")):
            found = sources.get((kind, name), [])
            exact = [s for s in found if ns is not None and s[1] == ns]
            # Without a known namespace every candidate counts (oracle.expect's rule).
            for index, cns, h in exact[:1] or [s for s in found if ns is None or s[1] is None]:
                used[index] = (kind, name, cns, h)
        adds = per_object(used) if mode == "perObject" else aggregate(used)
        if adds:
            path = prefix + oracle.TEMPLATE_PATHS[obj["kind"]] + ["metadata", "annotations"]
            expected.setdefault(n, []).extend([path, k, v] for k, v in sorted(adds.items()))
    return expected


def mismatches(input_data, output_data, expected):
    """Where the output is not the input plus the expected annotations (PyYAML's reading)."""
    ins, outs = oracle.document_texts(input_data), oracle.document_texts(output_data)
    if len(ins) != len(outs):
        return ["input has %d documents, output %d" % (len(ins), len(outs))]
    found = []
    for n, (before, after) in enumerate(zip(ins, outs), start=1):
        a, b = oracle.load_pyyaml(before), oracle.load_pyyaml(after)
        if "error" in a or "error" in b:
            if a != b:
                found.append("document %d: input %s, output %s" % (n, a, b))
            continue
        want = oracle.apply_additions(a["ok"], expected.get(n, []))
        for path, w, g in oracle.value_diffs(want, b["ok"]):
            found.append("document %d: %s: oracle %s, postwire %s" % (n, oracle._path_text(path), w, g))
    return found


def main(argv):
    if len(argv) != 4 or argv[1] not in ("perObject", "aggregate"):
        sys.stderr.write(__doc__)
        return 2
    mode, input_data, output_data = argv[1], oracle._read(argv[2]), oracle._read(argv[3])
    expected = expect(input_data, mode)
    if mode == "perObject":
        # The oracle's own expectation is part of this one (it only lacks Jobs opted in).
        for n, adds in oracle.expect(input_data).items():
            if adds != expected.get(n):
                print("document %d: oracle.expect %s, here %s" % (n, adds, expected.get(n)))
                return 1
    found = mismatches(input_data, output_data, expected)
    if found:
        print("%d mismatch(es) with the oracle, first %d:" % (len(found), min(len(found), 10)))
        for line in found[:10]:
            print("  " + line)
        return 1
    print("%d annotations" % sum(len(adds) for adds in expected.values()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
