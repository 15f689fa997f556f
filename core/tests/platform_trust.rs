//! What the platform decides and a chart cannot: the key of the Secrets' checksums, caps on
//! template fuel and output, what a chart's templates see, and (under `--chart-config=ignore`)
//! the chart's `postwire.dev/*` annotations.

use hmac::{Hmac, Mac};
use postwire_core::wire::{ChartConfig, ConfigFileV1, RenderRequestV1};
use sha2::{Digest, Sha256};

const KEY: &str = "k3y-0f-the-platform-32-bytes-xyz";
/// A low-entropy Secret: a 4-digit PIN.
const SECRET: &str = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: pin\nstringData:\n  pin: \"4711\"\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    spec:\n      containers:\n      - name: app\n        envFrom: [{secretRef: {name: pin}}]\n";

fn request(input: &str, config: &str) -> RenderRequestV1 {
    let mut request = RenderRequestV1::new(input);
    request.config = Some(ConfigFileV1 { name: "platform.yaml".into(), content: config.into() });
    request
}

fn checksum_of(manifests: &str) -> String {
    let line = manifests.lines().find(|l| l.contains("checksum/secret-pin")).expect("a checksum annotation");
    line.rsplit(':').next().unwrap().trim().trim_matches('"').to_string()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The checksum of `{"stringData":{"pin":"4711"}}`, the canonical content.
const CONTENT: &str = r#"{"stringData":{"pin":"4711"}}"#;

#[test]
fn a_keyed_secret_checksum_is_an_hmac_under_the_platform_key() {
    let plain = postwire_core::render(&request(SECRET, "checksum: {enabled: true}\n")).unwrap();
    assert_eq!(checksum_of(&plain.manifests), hex(&Sha256::digest(CONTENT)), "a plain SHA-256 by default");

    let mut keyed = request(SECRET, "checksum:\n  secretKey: ${POSTWIRE_CHECKSUM_KEY}\n");
    keyed.context.env.insert("POSTWIRE_CHECKSUM_KEY".into(), KEY.into());
    let out = postwire_core::render(&keyed).unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(KEY.as_bytes()).unwrap();
    mac.update(CONTENT.as_bytes());
    assert_eq!(checksum_of(&out.manifests), hex(&mac.finalize().into_bytes()));
    let report = serde_json::to_string(&out.report).unwrap();
    assert!(!out.manifests.contains(KEY) && !report.contains(KEY), "the key is in the output or report");

    keyed.context.env.insert("POSTWIRE_CHECKSUM_KEY".into(), format!("{KEY}2"));
    let other = postwire_core::render(&keyed).unwrap();
    assert_ne!(checksum_of(&other.manifests), checksum_of(&out.manifests), "another key, another checksum");
}

#[test]
fn a_short_key_is_refused_without_being_quoted() {
    let err = postwire_core::render(&request(SECRET, "checksum: {secretKey: s3cr3t-sh0rt}\n")).unwrap_err().to_string();
    assert!(err.contains("checksum.secretKey") && err.contains("16 bytes"), "{err}");
    assert!(!err.contains("s3cr3t-sh0rt"), "the key is quoted: {err}");
}

#[test]
fn a_chart_cannot_set_the_checksum_key_or_the_platform_caps() {
    for (setting, path) in [
        ("checksum:\n  secretKey: k3y-0f-the-chart-32-bytes-long-x\n", "checksum.secretKey"),
        ("platform:\n  templateFuel: 1000000000000\n", "platform"),
    ] {
        let input = format!("apiVersion: postwire.dev/v1alpha1\nkind: PostwireConfig\n{setting}---\n{SECRET}");
        let err = postwire_core::render(&RenderRequestV1::new(&input)).unwrap_err().to_string();
        assert!(err.contains(&format!("cannot set `{path}`")) && err.contains("document 1"), "{err}");
        assert!(!err.contains("k3y-0f-the-chart"), "the key is quoted: {err}");
        // Under --chart-config=ignore the chart's config is not read at all.
        let mut ignored = RenderRequestV1::new(&input);
        ignored.chart_config = ChartConfig::Ignore;
        postwire_core::render(&ignored).unwrap();
    }
}

/// A template that loops 20,000 times: about 100,000 units of fuel.
const LOOP: &str = "templates:\n- name: spin\n  fuel: 1000000000000\n  template: |\n    {% for i in range(20000) %}{% endfor %}apiVersion: v1\n    kind: ConfigMap\n    metadata: {name: spin}\n";

#[test]
fn a_chart_template_cannot_raise_its_fuel_over_the_platform_cap() {
    let input = format!("apiVersion: postwire.dev/v1alpha1\nkind: PostwireConfig\n{LOOP}---\n{SECRET}");
    // Under the default cap (10,000,000) the loop runs.
    let out = postwire_core::render(&RenderRequestV1::new(&input)).unwrap();
    assert!(out.manifests.contains("name: \"spin\""), "{}", out.manifests);
    // The platform's cap wins over the chart's own `fuel`.
    let err = postwire_core::render(&request(&input, "platform: {templateFuel: 10000}\n")).unwrap_err().to_string();
    assert!(err.contains("template `spin`") && err.contains("out of fuel"), "{err}");
}

#[test]
fn the_platform_caps_template_output() {
    let config = "platform: {templateOutputBytes: 100}\ntemplates:\n- name: big\n  maxOutputBytes: 100000000\n  template: |\n    apiVersion: v1\n    kind: ConfigMap\n    metadata: {name: big}\n    data: {x: \"{{ 'x' * 500 }}\"}\n";
    let err = postwire_core::render(&request(SECRET, config)).unwrap_err().to_string();
    assert!(err.contains("writes more than 100 bytes"), "{err}");
}

const READ_ENV: &str = "templates:\n- name: leak\n  template: |\n    apiVersion: v1\n    kind: ConfigMap\n    metadata: {name: leak}\n    data: {token: {{ argocd.ARGOCD_ENV_TOKEN | default('hidden') | quote }}, app: {{ argocd.ARGOCD_APP_NAME | quote }}}\n";

fn with_env(mut request: RenderRequestV1) -> RenderRequestV1 {
    request.context.env.insert("ARGOCD_ENV_TOKEN".into(), "app-token".into());
    request.context.env.insert("ARGOCD_APP_NAME".into(), "shop".into());
    request
}

#[test]
fn a_chart_template_sees_no_application_variables_unless_the_platform_allows_it() {
    let input = format!("apiVersion: postwire.dev/v1alpha1\nkind: PostwireConfig\n{READ_ENV}---\n{SECRET}");
    let out = postwire_core::render(&with_env(RenderRequestV1::new(&input))).unwrap();
    assert!(
        out.manifests.contains("token: \"hidden\"") && out.manifests.contains("app: \"shop\""),
        "{}",
        out.manifests
    );

    let allowed = with_env(request(&input, "platform: {chartTemplatesSeeAppEnv: true}\n"));
    let out = postwire_core::render(&allowed).unwrap();
    assert!(out.manifests.contains("token: \"app-token\""), "{}", out.manifests);

    // The platform's own templates see them.
    let out = postwire_core::render(&with_env(request(SECRET, READ_ENV))).unwrap();
    assert!(out.manifests.contains("token: \"app-token\""), "{}", out.manifests);
}

const IRSA: &str = "checksum: {enabled: false}\nirsa:\n  enabled: true\n  accountId: \"123456789012\"\n  roleName: \"app-{serviceAccount}\"\n";
const ROLE_OVERRIDE: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  annotations:\n    postwire.dev/irsa-role: cluster-admin-role\n    team: shop\nspec:\n  template:\n    spec:\n      serviceAccountName: web\n      containers:\n      - name: app\n---\napiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: web\n";

#[test]
fn under_ignore_a_charts_postwire_annotations_are_not_read() {
    let merged = postwire_core::render(&request(ROLE_OVERRIDE, IRSA)).unwrap();
    assert!(merged.manifests.contains("role/cluster-admin-role"), "{}", merged.manifests);

    let mut ignore = request(ROLE_OVERRIDE, IRSA);
    ignore.chart_config = ChartConfig::Ignore;
    let out = postwire_core::render(&ignore).unwrap();
    assert!(
        out.manifests.contains("role/app-web") && !out.manifests.contains("cluster-admin-role"),
        "{}",
        out.manifests
    );
    assert!(out.manifests.contains("    team: shop\n"), "other annotations stay: {}", out.manifests);
    let report = serde_json::to_string(&out.report).unwrap();
    assert!(report.contains("ignored and removed postwire.dev/irsa-role"), "{report}");
}

/// A ResourceList found on stdin (not `postwire krm`) may be the chart's output wrapped to
/// look like a KRM function call: its functionConfig cannot set the platform's keys, and its
/// templates are the chart's (no `ARGOCD_ENV_*`). `postwire krm` (input `resourceList`) reads
/// it as the platform's.
#[test]
fn a_detected_resource_lists_function_config_is_not_the_platforms() {
    use postwire_core::wire::InputFormat;
    let list = |fc: &str| {
        format!("apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nfunctionConfig:\n  apiVersion: postwire.dev/v1alpha1\n  kind: PostwireConfig\n{fc}items:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata: {{name: c}}\n")
    };
    let indent = |text: &str| text.lines().map(|l| format!("  {l}\n")).collect::<String>();
    let caps = list("  platform: {templateFuel: 1000000000000}\n");
    let err = postwire_core::render_response(&RenderRequestV1::new(&caps)).unwrap_err().to_string();
    assert!(err.contains("cannot set `platform`") && err.contains("functionConfig"), "{err}");
    let mut krm = RenderRequestV1::new(&caps);
    krm.input = InputFormat::ResourceList;
    postwire_core::render_response(&krm).unwrap();

    let reads_env = list(&indent(READ_ENV));
    let out = postwire_core::render_response(&with_env(RenderRequestV1::new(&reads_env))).unwrap();
    assert!(out.manifests.contains("token: \"hidden\""), "{}", out.manifests);
    let mut krm = with_env(RenderRequestV1::new(&reads_env));
    krm.input = InputFormat::ResourceList;
    let out = postwire_core::render_response(&krm).unwrap();
    assert!(out.manifests.contains("token: \"app-token\""), "{}", out.manifests);
}
