#!/usr/bin/env python3
"""YAML 1.1 reader oracle for postwire's tests (see README.md beside this file).

Two independent YAML 1.1 readers -- PyYAML (this process) and Go's gopkg.in/yaml.v2 (the yamlv2json
binary, path in $POSTWIRE_YAMLV2) -- load documents into one type-strict encoding:

    leaves    {"!str": "x"} {"!int": "1"} {"!float": "1.5e+00"} {"!bool": true} {"!null": null}
              (also "!binary", "!timestamp"); floats use Go's strconv 'e' shortest spelling
    mappings  JSON objects keyed "str:x", "int:1", "bool:true", "null:", "float:..", "json:<tagged>"
    sequences JSON arrays

so 1, 1.0, "1" and true never compare equal. A load result is {"ok": <tagged>} or {"error": "<msg>"}.

CLI (exit 0 = pass, 1 = mismatch, 2 = usage or input error):
    oracle.py compare INPUT OUTPUT EXPECTED   output == input + EXPECTED additions, for both readers
    oracle.py strings FILE                    per-document tagged values from both readers (JSON)
    oracle.py expect INPUT                    EXPECTED for postwire's default checksum wiring
    oracle.py split FILE                      non-empty document byte ranges (JSON)
    oracle.py load                            stdin: JSON array of document texts (one document
                                              each); stdout: [{"pyyaml": r, "yamlv2": r}, ...]
EXPECTED is JSON text, @FILE, or - (stdin): {"<doc number>": [[path, key, value], ...]}.
Document numbers are 1-based among non-empty documents, in stream order.

Stdlib + PyYAML only. The libyaml-backed C classes are used when present: the corpus has 5 MB files.
"""

import base64
import concurrent.futures
import datetime
import decimal
import hashlib
import json
import math
import os
import re
import subprocess
import sys

import yaml

_C = getattr(yaml, "__with_libyaml__", False)
_Parser = yaml.CLoader if _C else yaml.Loader
_SafeBase = yaml.CSafeLoader if _C else yaml.SafeLoader
_BaseBase = yaml.CBaseLoader if _C else yaml.BaseLoader

NULL_SCALARS = ("", "~", "null", "Null", "NULL")
READERS = ("pyyaml", "yamlv2")
MAX_REPORTED = 10


class OracleError(Exception):
    """Bad input or environment (exit 2), as opposed to a reader mismatch (exit 1)."""


# --- documents ---------------------------------------------------------------------------------

def _decode(data):
    """bytes -> (text without BOM, byte length of the BOM)."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    bom = len(b"\xef\xbb\xbf") if data.startswith(b"\xef\xbb\xbf") else 0
    try:
        return data[bom:].decode("utf-8"), bom
    except UnicodeDecodeError as e:
        raise OracleError("input is not UTF-8: %s" % e) from None


def _is_null_document(events):
    if len(events) != 1 or not isinstance(events[0], yaml.ScalarEvent):
        return False
    ev = events[0]
    return ev.anchor is None and ev.tag is None and ev.implicit[0] and ev.value in NULL_SCALARS


def split_documents(data):
    """Byte ranges [(start, end)] of the non-empty documents of a YAML stream (bytes or str).

    Uses the parser's event marks only, so documents the constructors reject (the plain `- =` item,
    a flow mapping used as a key) still split. A range runs from the document's first directive,
    `---` or token to the end of its `...` or up to the next document; trailing comments are inside.
    Empty and null documents (only comments, `~`, `null`) are skipped, as Kubernetes tools do.
    """
    text, bom = _decode(data)
    ranges, body, start = [], None, None
    # The BOM is cut off first (libyaml would not count it, the pure parser would), so marks from
    # either parser are code-point indices into `text`.
    for ev in yaml.parse(text, Loader=_Parser):
        if isinstance(ev, yaml.DocumentStartEvent):
            body, start = [], ev.start_mark.index
        elif isinstance(ev, yaml.DocumentEndEvent):
            if not _is_null_document(body):
                ranges.append((start, ev.end_mark.index))
            body = None
        elif body is not None and len(body) < 2:
            body.append(ev)  # two events are enough to know the document is not a lone scalar
    return [(bom + s, bom + e) for s, e in _to_byte_offsets(text, ranges)]


def _to_byte_offsets(text, ranges):
    if text.isascii():
        return ranges
    # One pass over the sorted indices: slicing from 0 for each of thousands of documents is quadratic.
    points = sorted({i for r in ranges for i in r})
    byte_at, prev, pos = {}, 0, 0
    for i in points:
        pos += len(text[prev:i].encode("utf-8"))
        byte_at[i], prev = pos, i
    return [(byte_at[s], byte_at[e]) for s, e in ranges]


def document_texts(data):
    if isinstance(data, str):
        data = data.encode("utf-8")
    return [data[s:e].decode("utf-8") for s, e in split_documents(data)]


# --- type-strict encoding ----------------------------------------------------------------------

def float_text(f):
    """Go's strconv.FormatFloat(f, 'e', -1, 64): shortest round-trip digits, exponent form."""
    if math.isnan(f):
        return "NaN"
    if math.isinf(f):
        return "+Inf" if f > 0 else "-Inf"
    sign = "-" if math.copysign(1.0, f) < 0 else ""
    if f == 0:
        return sign + "0e+00"
    # repr is Python's shortest round-trip spelling; Decimal gives its digits without leading zeros.
    _, digits, exp = decimal.Decimal(repr(abs(f))).as_tuple()
    e10 = len(digits) - 1 + exp
    ds = "".join(map(str, digits)).rstrip("0")
    mantissa = ds[0] + ("." + ds[1:] if len(ds) > 1 else "")
    return "%s%se%+03d" % (sign, mantissa, e10)


