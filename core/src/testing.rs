//! Test data shared by the engine's unit tests, the integration tests and the fuzz targets, so
//! that there is one list of the strings postwire must never write plain and one every-wiring
//! fuzz config with its properties. Not part of the engine's API.
#![doc(hidden)]

/// YAML 1.1 traps: strings a YAML 1.1 reader (PyYAML, Go's yaml.v2 behind kubectl and Helm) or a
/// YAML 1.2 reader turns into booleans, nulls, numbers, dates or the merge key when they are
/// written plain. The integration tests also put these into documents as plain, single- and
/// double-quoted keys and values, so every entry here is a valid plain scalar.
pub const TRAPS: &[&str] = &[
    "on",
    "off",
    "yes",
    "no",
    "y",
    "n",
    "~",
    "=",
    "0755",
    "1e3",
    ".inf",
    "1_000",
    "2001-01-01",
    "12:30:45",
    "0x1F",
    "+1",
    "1.0",
    "08",
    "0o755",
    "<<",
    "null",
    "true",
];

/// More strings a writer must get right: case variants of the traps, other number and float
/// spellings, indicators, white space, escapes, the characters YAML 1.1 reads as line breaks
/// (NEL, LS, PS), a BOM, controls, and the non-characters U+FFFE and U+FFFF that YAML forbids
/// in a stream (both readers reject them unescaped).
pub const MORE: &[&str] = &[
    "Y",
    "N",
    "On",
    "OFF",
    "Yes",
    "NO",
    "True",
    "FALSE",
    "Null",
    "NULL",
    "-.inf",
    ".NaN",
    ".nan",
    "-1",
    "0b101",
    "3e3",
    "190:20:30",
    "2001-12-14t21:59:43.10-05:00",
    "-",
    "",
    " lead",
    "trail ",
    "a: b",
    "#x",
    "x #y",
    "@at",
    "`tick",
    "!tag",
    "&anchor",
    "*alias",
    "%pct",
    "|",
    ">",
    "[a]",
    "{a}",
    "'single'",
    "\"double\"",
    "quote\"back\\slash",
    "tab\there",
    "new\nline",
    "cr\rx",
    "back\\slash",
    "nel\u{85}x",
    "ls\u{2028}x",
    "ps\u{2029}x",
    "bom\u{feff}x",
    "fffe\u{fffe}x",
    "ffff\u{ffff}x",
    "\u{fffe}",
    "\u{ffff}",
    "\u{85}",
    "bell\u{7}",
    "del\u{7f}",
    "c1\u{9b}x",
    "ü",
    "日本",
];

/// Every string of [`TRAPS`] and [`MORE`].
pub fn all_traps() -> impl Iterator<Item = &'static str> {
    TRAPS.iter().chain(MORE).copied()
}

/// The wirings fuzz target `wirings` turns on, one bit of its first byte each (checksum, Istio,
/// Rollouts, IRSA, Datadog, patches, templates, recipes): all on is the benchmark's
/// every-wiring config.
pub const WIRINGS: [&str; 8] = [
    "checksum:\n  enabled: true\n",
    "istio:\n  enabled: true\n  proxy: {holdApplicationUntilProxyStarts: true, excludeOutboundPorts: [9092]}\n  gateways:\n    public: {hosts: [apps.example.com], tls: {credentialName: apps-tls}}\n  services:\n  - {name: \"*\", gateways: [public], mesh: true}\n",
    "rollouts:\n  enabled: true\n  workloads:\n  - name: \"*\"\n    strategy:\n      canary:\n        steps: [{setWeight: 10}, {pause: {duration: 1m}}, {setWeight: 100}]\n",
    "irsa:\n  enabled: true\n  accountId: \"123456789012\"\n  roleName: \"r-{serviceAccount}\"\n  createServiceAccount: true\n  serviceAccountName: \"{workload}\"\n  region: us-east-1\n  inject: true\n",
    "datadog:\n  enabled: true\n  env: prod\n  mode: socket\n  apm: {enabled: true, language: java}\n  logs: {enabled: true, source: java}\n",
    "patches:\n- target: {kind: Deployment, optional: true}\n  patch: [{op: add, path: /spec/template/spec/priorityClassName, value: high}]\n",
    "templates:\n- name: owner\n  forEach: {kind: Deployment}\n  template: |\n    apiVersion: v1\n    kind: ConfigMap\n    metadata:\n      name: \"{{ object.metadata.name | dns_label }}-owner\"\n      labels: {team: {{ values.team | label_value | quote }}}\n",
    "recipes:\n  podDisruptionBudget: {minAvailable: 1}\n  zoneSpread: {}\n",
];

/// The config with the wirings of `pick` on (bit i: [`WIRINGS`]`[i]`).
pub fn wirings_config(pick: u8) -> String {
    let mut config = String::from("values: {team: payments}\n");
    for (i, part) in WIRINGS.iter().enumerate() {
        if pick & (1 << i) != 0 {
            config.push_str(part);
        }
    }
    config
}

/// The 1-based numbers of the documents of `input` that the report of `out` does not name and
/// that `out` does not hold byte for byte: untouched, yet changed or lost.
pub fn untouched_but_changed(input: &str, out: &crate::RenderOutput) -> Vec<usize> {
    use crate::stream::Stream;
    let output = Stream::split(&out.manifests);
    let outputs: Vec<&str> = (0..output.segments.len()).map(|i| output.segment_text(i)).collect();
    let input = Stream::split(input);
    (0..input.segments.len())
        .filter(|&i| input.segments[i].has_content)
        .enumerate()
        .map(|(n, i)| (n + 1, input.segment_text(i)))
        .filter(|(number, doc)| !out.report.documents.iter().any(|d| d.document == *number) && !outputs.contains(doc))
        .map(|(number, _)| number)
        .collect()
}
