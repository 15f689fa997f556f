//! Lookups that run once per object stay constant-time, judged by ratios and never by a time:
//! k times the objects must cost less than 2k times as much (linear is k, a scan per object
//! k squared). Profiles of 5,000 and 20,000 apps with every wiring found four such scans (the
//! report's `ignoreDifferences` de-duplication, IRSA's ServiceAccount search, checksum's
//! `workloadRef` lookup, the Rollouts routed-Service check); the first two are timed here.
//! BENCHMARKS.md has the figures.

mod common;

use std::sync::Mutex;
use std::time::Duration;

use common::fastest;

use postwire_core::report::{IgnoreDifference, Report};
use postwire_core::wire::{ConfigFileV1, RenderRequestV1};

/// One timed test at a time: the two would otherwise disturb each other's figures.
static ALONE: Mutex<()> = Mutex::new(());

fn assert_linear(what: &str, k: f64, small: Duration, large: Duration) {
    let ratio = large.as_secs_f64() / small.as_secs_f64();
    eprintln!("{what}: {small:?} then {large:?} for {k}x: {ratio:.1}x");
    assert!(
        ratio < 2.0 * k,
        "{what}: {k}x the objects cost {ratio:.1}x ({small:?}, then {large:?}): a scan per object"
    );
}

fn entries(n: usize) -> Vec<IgnoreDifference> {
    (0..n)
        .map(|i| IgnoreDifference {
            group: "argoproj.io".into(),
            kind: "Rollout".into(),
            name: format!("app-{i:05}"),
            namespace: Some("shop".into()),
            json_pointers: vec!["/spec/replicas".into()],
            ..IgnoreDifference::default()
        })
        .collect()
}

#[test]
fn ignore_differences_are_deduplicated_in_constant_time() {
    let _alone = ALONE.lock().unwrap_or_else(|e| e.into_inner());
    let add_all = |list: &[IgnoreDifference]| {
        let mut report = Report::default();
        for entry in list.iter().chain(list) {
            report.ignore_difference(entry.clone());
        }
        assert_eq!(report.argocd.as_ref().unwrap().ignore_differences.len(), list.len(), "each entry once");
    };
    let (small, large) = (entries(1_000), entries(8_000));
    assert_linear("ignoreDifferences", 8.0, fastest(|| add_all(&small)), fastest(|| add_all(&large)));
}

/// `n` Deployments, each running as its own ServiceAccount, which the stream holds beside eight
/// more (cheap objects that a scan per workload would have to pass).
fn workloads_with_accounts(n: usize) -> String {
    let mut text = String::new();
    for i in 0..n {
        for spare in 0..8 {
            text.push_str(&format!(
                "---\napiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: spare-{i}-{spare}\n"
            ));
        }
        text.push_str(&format!(
            "---\napiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: app-{i}\n---\napiVersion: apps/v1\n\
             kind: Deployment\nmetadata:\n  name: app-{i}\nspec:\n  selector:\n    matchLabels: {{app: app-{i}}}\n  \
             template:\n    metadata:\n      labels: {{app: app-{i}}}\n    spec:\n      serviceAccountName: app-{i}\n      \
             containers:\n      - name: app\n        image: app:1\n"
        ));
    }
    text
}

#[test]
fn irsa_finds_each_service_account_in_constant_time() {
    let _alone = ALONE.lock().unwrap_or_else(|e| e.into_inner());
    const CONFIG: &str = "irsa:\n  enabled: true\n  accountId: \"123456789012\"\n  roleName: \"app-{serviceAccount}\"\n  inject: false\n";
    let render = |manifests: &str| {
        let mut request = RenderRequestV1::new(manifests);
        request.config = Some(ConfigFileV1 { name: "postwire.yaml".into(), content: CONFIG.into() });
        request.context.namespace = Some("shop".into());
        let out = postwire_core::render(&request).expect("renders");
        assert!(out.manifests.contains("eks.amazonaws.com/role-arn: \"arn:aws:iam::123456789012:role/app-app-1\""));
    };
    // Most of a render's cost per app is linear (parsing, writing), so the scan this guards
    // against showed only as 30x here before, under the 32x limit (a guard against a worse
    // one); the 5,000- and 20,000-app figures in BENCHMARKS.md are the evidence it is gone.
    let (small, large) = (workloads_with_accounts(500), workloads_with_accounts(8_000));
    assert_linear("IRSA ServiceAccounts", 16.0, fastest(|| render(&small)), fastest(|| render(&large)));
}
