//! The checksum wiring through `postwire_core::render` on every generated style (issue 11,
//! defects 1-5: an empty annotation value in aggregate and perObject mode, a flow mapping with
//! an empty value, a block scalar at the end of a document without a final newline, merge
//! keys, anchors and tags).
//!
//! Each case is a ConfigMap `c` followed by one generated workload that uses it. For both modes
//! (`perObject`, `aggregate`) the render must, unless the style is one to refuse:
//! - leave the ConfigMap byte for byte;
//! - make the workload, to PyYAML and to Go's yaml.v2, exactly the input plus the one checksum
//!   annotation (`checksum/configmap-c`, or `checksum/config`) holding the content hash;
//! - replace no input line the annotation does not need ([`styles::check_lines`]);
//! - be idempotent and deterministic.
//!
//! A style to refuse (YAML 1.1-only line breaks, lone CRs, merge keys or aliases on the
//! template's path, explicit keys) must fail with a refusal or leave the workload byte for byte
//! with a warning that names it. All cases are rendered first; both readers then read every input
//! and output in one oracle run.

use postwire_core::engine::RenderOutput;
use postwire_core::wire::RenderRequestV1;

use crate::styles::{self, child, Edit, Expect, Styled};
use crate::util::{self, Oracle};

const TEST: &str = "checksum_styles";

/// The ConfigMap every generated workload uses.
fn configmap(nl: &str) -> String {
    ["apiVersion: v1", "kind: ConfigMap", "metadata:", "  name: c", "data:", "  k: v", ""].join(nl)
}

/// Whether `e` is the engine's documented refusal to edit a document.
fn is_refusal(e: &postwire_core::Error) -> bool {
    e.is_uneditable()
}

struct Case {
    styled: Styled,
    mode: &'static str,
    /// The ConfigMap, the separator, then the workload.
    prefix: String,
    stream: String,
    edit: Edit,
    expect: Expect,
    /// The workload's text in the output, when the render edited it.
    output: Option<String>,
}

#[test]
fn checksum_wiring_on_every_style() {
    let Some(oracle) = Oracle::find(TEST) else { return };
    let started = std::time::Instant::now();
    let mut styles = styles::named();
    styles.extend(styles::sampled(120));
    let mut cases = Vec::new();
    let mut failures: Vec<(String, String)> = Vec::new();
    for style in &styles {
        let styled = style.render();
        let nl = if style.crlf { "\r\n" } else { "\n" };
        let cm = configmap(nl);
        let hash = util::content_hash(&serde_json::json!({"data": {"k": "v"}})).unwrap();
        let sep = if styled.text.starts_with("---") { String::new() } else { format!("---{nl}") };
        let prefix = format!("{cm}{sep}");
        let stream = format!("{prefix}{}", styled.text);
        for mode in ["perObject", "aggregate"] {
            let (key, value) = match mode {
                "perObject" => ("checksum/configmap-c".to_string(), hash.clone()),
                _ => ("checksum/config".to_string(), util::sha256_hex(format!("c={hash}\n").as_bytes())),
            };
            let annotations = child(&child(&styled.template, "metadata"), "annotations");
            let edit = Edit::Set { path: child(&annotations, &key), value: value.into() };
            let expect = edit.expect(&styled);
            let mut case = Case {
                styled: styled.clone(),
                mode,
                prefix: prefix.clone(),
                stream: stream.clone(),
                edit,
                expect,
                output: None,
            };
            match run_case(&mut case) {
                Ok(()) => cases.push(case),
                Err(e) => failures.push((format!("{} [{mode}]", style.name), e)),
            }
        }
    }

    // Both readers on every input and edited output, in one run.
    let edited: Vec<&Case> = cases.iter().filter(|c| c.output.is_some()).collect();
    let mut texts: Vec<String> = edited.iter().map(|c| c.styled.text.clone()).collect();
    texts.extend(edited.iter().map(|c| c.output.clone().unwrap()));
    let readings = styles::read_all(&oracle, &texts);
    let (ins, outs) = readings.split_at(edited.len());
    for ((case, input), output) in edited.iter().zip(ins).zip(outs) {
        let name = format!("{} [{}]", case.styled.style.name, case.mode);
        let out_text = case.output.as_deref().unwrap();
        let show = || format!("\n--- input\n{}\n--- output\n{out_text}", case.styled.text);
        let mut value = match styles::agreed(input) {
            Ok(v) => v,
            Err(e) => {
                failures.push((name, format!("generator: {e}")));
                continue;
            }
        };
        let allowed = case.edit.allowed_lines(&case.styled, &value);
        case.edit.apply(&mut value);
        if let Err(e) = styles::check_value(&value, output) {
            failures.push((name.clone(), format!("{e}{}", show())));
        }
        if let Err(e) = styles::check_lines(&case.styled.text, out_text, &allowed) {
            failures.push((name, format!("{e}{}", show())));
        }
    }
    let failed: std::collections::BTreeSet<&str> = failures.iter().map(|(n, _)| n.as_str()).collect();
    eprintln!(
        "checksum styles: {} styles x 2 modes, {} edited and read by both readers, {} refused, {} failing, {:.1} s",
        styles.len(),
        edited.len(),
        cases.len() - edited.len(),
        failed.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        failures.is_empty(),
        "{} of {} cases fail:\n{}\n\n{}",
        failed.len(),
        styles.len() * 2,
        failed.iter().map(|n| format!("  {n}")).collect::<Vec<_>>().join("\n"),
        failures.iter().map(|(n, e)| format!("{n}: {e}")).collect::<Vec<_>>().join("\n\n")
    );
}

fn render(stream: &str, mode: &str) -> postwire_core::error::Result<RenderOutput> {
    let mut req = RenderRequestV1::new(stream);
    req.set = vec![format!("checksum.mode={mode}")];
    postwire_core::render(&req)
}

/// Render a case; checks that need no YAML reader. Sets `case.output` when the workload was edited.
fn run_case(case: &mut Case) -> Result<(), String> {
    let first = render(&case.stream, case.mode);
    let again = render(&case.stream, case.mode);
    if first != again {
        return Err("two renders of the same input differ".into());
    }
    let out = match first {
        Err(e) if is_refusal(&e) && case.expect != Expect::Edit => return Ok(()),
        Err(e) => return Err(format!("render failed: {e}\n--- input\n{}", case.stream)),
        Ok(out) => out,
    };
    let Some(doc) = out.manifests.strip_prefix(&case.prefix) else {
        return Err(format!("the ConfigMap or the separator changed:\n{}", out.manifests));
    };
    if doc == case.styled.text {
        let warned = out
            .report
            .documents
            .iter()
            .any(|d| d.document == 2 && d.notes.iter().any(|n| n.level == postwire_core::report::Level::Warning));
        return match case.expect {
            Expect::Edit => Err(format!("the workload was not edited:\n{}\nreport: {:?}", case.stream, out.report)),
            _ if warned => Ok(()),
            _ => Err(format!("the workload was skipped without a warning: {:?}", out.report)),
        };
    }
    if case.expect == Expect::Refuse {
        return Err(format!("a document to refuse was edited:\n--- input\n{}\n--- output\n{doc}", case.styled.text));
    }
    let second = render(&out.manifests, case.mode).map_err(|e| format!("second render failed: {e}\n{doc}"))?;
    if second.manifests != out.manifests {
        return Err(format!(
            "not idempotent:\n--- first\n{}\n--- second\n{}",
            out.manifests,
            second.manifests.strip_prefix(&case.prefix).unwrap_or(&second.manifests)
        ));
    }
    case.output = Some(doc.to_string());
    Ok(())
}
