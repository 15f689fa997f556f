//! postwire's integration tests, one binary (build once, run all).
//!
//! They run the built runner (`target/<profile>/postwire`, which embeds plugin.wasm), real
//! Helm 4.3.1 and 3.17.3 binaries, PyYAML and Go's yaml.v2 as independent YAML readers, over the
//! real third-party manifests in `../shared` (read in place). `scripts/test.sh` installs the
//! tools; a test whose tool or data is missing says it is skipped and why, unless
//! `POSTWIRE_REQUIRE_ALL=1` (set by `scripts/test.sh`) turns that into a failure.

mod util;

/// `helm_plugin_main` and `render` of the built plugin.wasm under an extism host.
mod wasm_host;

/// The checksum wiring on every generated style, judged by PyYAML and yaml.v2.
mod checksum_styles;
/// Shapes that once broke the edit layer, through the runner, checked by both YAML 1.1 readers.
mod edit_defects;
/// The edit layer's every op on every generated style, judged by PyYAML and yaml.v2.
mod edit_styles;
/// User patches over the corpus (checked by both YAML 1.1 readers and the json-patch crate),
/// floats, every recipe validated strictly, and failures through the runner.
mod extensibility;
/// Every corpus file (and CRLF, BOM, Helm 4 variants) through plugin.wasm, checked by PyYAML and yaml.v2.
mod fidelity;
/// Deployments and Pods in many YAML styles: the generator every wiring's property test uses.
mod styles;

/// YAML 1.1 trap strings keep their meaning when postwire edits around them or writes them.
mod traps;
/// IRSA and Datadog over the corpus, through the runner and through Helm 4.3.1.
mod wirings;

/// `postwire check`: the findings contract, --strict, --report, and every example clean.
mod check;
/// The runner as a command-line tool: errors, report, schema, version, wasm, module cache.
mod cli;
/// Real Helm 3.17.3 running postwire with `--post-renderer <path>`.
mod helm3;
/// Real Helm 4.3.1 running postwire as a subprocess post-renderer plugin.
mod helm4;
/// Istio and Argo Rollouts wiring: strict CRD and Kubernetes schema checks, Istio's bookinfo
/// reproduced, the livechat example through Helm 4.3.1, errors.
mod istio;
/// Installing the Helm plugins (`postwire install-plugin`, `helm plugin install`, release
/// archives) on machines with Helm 3, Helm 4 or both sharing one plugins directory.
mod plugins;
/// The README's and the docs' runnable command blocks, run as written in a fresh HOME; their links.
mod readme;
/// Every wiring on, eight times the input: judged by the time ratio, never by a time.
mod scaling;

/// The Argo CD config-management plugin (`argocd-cmp/`) under a harness that behaves like
/// argocd-cmp-server; the Argo CD chart values, the kustomize component and the image setup.
mod argocd;
/// postwire as a KRM function under kpt and kustomize's exec transformer.
mod krm;

/// The seed systems in `examples/`: Helm 4 reproduces each `expected.yaml`; Helm 3, the Argo CD
/// plugin and kpt give the same documents; strict validation, idempotence, generated READMEs.
mod examples;