def tagged(v):
    if v is None:
        return {"!null": None}
    if isinstance(v, bool):
        return {"!bool": v}
    if isinstance(v, int):
        return {"!int": str(v)}
    if isinstance(v, float):
        return {"!float": float_text(v)}
    if isinstance(v, str):
        return {"!str": v}
    if isinstance(v, bytes):
        return {"!binary": base64.b64encode(v).decode("ascii")}
    if isinstance(v, (datetime.date, datetime.datetime)):
        return {"!timestamp": v.isoformat()}
    if isinstance(v, list):
        return [tagged(e) for e in v]
    if isinstance(v, dict):
        return {key_text(k): tagged(e) for k, e in v.items()}
    if isinstance(v, set):  # !!set: a mapping to nulls, which is how yaml.v2 reads it
        return {key_text(k): {"!null": None} for k in v}
    raise TypeError("oracle: unexpected constructed type %s" % type(v).__name__)


def key_text(k):
    if isinstance(k, str):
        return "str:" + k
    if k is None:
        return "null:"
    if isinstance(k, bool):
        return "bool:" + ("true" if k else "false")
    if isinstance(k, int):
        return "int:" + str(k)
    if isinstance(k, float):
        return "float:" + float_text(k)
    return "json:" + json.dumps(tagged(k), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


# --- readers -----------------------------------------------------------------------------------

class OracleSafeLoader(_SafeBase):
    """SafeLoader that reads the YAML 1.1 "value" tag (a plain `=`) as the string "=", as yaml.v2 does.

    Stock SafeLoader has no constructor for it and rejects real manifests (kube-prometheus).
    """


OracleSafeLoader.add_constructor("tag:yaml.org,2002:value", yaml.SafeLoader.construct_yaml_str)


def _pyyaml_error(e):
    if isinstance(e, yaml.MarkedYAMLError):
        parts = [p for p in (e.context, e.problem) if p]
        mark = e.problem_mark or e.context_mark
        where = " (line %d, column %d)" % (mark.line + 1, mark.column + 1) if mark else ""
        return "%s: %s%s" % (type(e).__name__, "; ".join(parts), where)
    return "%s: %s" % (type(e).__name__, e)


def load_pyyaml(doc_text):
    """One document -> {"ok": tagged} or {"error": msg}."""
    try:
        return {"ok": tagged(yaml.load(doc_text, Loader=OracleSafeLoader))}
    except Exception as e:  # constructors raise plain ValueError too (`2001-13-45`, `!!int x`)
        return {"error": _pyyaml_error(e)}


def yamlv2_binary():
    path = os.environ.get("POSTWIRE_YAMLV2")
    if not path:
        tools = os.environ.get("POSTWIRE_TOOLS") or os.path.expanduser("~/.cache/postwire/tools")
        path = os.path.join(tools, "bin", "yamlv2json")
    if not os.access(path, os.X_OK):
        raise OracleError("yaml.v2 oracle not found at %s: run scripts/install-tools.sh and "
                          "source the env.sh it writes (POSTWIRE_YAMLV2)" % path)
    return path


def load_yamlv2(doc_texts):
    """Documents -> [{"ok": tagged} | {"error": msg}] from Go's yaml.v2, one subprocess for all."""
    doc_texts = list(doc_texts)
    if not doc_texts:
        return []
    proc = subprocess.run([yamlv2_binary()], input=json.dumps(doc_texts).encode("utf-8"),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if proc.returncode != 0:
        raise OracleError("yamlv2json failed: %s" % proc.stderr.decode("utf-8", "replace").strip())
    out = json.loads(proc.stdout)
    if len(out) != len(doc_texts):
        raise OracleError("yamlv2json returned %d results for %d documents" % (len(out), len(doc_texts)))
    return out


def load_both(doc_texts):
    """{"pyyaml": [...], "yamlv2": [...]}; the Go process runs while PyYAML works."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        go = pool.submit(load_yamlv2, doc_texts)
        py = [load_pyyaml(t) for t in doc_texts]
        return {"pyyaml": py, "yamlv2": go.result()}


def normalize_error(msg):
    """Error text without positions: a document may move inside its slice without changing meaning."""
    return re.sub(r"\s*\(?\bline \d+(, column \d+)?\)?:?", "", msg).strip()


# --- compare -----------------------------------------------------------------------------------

def _path_text(path):
    out = "$"
    for p in path:
        if isinstance(p, int):
            out += "[%d]" % p
        elif p.startswith("str:") and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", p[4:]):
            out += "." + p[4:]
        elif p.startswith("str:"):
            out += "[%s]" % json.dumps(p[4:], ensure_ascii=False)
        else:
            out += "[%s]" % p
    return out


def _short(v, limit=160):
    s = json.dumps(v, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return s if len(s) <= limit else s[:limit] + "..."


def value_diffs(want, got, path=()):
    """[(path, want, got)] where two tagged values differ; None marks a missing side."""
    if isinstance(want, dict) and isinstance(got, dict) and not _is_leaf(want) and not _is_leaf(got):
        out = []
        for k in sorted(set(want) | set(got)):
            if k not in got:
                out.append((path + (k,), want[k], None))
            elif k not in want:
                out.append((path + (k,), None, got[k]))
            else:
                out.extend(value_diffs(want[k], got[k], path + (k,)))
        return out
    if isinstance(want, list) and isinstance(got, list):
        out = []
        for i in range(max(len(want), len(got))):
            a = want[i] if i < len(want) else None
            b = got[i] if i < len(got) else None
            out.extend(value_diffs(a, b, path + (i,)) if a is not None and b is not None
                       else [(path + (i,), a, b)])
        return out
    return [] if want == got else [(path, want, got)]


def _is_leaf(v):
    return len(v) == 1 and next(iter(v)).startswith("!")


def apply_additions(value, additions):
    """Input value + EXPECTED additions, in the tagged encoding. Missing or null mappings are created."""
    value = json.loads(json.dumps(value))  # deep copy
    for path, key, text in additions:
        if not isinstance(text, str):
            raise OracleError("EXPECTED value for %r must be a string" % key)
        node = value
        for depth, p in enumerate(path):
            if isinstance(p, int):  # a sequence index, e.g. into a List's items
                if not isinstance(node, list) or not 0 <= p < len(node):
                    raise OracleError("EXPECTED path %r: no item %d" % (path, p))
                node = node[p]
                continue
            if not isinstance(node, dict) or _is_leaf(node):
                raise OracleError("EXPECTED path %r: %r is not a mapping" % (path, path[:depth]))
            k = "str:" + p
            if k not in node or node[k] == {"!null": None}:
                node[k] = {}
            node = node[k]
        if not isinstance(node, dict) or _is_leaf(node):
            raise OracleError("EXPECTED path %r is not a mapping in the input" % (path,))
        node["str:" + key] = {"!str": text}
    return value


def _identity(results, text):
    """Kind/name of a document for messages, from whichever reader could load it."""
    v = next((r["ok"] for r in results if "ok" in r), None)
    if v is None:  # neither reader loads it: the key-tolerant string loader still does
        try:
            v = tagged(yaml.load(text, Loader=_KeyTolerantBaseLoader))
        except (yaml.YAMLError, TypeError):
            return "?"
    if not isinstance(v, dict) or _is_leaf(v):
        return "?"
    kind = v.get("str:kind", {}).get("!str", "?")
    meta = v.get("str:metadata", {})
    name = meta.get("str:name", {}).get("!str", "?") if isinstance(meta, dict) else "?"
    return "%s/%s" % (kind, name)


def compare(input_data, output_data, expected):
    """-> (mismatch lines, note lines, document count)."""
    ins, outs = document_texts(input_data), document_texts(output_data)
    for n in expected:
        if not 1 <= n <= len(ins):
            raise OracleError("EXPECTED names document %d, input has %d" % (n, len(ins)))
    if len(ins) != len(outs):
        return (["document count differs: input has %d non-empty documents, output has %d"
                 % (len(ins), len(outs))], [], len(ins))
    both = load_both(ins + outs)
    mismatches, notes = [], []
    for i in range(len(ins)):
        n = i + 1
        ident = _identity([both[r][i] for r in READERS], ins[i])
        out_ident = _identity([both[r][len(ins) + i] for r in READERS], outs[i])
        if ident != out_ident:
            # One line instead of a field-by-field flood when documents were lost or reordered.
            mismatches.append("document %d: input is %s but output is %s" % (n, ident, out_ident))
            continue
        for reader in READERS:
            a, b = both[reader][i], both[reader][len(ins) + i]
            where = "document %d (%s), %s" % (n, ident, reader)
            if "error" in a:
                if "error" in b and normalize_error(a["error"]) == normalize_error(b["error"]):
                    notes.append("%s: input does not load (%s); output fails the same way%s"
                                 % (where, a["error"], ", additions unverified" if n in expected else ""))
                else:
                    mismatches.append("%s: input fails to load (%s) but output %s" % (
                        where, a["error"], "fails differently (%s)" % b["error"] if "error" in b else "loads"))
                continue
            if "error" in b:
                mismatches.append("%s: output fails to load: %s" % (where, b["error"]))
                continue
            want = apply_additions(a["ok"], expected[n]) if n in expected else a["ok"]
            for path, w, g in value_diffs(want, b["ok"]):
                mismatches.append("%s: %s: expected %s, got %s" % (
                    where, _path_text(path), "(absent)" if w is None else _short(w),
                    "(absent)" if g is None else _short(g)))
    return mismatches, notes, len(ins)


def parse_expected(arg):
    if arg == "-":
        text = sys.stdin.read()
    elif arg.startswith("@"):
        with open(arg[1:], encoding="utf-8") as f:
            text = f.read()
    else:
        text = arg
    try:
        raw = json.loads(text)
    except ValueError as e:
        raise OracleError("EXPECTED is not JSON: %s" % e) from None
    if not isinstance(raw, dict):
        raise OracleError("EXPECTED must be a JSON object")
    out = {}
    for k, adds in raw.items():
        if not re.fullmatch(r"[1-9][0-9]*", str(k)):
            raise OracleError("EXPECTED key %r is not a document number" % k)
        for a in adds:
            if not (isinstance(a, list) and len(a) == 3 and isinstance(a[0], list)):
                raise OracleError("EXPECTED entry %r is not [path, key, value]" % (a,))
        out[int(k)] = adds
    return out


# --- expect: independent re-implementation of the default checksum wiring -------------------

class _KeyTolerantBaseLoader(_BaseBase):
    """BaseLoader (every scalar a string) that keeps documents with complex keys loadable."""

    def construct_mapping(self, node, deep=False):
        if not isinstance(node, yaml.MappingNode):
            return super().construct_mapping(node, deep)
        out = {}
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                hash(key)
            except TypeError:
                key = "<complex key %r>" % (key,)
            out[key] = self.construct_object(value_node, deep=True)
        return out


# kind -> path of the pod template inside the object ([] = the object itself)
TEMPLATE_PATHS = {
    "Deployment": ["spec", "template"],
    "StatefulSet": ["spec", "template"],
    "DaemonSet": ["spec", "template"],
    "ReplicaSet": ["spec", "template"],
    "ReplicationController": ["spec", "template"],
    "Job": ["spec", "template"],
    "CronJob": ["spec", "jobTemplate", "spec", "template"],
    "Rollout": ["spec", "template"],
    "PodTemplate": ["template"],
    "Pod": [],
}
HOOK_ANNOTATIONS = ("helm.sh/hook", "argocd.argoproj.io/hook")


def _get(obj, *path):
    for p in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(p)
    return obj


def _list(v):
    return v if isinstance(v, list) else []


def _str(v):
    return v if isinstance(v, str) and v else None


def content_hash(obj):
    c = {f: obj[f] for f in ("binaryData", "data", "stringData")
         if f in obj and obj[f] not in (None,) + NULL_SCALARS and obj[f] != {}}
    return hashlib.sha256(json.dumps(c, sort_keys=True, separators=(",", ":"),
                                     ensure_ascii=False).encode("utf-8")).hexdigest()


def pod_references(spec):
    """[(kind, name)] of ConfigMaps and Secrets a pod spec reads (not imagePullSecrets)."""
    refs = []
    for field in ("containers", "initContainers", "ephemeralContainers"):
        for c in _list(_get(spec, field)):
            for ef in _list(_get(c, "envFrom")):
                refs.append(("ConfigMap", _str(_get(ef, "configMapRef", "name"))))
                refs.append(("Secret", _str(_get(ef, "secretRef", "name"))))
            for e in _list(_get(c, "env")):
                refs.append(("ConfigMap", _str(_get(e, "valueFrom", "configMapKeyRef", "name"))))
                refs.append(("Secret", _str(_get(e, "valueFrom", "secretKeyRef", "name"))))
    for v in _list(_get(spec, "volumes")):
        refs.append(("ConfigMap", _str(_get(v, "configMap", "name"))))
        refs.append(("Secret", _str(_get(v, "secret", "secretName"))))
        for s in _list(_get(v, "projected", "sources")):
            refs.append(("ConfigMap", _str(_get(s, "configMap", "name"))))
            refs.append(("Secret", _str(_get(s, "secret", "name"))))
    return [(k, n) for k, n in refs if n]


def annotation_key(kind, name):
    suffix = "%s-%s" % (kind.lower(), name)
    if len(suffix) > 63:
        suffix = suffix[:54] + "-" + hashlib.sha256(name.encode("utf-8")).hexdigest()[:8]
    return "checksum/" + suffix


def expect(data):
    """EXPECTED additions for postwire's default checksum wiring, {doc number: [[path, key, value]]}."""
    objects = []  # (doc number, path prefix inside the document, object) in stream order
    for n, text in enumerate(document_texts(data), start=1):
        doc = yaml.load(text, Loader=_KeyTolerantBaseLoader)
        if not isinstance(doc, dict):
            continue
        objects.append((n, [], doc))
        if str(doc.get("kind", "")).endswith("List"):  # List, ConfigMapList, any typed list
            for i, item in enumerate(_list(doc.get("items"))):
                if isinstance(item, dict):
                    objects.append((n, ["items", i], item))

    def namespace(obj):
        return _str(_get(obj, "metadata", "namespace"))

    sources = {}  # (kind, name) -> [(namespace, hash)] in stream order
    for _, _, obj in objects:
        name = _str(_get(obj, "metadata", "name"))
        if obj.get("apiVersion") == "v1" and obj.get("kind") in ("ConfigMap", "Secret") and name:
            sources.setdefault((obj["kind"], name), []).append((namespace(obj), content_hash(obj)))

    expected = {}
    for n, prefix, obj in objects:
        kind = obj.get("kind")
        if kind not in TEMPLATE_PATHS:
            continue
        if kind == "Rollout" and not str(obj.get("apiVersion", "")).startswith("argoproj.io/"):
            continue
        annotations = _get(obj, "metadata", "annotations")
        annotations = annotations if isinstance(annotations, dict) else {}
        if annotations.get("postwire.dev/checksum") == "false":
            continue
        if kind == "Job" and not any(a in annotations for a in HOOK_ANNOTATIONS):
            continue
        if kind == "Rollout" and _get(obj, "spec", "workloadRef") is not None \
                and _get(obj, "spec", "template") is None:
            continue
        tpath = TEMPLATE_PATHS[kind]
        template = _get(obj, *tpath) if tpath else obj
        if not isinstance(template, dict):
            continue
        ns = namespace(obj)
        adds = {}
        for ref in pod_references(_get(template, "spec")):
            found = sources.get(ref, [])
            exact = [(cns, h) for cns, h in found if ns is not None and cns == ns]
            # Without a known namespace every candidate counts, hashed together.
            candidates = exact[:1] or [(cns, h) for cns, h in found if ns is None or cns is None]
            if not candidates:
                continue
            if len(candidates) == 1:
                adds[annotation_key(*ref)] = candidates[0][1]
            else:
                lines = sorted("%s/%s=%s\n" % (cns or "", ref[1], h) for cns, h in candidates)
                adds[annotation_key(*ref)] = hashlib.sha256("".join(lines).encode()).hexdigest()
        if adds:
            path = prefix + tpath + ["metadata", "annotations"]
            expected.setdefault(n, []).extend([path, k, v] for k, v in sorted(adds.items()))
    return expected


# --- CLI ---------------------------------------------------------------------------------------

def _read(path):
    with open(path, "rb") as f:
        return f.read()


def _dump_expected(expected):
    lines = ["  %s: %s" % (json.dumps(str(n)), json.dumps(adds, ensure_ascii=False, separators=(", ", ": ")))
             for n, adds in sorted(expected.items())]
    return "{\n" + ",\n".join(lines) + "\n}" if lines else "{}"


def main(argv):
    usage = __doc__[__doc__.index("CLI"):__doc__.index("Stdlib")]
    if len(argv) < 2 or argv[1] in ("-h", "--help"):
        sys.stdout.write(usage)
        return 0 if len(argv) >= 2 else 2
    cmd, args = argv[1], argv[2:]
    try:
        if cmd == "compare" and len(args) == 3:
            expected = parse_expected(args[2])
            mismatches, notes, count = compare(_read(args[0]), _read(args[1]), expected)
            for note in notes:
                print("oracle: note: " + note, file=sys.stderr)
            if mismatches:
                print("oracle: %d mismatch(es), first %d:" % (len(mismatches), min(len(mismatches), MAX_REPORTED)))
                for m in mismatches[:MAX_REPORTED]:
                    print("  " + m)
                return 1
            print("oracle: %d documents, %d changed, both readers agree" % (count, len(expected)))
            return 0
        if cmd == "strings" and len(args) == 1:
            both = load_both(document_texts(_read(args[0])))
            rows = [{r: both[r][i] for r in READERS} for i in range(len(both["pyyaml"]))]
            print(json.dumps(rows, indent=1, ensure_ascii=False))
            return 0
        if cmd == "expect" and len(args) == 1:
            print(_dump_expected(expect(_read(args[0]))))
            return 0
        if cmd == "load" and not args:
            texts = json.loads(sys.stdin.buffer.read().decode("utf-8"))
            if not (isinstance(texts, list) and all(isinstance(t, str) for t in texts)):
                raise OracleError("load: stdin must be a JSON array of strings")
            both = load_both(texts)
            rows = [{r: both[r][i] for r in READERS} for i in range(len(texts))]
            sys.stdout.write(json.dumps(rows, ensure_ascii=False) + "\n")
            return 0
        if cmd == "split" and len(args) == 1:
            print(json.dumps(split_documents(_read(args[0]))))
            return 0
    except (OracleError, yaml.YAMLError, OSError) as e:
        print("oracle: error: %s" % e, file=sys.stderr)
        return 2
    sys.stderr.write(usage)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
