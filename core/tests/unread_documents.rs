//! Documents nobody reads are not parsed. In the corpus most bytes are CustomResourceDefinitions
//! (their schemas), dashboards in ConfigMaps and RBAC: a profile of kube-prometheus (5.6 MB)
//! with checksums put 29% of the render in the check's parse of every document and 23% in the
//! Secret-value collection's parse of every document that mentions "Secret" (CRD schemas do).
//! Both now look at a document's top-level lines first.
//!
//! What is checked: the findings are those of a check that reads every document (the
//! reference), over the whole corpus; and, judged by a ratio and never a time, adding
//! megabytes of CRDs to a stream costs the check and the collection little.

mod common;

use common::fastest;
use postwire_core::check::{check, check_reading_everything, Finding};
use postwire_core::redact::SecretValues;
use postwire_core::wire::{ConfigFileV1, RenderRequestV1};

fn lines(findings: Vec<Finding>) -> Vec<String> {
    findings.iter().map(Finding::line).collect()
}

#[test]
fn the_check_finds_what_a_check_reading_everything_finds() {
    let Some(shared) = common::shared("the_check_finds_what_a_check_reading_everything_finds") else {
        return;
    };
    let every_wiring = std::fs::read_to_string(shared.join("bench/every-wiring.yaml")).unwrap();
    let (mut streams, mut findings) = (0, 0);
    for path in common::corpus_files(&shared) {
        let text = std::fs::read_to_string(&path).unwrap();
        // The stream as it comes, and as a render with every wiring writes it.
        let mut request = RenderRequestV1::new(&text);
        request.config = Some(ConfigFileV1 { name: "every-wiring.yaml".into(), content: every_wiring.clone() });
        let rendered = postwire_core::render(&request).map(|out| out.manifests).ok();
        for stream in std::iter::once(&text).chain(rendered.as_ref()) {
            let (Ok(fast), Ok(reference)) =
                (check(stream, Some("default")), check_reading_everything(stream, Some("default")))
            else {
                panic!("{}: the check failed", path.display());
            };
            assert_eq!(lines(fast.clone()), lines(reference), "{}", path.display());
            findings += fast.len();
            streams += 1;
        }
    }
    assert!(streams >= 20 && findings > 0, "{streams} streams, {findings} findings compared");
}

/// `apps` Deployments, each with a Service and a Secret.
fn apps(n: usize) -> String {
    (0..n)
        .map(|i| {
            format!(
                "---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: s{i}\nstringData:\n  password: pw-{i}-value\n\
                 ---\napiVersion: v1\nkind: Service\nmetadata:\n  name: app{i}\nspec:\n  selector: {{app: app{i}}}\n  \
                 ports:\n  - port: 80\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app{i}\nspec:\n  \
                 selector:\n    matchLabels: {{app: app{i}}}\n  template:\n    metadata:\n      labels: {{app: app{i}}}\n    \
                 spec:\n      containers:\n      - name: a\n        image: a:1\n        envFrom:\n        - secretRef: {{name: s{i}}}\n"
            )
        })
        .collect()
}

/// `n` CRDs of about 100 KB each whose schemas mention Secrets, as real ones do.
fn crds(n: usize) -> String {
    let mut text = String::new();
    for c in 0..n {
        text.push_str(&format!(
            "---\napiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: \
             things{c}.example.com\nspec:\n  group: example.com\n  names: {{kind: Thing{c}, plural: things{c}}}\n  \
             scope: Namespaced\n  versions:\n  - name: v1\n    served: true\n    storage: true\n    schema:\n      \
             openAPIV3Schema:\n        type: object\n        properties:\n"
        ));
        for p in 0..600 {
            text.push_str(&format!(
                "          field{p}:\n            description: The name of a Secret in the namespace that holds \
                 field {p}'s credentials.\n            type: object\n            properties:\n              key: \
                 {{type: string}}\n"
            ));
        }
    }
    text
}

/// How much more `f` costs on `base` with `extra` (over 100x the bytes of `base`) than on
/// `base` alone.
fn cost_of_extra(what: &str, base: &str, extra: &str, mut f: impl FnMut(&str)) -> f64 {
    let with = format!("{base}{extra}");
    assert!(with.len() > 100 * base.len(), "the extra documents are most of the stream");
    let (alone, together) = (fastest(|| f(base)), fastest(|| f(&with)));
    let ratio = together.as_secs_f64() / alone.as_secs_f64();
    eprintln!("{what}: {alone:?} alone, {together:?} with {} MB of CRDs: {ratio:.1}x", extra.len() / 1_000_000);
    ratio
}

/// 4 MB of CRDs beside 25 KB of apps: parsing them cost the check 95x and the Secret scan 320x
/// here; scanning their lines costs 7-8x.
#[test]
fn unread_documents_cost_the_check_and_the_secret_scan_little() {
    let (base, extra) = (apps(40), crds(40));
    let check_ratio = cost_of_extra("check", &base, &extra, |text| {
        assert!(check(text, Some("default")).is_ok());
    });
    let secrets_ratio = cost_of_extra("Secret values", &base, &extra, |text| {
        let values = SecretValues::collect(text);
        assert_eq!(values.scrub("pw-7-value"), postwire_core::redact::REDACTED, "the Secrets are still found");
    });
    assert!(
        check_ratio < 25.0 && secrets_ratio < 25.0,
        "CRDs no rule reads cost the check {check_ratio:.1}x and the Secret scan {secrets_ratio:.1}x: they were parsed"
    );
}
