//! Errors of the template limits (fuel, output) say where: the template or patch entry, the
//! object it was rendering and its document, and which setting bounds it.

use postwire_core::wire::{ConfigFileV1, RenderRequestV1};

const INPUT: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    spec:\n      containers:\n      - name: app\n";

fn render_error(config: &str) -> String {
    let mut request = RenderRequestV1::new(INPUT);
    request.config = Some(ConfigFileV1 { name: "platform.yaml".into(), content: config.into() });
    postwire_core::render(&request).unwrap_err().to_string()
}

const SPIN: &str = "{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}";

#[test]
fn a_template_out_of_fuel_names_its_entry_the_object_and_the_document() {
    let config = format!("templates:\n- name: spin\n  forEach: {{kind: Deployment}}\n  fuel: 5000\n  template: |\n    {SPIN}apiVersion: v1\n    kind: ConfigMap\n    metadata: {{name: x}}\n");
    let err = render_error(&config);
    assert!(
        err.contains("templates[0] (spin)") && err.contains("Deployment/web") && err.contains("document 2"),
        "{err}"
    );
    assert!(err.contains("out of fuel") && err.contains("templates[0].fuel"), "{err}");
}

#[test]
fn a_template_held_by_the_platform_cap_says_so() {
    let config = format!("platform: {{templateFuel: 5000}}\ntemplates:\n- name: spin\n  fuel: 100000000\n  template: |\n    {SPIN}apiVersion: v1\n    kind: ConfigMap\n    metadata: {{name: x}}\n");
    let err = render_error(&config);
    assert!(err.contains("templates[0] (spin)") && err.contains("platform.templateFuel"), "{err}");
}

#[test]
fn a_patch_out_of_fuel_names_its_entry_the_object_and_the_document() {
    let config =
        format!("patches:\n- name: slow\n  target: {{kind: Deployment}}\n  fuel: 5000\n  template: |\n    {SPIN}[]\n");
    let err = render_error(&config);
    assert!(err.contains("patches[0] (slow)") && err.contains("Deployment/web") && err.contains("document 2"), "{err}");
    assert!(err.contains("out of fuel") && err.contains("patches[0].fuel"), "{err}");
}

#[test]
fn a_template_over_its_output_limit_names_its_entry_and_the_object() {
    let config = "templates:\n- name: big\n  forEach: {kind: Deployment}\n  maxOutputBytes: 50\n  template: |\n    apiVersion: v1\n    kind: ConfigMap\n    metadata: {name: \"{{ 'x' * 100 }}\"}\n";
    let err = render_error(config);
    assert!(
        err.contains("templates[0] (big)") && err.contains("Deployment/web") && err.contains("document 2"),
        "{err}"
    );
    assert!(err.contains("templates[0].maxOutputBytes"), "{err}");
}
