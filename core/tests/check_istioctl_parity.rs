//! Where a rule of `postwire check` overlaps an `istioctl analyze` analyzer, it reports the same
//! objects on the analyzer's own test input. The inputs are minimal transcriptions of istio/istio
//! at 86c9f01fd735fb01d8192f5bcaf0d424afb7f14c, `pkg/config/analysis/analyzers/testdata/`, and the
//! expectations those of `analyzers_test.go` there (lines cited per test).

use std::collections::BTreeSet;

/// The names of the objects `rule` reports over `stream` (objects without a namespace go to
/// `default`, as istioctl reads a file).
fn reported(stream: &str, rule: &str) -> BTreeSet<String> {
    postwire_core::check::check(stream, Some("default"))
        .unwrap()
        .into_iter()
        .filter(|f| f.rule == rule)
        .map(|f| f.object.rsplit('/').next().unwrap().to_string())
        .collect()
}

fn names(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn vs(name: &str, ns: &str, gateway: &str) -> String {
    format!(
        "---\napiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata:\n  name: {name}\n{ns}spec:\n  hosts: ['*']\n  gateways: [{gateway}]\n"
    )
}

/// testdata/virtualservice_gateways.yaml, expected at analyzers_test.go:472-483:
/// IST0101 (ReferencedResourceNotFound) on httpbin-bogus, IST0132
/// (VirtualServiceHostNotFoundInGateway) on cross-test, httpbin-bogus and httpbin (the Gateways
/// have no servers, so they serve no host). istioctl also reports IST0132 for the missing
/// Gateway; postwire does not judge the hosts of a Gateway outside the stream (it may exist in
/// the cluster), so httpbin-bogus is reported once, by istio-gateway-missing. The same objects
/// are reported.
#[test]
fn gateways_analyzer() {
    let gateway = |name: &str, ns: &str| {
        format!("---\napiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata:\n  name: {name}\n{ns}spec:\n  selector:\n    istio: ingressgateway\n")
    };
    let stream = [
        gateway("httpbin-gateway", ""),
        gateway("crossnamespace-gw", "  namespace: another\n"),
        vs("httpbin", "", "httpbin-gateway"),
        vs("httpbin-bogus", "", "httpbin-gateway-bogus"),
        vs("httpbin-mesh", "", "mesh"),
        vs("cross-test", "  namespace: default\n", "another/crossnamespace-gw"),
    ]
    .concat();
    let missing = reported(&stream, "istio-gateway-missing");
    let mismatch = reported(&stream, "istio-gateway-host-mismatch");
    assert_eq!(missing, names(&["httpbin-bogus"]));
    assert_eq!(mismatch, names(&["cross-test", "httpbin"]));
    let all: BTreeSet<String> = missing.union(&mismatch).cloned().collect();
    assert_eq!(all, names(&["cross-test", "httpbin", "httpbin-bogus"]));
}

/// testdata/virtualservice_destinationrules.yaml, expected at analyzers_test.go:463-471:
/// reviews-bogussubset and reviews-mirror-bogussubset (a route and a mirror to a subset the
/// DestinationRule lacks); the short host, the FQDN and a valid mirror are not reported.
#[test]
fn destination_rules_analyzer() {
    let route = |name: &str, host: &str, subset: &str, mirror: &str| {
        format!(
            "---\napiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata:\n  name: {name}\n  namespace: default\nspec:\n  http:\n  - route:\n    - destination:\n        host: {host}\n        subset: {subset}\n{mirror}"
        )
    };
    let mirror = |subset: &str| format!("    mirror:\n      host: reviews\n      subset: {subset}\n");
    let stream = [
        "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata:\n  name: reviews\n  namespace: default\nspec:\n  host: reviews\n  subsets:\n  - name: v1\n    labels:\n      version: v1\n".to_string(),
        route("reviews", "reviews", "v1", ""),
        route("reviews-bogussubset", "reviews", "bogus", ""),
        route("reviews-fqdn", "reviews.default.svc.cluster.local", "v1", ""),
        route("reviews-mirror", "reviews", "v1", &mirror("v1")),
        route("reviews-mirror-bogussubset", "reviews", "v1", &mirror("bogus")),
    ]
    .concat();
    assert_eq!(
        reported(&stream, "istio-subset-undefined"),
        names(&["reviews-bogussubset", "reviews-mirror-bogussubset"])
    );
}

/// testdata/destinationrule-subsets-not-select-pods.yaml, expected at analyzers_test.go:
/// 1078-1085: DestinationRule subsets-not-select-pods (subset `version: v3` of httpbin). The
/// analyzer reads the cluster's pods; the testdata has none. postwire judges a subset only
/// when a workload of the Service is in the stream (its pods may come from elsewhere), so a
/// workload of httpbin with `version: v1` stands for the pods here.
#[test]
fn subset_select_pods_analyzer() {
    let stream = "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata:\n  name: subsets-not-select-pods\n  namespace: default\nspec:\n  host: httpbin.default.svc.cluster.local\n  subsets:\n  - name: fake\n    labels:\n      version: v3\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: httpbin\n  namespace: default\nspec:\n  ports:\n  - name: http\n    port: 8000\n  selector:\n    app: httpbin\n";
    let pods = |version: &str| {
        format!("---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: httpbin\n  namespace: default\nspec:\n  template:\n    metadata:\n      labels:\n        app: httpbin\n        version: {version}\n    spec:\n      containers:\n      - name: httpbin\n")
    };
    assert_eq!(
        reported(&format!("{stream}{}", pods("v1")), "istio-subset-no-pods"),
        names(&["subsets-not-select-pods"])
    );
    assert!(reported(&format!("{stream}{}", pods("v3")), "istio-subset-no-pods").is_empty());
}
