use postwire::runner::Runner;
use postwire_core::wire::RenderRequestV1;

#[test]
fn render_runs_under_the_extism_host() {
    let mut runner = Runner::embedded().unwrap();
    let out = runner.render(&RenderRequestV1::new("a: 1\n")).unwrap();
    assert_eq!(out.manifests, "a: 1\n");
}
