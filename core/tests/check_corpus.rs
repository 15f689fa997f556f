//! The cross-object check over the real third-party manifests in `../shared/corpus` (streams and
//! rendered charts): no error-level finding. The warnings it gives are listed and judged in
//! docs/check.md; `POSTWIRE_CHECK_LIST=1` prints them.

mod common;

#[test]
fn no_errors_on_the_corpus() {
    let Some(shared) = common::shared("no_errors_on_the_corpus") else {
        return;
    };
    let mut errors = Vec::new();
    let mut files = 0;
    for path in common::corpus_files(&shared) {
        let text = std::fs::read_to_string(&path).unwrap();
        let findings = postwire_core::check::check(&text, None).unwrap();
        files += 1;
        let dir = path.parent().unwrap().file_name().unwrap().to_string_lossy().to_string();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        for f in &findings {
            if std::env::var("POSTWIRE_CHECK_LIST").as_deref() == Ok("1") {
                println!("{dir}/{name}: {}", f.line());
            }
            if f.level == postwire_core::check::Level::Error {
                errors.push(format!("{dir}/{name}: {}", f.line()));
            }
        }
    }
    assert!(files >= 10, "the corpus has {files} streams");
    assert!(errors.is_empty(), "error-level findings on the corpus:\n{}", errors.join("\n"));
}
