//! The runner as a command-line tool: what users (and Helm, Argo CD, CI scripts) rely on when
//! they call `postwire` directly — error messages that point at the problem with a meaningful
//! exit code, the JSON report, `schema`, `version`, `wasm`, empty input, and the compiled-module
//! cache in good and bad conditions.

use std::path::Path;
use std::process::{Command, Output};

use crate::util::{self, describe, TempDir};

/// How the runner reads its input.
#[derive(Clone, Copy, Debug)]
enum Mode {
    /// `postwire [args] < file` (post-renderer mode).
    Stdin,
    /// `postwire render -f FILE [args]`.
    RenderFile,
}

/// Run the runner on `input` in `mode` with extra `args`; the cache lives in `dir`.
fn render(dir: &TempDir, mode: Mode, input: &str, args: &[&str]) -> Output {
    let mut cmd = util::postwire(&dir.join("cache"));
    match mode {
        Mode::Stdin => {
            cmd.args(args);
            util::run(&mut cmd, input.as_bytes())
        }
        Mode::RenderFile => {
            let file = dir.join("input.yaml");
            std::fs::write(&file, input).unwrap();
            cmd.args(["render", "-f", file.to_str().unwrap()]).args(args);
            util::run(&mut cmd, b"")
        }
    }
}

/// A failure: the exit code, nothing on stdout (a post-renderer must not emit half a
/// stream), and stderr an `Error: ` line containing every `wants`.
fn assert_fails(out: &Output, code: i32, wants: &[&str], context: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{context}: exit code\n{}", describe(out));
    assert!(out.stdout.is_empty(), "{context}: stdout must be empty\n{}", describe(out));
    assert!(stderr.starts_with("Error: "), "{context}\n{}", describe(out));
    for want in wants {
        assert!(stderr.contains(want), "{context}: stderr lacks `{want}`\n{}", describe(out));
    }
}

const CM_A: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  k: v\n";

/// Malformed YAML in document 2: exit 4, the message names `document 2` and the line (10,
/// counted in the whole stream), nothing on stdout; the same through stdin and `render -f`.
#[test]
fn cli_malformed_yaml_names_document_and_line() {
    let dir = TempDir::new("cli_malformed_yaml");
    let input = format!("{CM_A}---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n  labels: [x\n---\n{CM_A}");
    // line 12 is `  labels: [x` (6 lines of CM_A, `---`, then 5 more)
    assert_eq!(input.lines().nth(11), Some("  labels: [x"));
    for mode in [Mode::Stdin, Mode::RenderFile] {
        let out = render(&dir, mode, &input, &[]);
        assert_fails(&out, 4, &["document 2", "line 12", "invalid YAML"], &format!("{mode:?}"));
    }
}

/// A list or a scalar where a Kubernetes object belongs: exit 4, names the document and says
/// what it is; through stdin and `render -f`.
#[test]
fn cli_non_mapping_documents_are_rejected() {
    let dir = TempDir::new("cli_non_mapping");
    for (doc, what) in [("- a\n- b\n", "is a list"), ("just a scalar\n", "is a scalar")] {
        let input = format!("{CM_A}---\n{CM_A}---\n{doc}");
        for mode in [Mode::Stdin, Mode::RenderFile] {
            let out = render(&dir, mode, &input, &[]);
            assert_fails(&out, 4, &["document 3", "line 15", "invalid document", what], &format!("{mode:?} {doc:?}"));
        }
    }
}

const HEAD: &str = "apiVersion: postwire.dev/v1alpha1\nkind: PostwireConfig\n";

/// An unknown config key: exit 3; the message names the file, the line, `checksum.mdoe` and
/// the closest key — from `--config` (stdin and `render -f`), an in-stream PostwireConfig and
/// `--set`.
#[test]
fn cli_unknown_config_key_names_file_line_and_closest_key() {
    let dir = TempDir::new("cli_unknown_key");
    let config = dir.join("postwire.yaml");
    std::fs::write(&config, format!("{HEAD}checksum:\n  enabled: true\n  mdoe: aggregate\n")).unwrap();
    let cfg = config.to_str().unwrap();
    let wants_key = ["checksum.mdoe: unknown field `mdoe`", "(did you mean `mode`?)"];
    for mode in [Mode::Stdin, Mode::RenderFile] {
        let out = render(&dir, mode, CM_A, &["--config", cfg]);
        let mut wants = vec![cfg, "line 5", "invalid config"];
        wants.extend(wants_key);
        assert_fails(&out, 3, &wants, &format!("--config, {mode:?}"));
    }
    let in_stream = format!("{CM_A}---\n{HEAD}checksum:\n  mdoe: aggregate\n");
    let out = render(&dir, Mode::Stdin, &in_stream, &[]);
    let mut wants = vec!["document 2 (PostwireConfig)", "line 11"];
    wants.extend(wants_key);
    assert_fails(&out, 3, &wants, "in-stream PostwireConfig");
    let out = render(&dir, Mode::Stdin, CM_A, &["--set", "checksum.mdoe=aggregate"]);
    let mut wants = vec!["--set checksum.mdoe=aggregate"];
    wants.extend(wants_key);
    assert_fails(&out, 3, &wants, "--set");
}

/// A wrong type (`checksum.enabled: maybe`): exit 3, names file, line, path and the value.
#[test]
fn cli_wrong_config_type_is_reported() {
    let dir = TempDir::new("cli_wrong_type");
    let config = dir.join("c.yaml");
    std::fs::write(&config, format!("{HEAD}checksum:\n  enabled: maybe\n")).unwrap();
    let cfg = config.to_str().unwrap();
    for mode in [Mode::Stdin, Mode::RenderFile] {
        let out = render(&dir, mode, CM_A, &["-c", cfg]);
        assert_fails(
            &out,
            3,
            &[cfg, "line 4", "checksum.enabled: expected a boolean", "`maybe`"],
            &format!("{mode:?}"),
        );
    }
    let out = render(&dir, Mode::Stdin, CM_A, &["--set", "checksum.enabled=maybe"]);
    assert_fails(&out, 3, &["checksum.enabled: expected a boolean", "`maybe`"], "--set");
}

const SECRET_VALUE: &str = "Zebra-Sup3r-S3cret-77";

fn wired_input() -> String {
    let deployment = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: prod
spec:
  template:
    spec:
      containers:
      - name: c
        envFrom:
        - secretRef: {name: db}
      volumes:
      - name: v
        configMap: {name: a}
"#;
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  password: {SECRET_VALUE}\n---\n{CM_A}---\n{deployment}"
    )
}

/// `checksum.secretKey: ${POSTWIRE_CHECKSUM_KEY}` keys the Secret checksums with a key from the
/// runner's environment: the checksum changes with the key, and the key shows in no channel
/// (stdout, stderr, `--report`), not even when it is refused as too short.
#[test]
fn the_checksum_key_from_the_environment_never_shows() {
    const KEY: &str = "pw-key-marker-0123456789abcdef";
    let dir = TempDir::new("cli_checksum_key");
    let input = dir.join("input.yaml");
    std::fs::write(&input, wired_input()).unwrap();
    let config = dir.join("platform.yaml");
    std::fs::write(&config, "checksum:\n  secretKey: ${POSTWIRE_CHECKSUM_KEY}\n").unwrap();
    let report = dir.join("report.json");
    let run = |key: &str| {
        let mut cmd = util::postwire(&dir.join("cache"));
        cmd.env("POSTWIRE_CHECKSUM_KEY", key).args([
            "render",
            "-f",
            input.to_str().unwrap(),
            "--config",
            config.to_str().unwrap(),
            "--report",
            report.to_str().unwrap(),
        ]);
        util::run(&mut cmd, b"")
    };
    let checksum = |out: &Output| {
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        stdout.lines().find(|l| l.contains("checksum/secret-db")).map(str::to_string).unwrap_or_default()
    };
    let out = run(KEY);
    assert!(out.status.success(), "{}", describe(&out));
    let text = std::fs::read_to_string(&report).unwrap();
    for (channel, content) in [
        ("stdout", String::from_utf8_lossy(&out.stdout).to_string()),
        ("stderr", String::from_utf8_lossy(&out.stderr).to_string()),
        ("report", text),
    ] {
        assert!(!content.contains(KEY), "the key is on {channel}");
    }
    let other = run(&format!("{KEY}-2"));
    assert!(!checksum(&out).is_empty() && checksum(&out) != checksum(&other), "{}", describe(&other));

    let short = run("pw-short-key");
    assert!(!short.status.success() && short.stdout.is_empty(), "{}", describe(&short));
    let stderr = String::from_utf8_lossy(&short.stderr);
    assert!(stderr.contains("checksum.secretKey") && !stderr.contains("pw-short-key"), "{stderr}");
}

/// A render that fails (here: a template out of fuel, issue 19's limit errors) leaves no
/// `--report` file behind: the report of an earlier render at the same path is removed first,
/// so it cannot be taken for the failed render's.
#[test]
fn a_failed_render_leaves_no_stale_report() {
    let dir = TempDir::new("cli_stale_report");
    let report_file = dir.join("report.json");
    let report = report_file.to_str().unwrap();
    let out = render(&dir, Mode::RenderFile, &wired_input(), &["--report", report]);
    assert!(out.status.success() && report_file.exists(), "{}", describe(&out));
    let config = dir.join("spin.yaml");
    std::fs::write(
        &config,
        "templates:\n- name: spin\n  fuel: 1000\n  template: \"{% for i in range(5000) %}{% endfor %}\"\n",
    )
    .unwrap();
    let out =
        render(&dir, Mode::RenderFile, &wired_input(), &["--report", report, "--config", config.to_str().unwrap()]);
    assert!(!out.status.success() && out.stdout.is_empty(), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("templates[0] (spin) used all its fuel"), "{stderr}");
    assert!(!report_file.exists(), "the earlier render's report is still there");
}

/// `--report FILE` writes JSON that lists each change (document number, object, path, key,
/// action) and never a Secret's value; stderr does not carry it either, and `--report -`
/// (stderr) neither.
#[test]
fn cli_report_lists_changes_without_secret_values() {
    let dir = TempDir::new("cli_report");
    let report_file = dir.join("report.json");
    for mode in [Mode::Stdin, Mode::RenderFile] {
        let _ = std::fs::remove_file(&report_file);
        let out = render(&dir, mode, &wired_input(), &["--report", report_file.to_str().unwrap()]);
        assert!(out.status.success(), "{mode:?}\n{}", describe(&out));
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.contains("checksum/secret-db: \""), "{}", describe(&out));
        let text = std::fs::read_to_string(&report_file).unwrap();
        assert!(!text.contains(SECRET_VALUE), "report leaks the Secret value:\n{text}");
        assert!(!String::from_utf8_lossy(&out.stderr).contains(SECRET_VALUE), "{}", describe(&out));
        let report: serde_json::Value = serde_json::from_str(&text).unwrap();
        let docs = report["documents"].as_array().expect("documents list");
        let deploy = docs
            .iter()
            .find(|d| d["object"] == "Deployment/prod/web")
            .unwrap_or_else(|| panic!("no Deployment/prod/web in report:\n{text}"));
        assert_eq!(deploy["document"], 3, "{text}");
        let changes: Vec<(String, String, String)> = deploy["changes"]
            .as_array()
            .expect("changes list")
            .iter()
            .map(|c| {
                (
                    c["path"].as_str().unwrap().to_string(),
                    c["key"].as_str().unwrap().to_string(),
                    c["action"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        let expected: Vec<(String, String, String)> = ["checksum/configmap-a", "checksum/secret-db"]
            .iter()
            .map(|k| ("spec.template.metadata.annotations".to_string(), k.to_string(), "added".to_string()))
            .collect();
        assert_eq!(changes, expected, "{text}");
        assert!(docs.iter().all(|d| d["object"] == "Deployment/prod/web"), "only the Deployment changed:\n{text}");
    }
    let out = render(&dir, Mode::Stdin, &wired_input(), &["--report", "-"]);
    assert!(out.status.success(), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("\"checksum/secret-db\""), "{}", describe(&out));
    assert!(!stderr.contains(SECRET_VALUE), "{}", describe(&out));
}

/// `postwire schema` prints the JSON Schema of PostwireConfig; an independent validator
/// (python jsonschema) accepts a real config with it and rejects an unknown key.
#[test]
fn cli_schema_validates_configs() {
    let test = "cli_schema_validates_configs";
    let dir = TempDir::new(test);
    let out = util::run(util::postwire(&dir.join("cache")).arg("schema"), b"");
    assert!(out.status.success(), "{}", describe(&out));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("\"title\": \"PostwireConfig\""), "{text}");
    let schema: serde_json::Value = serde_json::from_str(&text).expect("schema is JSON");
    let Some(python) = util::python(test) else {
        return;
    };
    std::fs::write(dir.join("schema.json"), &text).unwrap();
    const CHECK: &str = r#"
import json, sys, yaml, jsonschema
schema = json.load(open(sys.argv[1]))
jsonschema.validators.validator_for(schema).check_schema(schema)
v = jsonschema.validators.validator_for(schema)(schema)
for path in sys.argv[2:]:
    errors = [e.message for e in v.iter_errors(yaml.safe_load(open(path)))]
    print(path.rsplit('/', 1)[-1], json.dumps(errors))
"#;
    let good = dir.join("good.yaml");
    std::fs::write(
        &good,
        format!(
            "{HEAD}metadata:\n  name: web\nworkloads:\n- group: apps.kruise.io\n  kind: CloneSet\n  podTemplatePath: spec.template\n\
checksum:\n  enabled: true\n  mode: aggregate\n  annotationPrefix: checksum/\n  include: [\"configmap/web-*\"]\n  exclude: [\"secret/tls\"]\n  jobs: all\n"
        ),
    )
    .unwrap();
    let bad = dir.join("bad.yaml");
    std::fs::write(&bad, format!("{HEAD}checksum:\n  mdoe: aggregate\n")).unwrap();
    let out = util::run(
        Command::new(&python).args([
            "-c",
            CHECK,
            dir.join("schema.json").to_str().unwrap(),
            good.to_str().unwrap(),
            bad.to_str().unwrap(),
        ]),
        b"",
    );
    assert!(out.status.success(), "{}", describe(&out));
    let lines = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(lines.contains("good.yaml []"), "sample config rejected:\n{lines}");
    assert!(
        lines.contains("bad.yaml [\"Additional properties are not allowed ('mdoe' was unexpected)\"]"),
        "unknown key accepted:\n{lines}"
    );
    // The same good config is accepted by postwire itself.
    let out = render(&dir, Mode::Stdin, CM_A, &["--config", good.to_str().unwrap()]);
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(schema["type"], "object");
}

/// `postwire version` names the version, the commit it was built from and the sha256 of
/// plugin.wasm; `postwire wasm -o FILE` writes that very module (wasm magic `\0asm`, same digest).
#[test]
fn cli_version_and_wasm_agree() {
    let dir = TempDir::new("cli_version_wasm");
    let out = util::run(util::postwire(&dir.join("cache")).arg("version"), b"");
    assert!(out.status.success(), "{}", describe(&out));
    let version = String::from_utf8(out.stdout).unwrap();
    assert!(version.starts_with(&format!("postwire {} (commit ", env!("CARGO_PKG_VERSION"))), "{version}");
    let head = Command::new("git").current_dir(util::workspace()).args(["rev-parse", "--short=12", "HEAD"]).output();
    if let Ok(head) = head.as_ref().map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string()) {
        if !head.is_empty() && std::env::var_os("POSTWIRE_COMMIT").is_none() {
            assert!(
                version.contains(&format!("(commit {head}, plugin.wasm sha256:")),
                "{version} is not of HEAD {head}"
            );
        }
    }
    let file = dir.join("plugin.wasm");
    let out = util::run(util::postwire(&dir.join("cache")).args(["wasm", "-o", file.to_str().unwrap()]), b"");
    assert!(out.status.success(), "{}", describe(&out));
    assert!(out.stdout.is_empty(), "{}", describe(&out));
    let wasm = std::fs::read(&file).unwrap();
    assert_eq!(&wasm[..4], b"\0asm", "not a wasm module");
    let digest = util::sha256_hex(&wasm);
    assert!(
        version.contains(&format!("sha256:{digest})")),
        "version `{version}` does not show the digest {digest} of the written module"
    );
    // Without -o the module goes to stdout, byte for byte.
    let out = util::run(util::postwire(&dir.join("cache")).arg("wasm"), b"");
    assert!(out.status.success());
    assert!(out.stdout == wasm, "`postwire wasm` differs from `postwire wasm -o`");
}

/// Empty input gives empty output and exit 0 (Helm 3 accepts it; a chart may render nothing).
#[test]
fn cli_empty_input_gives_empty_output() {
    let dir = TempDir::new("cli_empty");
    for mode in [Mode::Stdin, Mode::RenderFile] {
        let out = render(&dir, mode, "", &[]);
        assert!(out.status.success(), "{mode:?}\n{}", describe(&out));
        assert!(out.stdout.is_empty(), "{mode:?}\n{}", describe(&out));
        assert!(out.stderr.is_empty(), "{mode:?}\n{}", describe(&out));
    }
}

/// The expected output of `wired_input()` must carry both checksums.
fn assert_wired(out: &Output, context: &str) {
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{context}\n{}", describe(out));
    assert!(
        stdout.contains("checksum/configmap-a: \"") && stdout.contains("checksum/secret-db: \""),
        "{context}\n{}",
        describe(out)
    );
}

fn files_under(dir: &Path) -> Vec<String> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                files.push(p.strip_prefix(dir).unwrap().display().to_string());
            }
        }
    }
    files.sort();
    files
}

/// The compiled-module cache: the first run fills POSTWIRE_CACHE_DIR, a second run with the
/// same cache works and gives the same output.
#[test]
fn cli_module_cache_is_filled_and_reused() {
    let dir = TempDir::new("cli_cache_reuse");
    let cache = dir.join("cache");
    assert!(!cache.exists());
    let first = util::run(&mut util::postwire(&cache), wired_input().as_bytes());
    assert_wired(&first, "first run");
    let files = files_under(&cache);
    assert!(
        files.iter().any(|f| f.starts_with("modules/plugin-") && f.ends_with(".cwasm")),
        "cache not filled: {files:?}"
    );
    let second = util::run(&mut util::postwire(&cache), wired_input().as_bytes());
    assert_wired(&second, "second run");
    assert_eq!(first.stdout, second.stdout);
    assert!(second.stderr.is_empty(), "{}", describe(&second));
}

/// A cache directory that cannot be created (under /dev/null) does not stop a render.
#[test]
fn cli_uncreatable_cache_dir_still_renders() {
    let out = util::run(&mut util::postwire(Path::new("/dev/null/postwire-cache")), wired_input().as_bytes());
    assert_wired(&out, "POSTWIRE_CACHE_DIR=/dev/null/postwire-cache");
    assert!(out.stderr.is_empty(), "{}", describe(&out));
}

/// Run `postwire render -f <wired input>` with POSTWIRE_CACHE_DIR=`cache` while each of
/// `read_only` is a read-only bind mount (a private mount namespace; we run as root). None,
/// with a skip message, when unshare or mount are not permitted here.
fn render_with_read_only_dirs(test: &str, dir: &TempDir, cache: &Path, read_only: &[&Path]) -> Option<Output> {
    let input = dir.join("input.yaml");
    std::fs::write(&input, wired_input()).unwrap();
    let mut script = String::new();
    for ro in read_only {
        let d = util::sh_quote(ro.to_str().unwrap());
        script.push_str(&format!(
            "mount --bind {d} {d} && mount -o remount,bind,ro {d} || exit 99; \
             if touch {d}/probe 2>/dev/null; then echo '{d} is writable' >&2; exit 98; fi; "
        ));
    }
    script.push_str(&format!(
        "exec {} render -f {}",
        util::sh_quote(util::postwire_bin().to_str().unwrap()),
        util::sh_quote(input.to_str().unwrap()),
    ));
    let out = util::run(
        Command::new("unshare").args(["-m", "--", "sh", "-c", &script]).env("POSTWIRE_CACHE_DIR", cache),
        b"",
    );
    // 99: the mounts failed; a failing `unshare` exits 1 with its own message and no output.
    let unshare_failed = out.status.code() == Some(1)
        && out.stdout.is_empty()
        && String::from_utf8_lossy(&out.stderr).starts_with("unshare:");
    if out.status.code() == Some(99) || unshare_failed || out.status.code().is_none() {
        util::skip(
            test,
            &format!("cannot make a read-only bind mount here (needs unshare -m and mount):\n{}", describe(&out)),
        );
        return None;
    }
    assert_ne!(out.status.code(), Some(98), "{}", describe(&out));
    Some(out)
}

/// A read-only cache (e.g. a cache baked into a CI image or mounted read-only into an Argo CD
/// sidecar) that a previous run populated still renders, and is left as it was.
#[test]
fn cli_read_only_populated_cache_still_renders() {
    let test = "cli_read_only_populated_cache_still_renders";
    let dir = TempDir::new(test);
    let cache = dir.join("cache");
    let first = util::run(&mut util::postwire(&cache), wired_input().as_bytes());
    assert_wired(&first, "populating run");
    let before = files_under(&cache);
    let Some(out) = render_with_read_only_dirs(test, &dir, &cache, &[&cache]) else {
        return;
    };
    assert_wired(&out, "read-only cache");
    assert_eq!(out.stdout, first.stdout);
    assert!(out.stderr.is_empty(), "{}", describe(&out));
    assert_eq!(files_under(&cache), before, "the read-only run changed the cache");
}

/// A populated cache that was moved (restored by CI at another path, copied into an image for
/// another HOME) is used where it now is: postwire must not read or write compiled modules at
/// the directory the cache was first created in.
#[test]
fn cli_moved_cache_stays_in_its_directory() {
    let dir = TempDir::new("cli_moved_cache");
    let original = dir.join("original");
    let moved = dir.join("moved");
    let first = util::run(&mut util::postwire(&original), wired_input().as_bytes());
    assert_wired(&first, "populating run");
    std::fs::rename(&original, &moved).unwrap();
    let out = util::run(&mut util::postwire(&moved), wired_input().as_bytes());
    assert_wired(&out, "moved cache");
    assert!(
        !original.exists(),
        "POSTWIRE_CACHE_DIR={} recreated the cache's old location {} (files {:?})",
        moved.display(),
        original.display(),
        files_under(&original),
    );
}

/// The same moved cache, read-only, on a system where its old location cannot be written
/// either (readOnlyRootFilesystem containers): the render must still work, like it does when
/// the cache directory cannot be created at all.
#[test]
fn cli_moved_read_only_cache_still_renders() {
    let test = "cli_moved_read_only_cache_still_renders";
    let dir = TempDir::new(test);
    let old_parent = dir.join("image-build");
    std::fs::create_dir_all(&old_parent).unwrap();
    let original = old_parent.join("cache");
    let moved = dir.join("moved");
    let first = util::run(&mut util::postwire(&original), wired_input().as_bytes());
    assert_wired(&first, "populating run");
    std::fs::rename(&original, &moved).unwrap();
    let Some(out) = render_with_read_only_dirs(test, &dir, &moved, &[&moved, &old_parent]) else {
        return;
    };
    assert_wired(&out, "moved read-only cache, old location not writable");
    assert_eq!(out.stdout, first.stdout);
}

/// Concurrent cold runs sharing one new cache directory (Argo CD runs generate concurrently)
/// all succeed with the same output.
#[test]
fn cli_concurrent_runs_share_a_new_cache() {
    let dir = TempDir::new("cli_concurrent_cache");
    let cache = dir.join("cache");
    let children: Vec<_> = (0..4)
        .map(|_| {
            let cache = cache.clone();
            std::thread::spawn(move || util::run(&mut util::postwire(&cache), wired_input().as_bytes()))
        })
        .collect();
    let outs: Vec<Output> = children.into_iter().map(|c| c.join().unwrap()).collect();
    for out in &outs {
        assert_wired(out, "concurrent run");
        assert!(out.stderr.is_empty(), "{}", describe(out));
        assert_eq!(out.stdout, outs[0].stdout);
    }
}

/// Error reporting to the terminal is only for Helm 4 plugins: with HELM_PLUGIN_NAME set and
/// stderr captured (as Helm 4 does), the message reaches the terminal; run directly, it goes
/// to stderr only (no duplicate on the terminal).
#[test]
fn cli_error_reaches_terminal_only_under_helm_plugin() {
    let test = "cli_error_reaches_terminal_only_under_helm_plugin";
    let dir = TempDir::new(test);
    let cache = dir.join("cache");
    let stderr_file = dir.join("stderr.txt");
    let line = format!(
        "{} --set checksum.mdoe=x </dev/null 2>{}",
        util::sh_quote(util::postwire_bin().to_str().unwrap()),
        util::sh_quote(stderr_file.to_str().unwrap())
    );
    let Some(direct) =
        util::in_pty(test, &format!("unset HELM_PLUGIN_NAME; {line}"), &[("POSTWIRE_CACHE_DIR", &cache)])
    else {
        return;
    };
    let direct_err = std::fs::read_to_string(&stderr_file).unwrap();
    assert_eq!(direct.status.code(), Some(3), "{}", describe(&direct));
    assert!(direct_err.contains("checksum.mdoe: unknown field"), "{direct_err}");
    assert!(
        !String::from_utf8_lossy(&direct.stdout).contains("checksum.mdoe"),
        "written to the terminal outside Helm:\n{}",
        describe(&direct)
    );
    let Some(plugin) =
        util::in_pty(test, &format!("HELM_PLUGIN_NAME=postwire {line}"), &[("POSTWIRE_CACHE_DIR", &cache)])
    else {
        return;
    };
    assert_eq!(plugin.status.code(), Some(3), "{}", describe(&plugin));
    let terminal = String::from_utf8_lossy(&plugin.stdout);
    assert!(
        terminal
            .contains("postwire: Error: --set checksum.mdoe=x: invalid config: checksum.mdoe: unknown field `mdoe`"),
        "{}",
        describe(&plugin)
    );
    // And always kept for later.
    let kept = std::fs::read_to_string(cache.join("last-error.txt")).unwrap();
    assert!(kept.contains("checksum.mdoe: unknown field"), "{kept}");
}

/// A `--config` file that cannot be read is a config error (exit 3) naming the file; an
/// unknown flag is a usage error (exit 2) on one line with clap's suggestion.
#[test]
fn cli_missing_config_file_and_unknown_flag_have_their_exit_codes() {
    let dir = TempDir::new("cli_missing_config_file");
    let out = render(&dir, Mode::Stdin, CM_A, &["--config", "/nonexistent/postwire.yaml"]);
    assert_fails(
        &out,
        3,
        &["/nonexistent/postwire.yaml", "invalid config", "cannot read the --config file"],
        "missing",
    );
    let out = render(&dir, Mode::Stdin, CM_A, &["--confg", "x.yaml"]);
    assert_fails(&out, 2, &["unexpected argument '--confg'", "a similar argument exists: '--config'"], "--confg");
    assert_eq!(String::from_utf8_lossy(&out.stderr).lines().count(), 1, "{}", describe(&out));
}

/// A clap usage error keeps all of its message on its one line: the missing flag, the allowed
/// values; only the usage synopsis and "For more information" are left to `--help`.
#[test]
fn cli_usage_errors_keep_the_whole_message() {
    let dir = TempDir::new("cli_usage_errors");
    let run = |args: &[&str]| util::run(util::postwire(&dir.join("cache")).args(args), b"");
    let out = run(&["validate"]);
    assert_fails(&out, 2, &["required arguments were not provided", "--config <FILE>"], "validate without --config");
    let out = run(&["install-plugin", "--helm", "5"]);
    assert_fails(&out, 2, &["invalid value '5'", "possible values: 3, 4, auto"], "--helm 5");
    for out in [run(&["validate"]), run(&["install-plugin", "--helm", "5"])] {
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.lines().count(), 1, "{}", describe(&out));
        assert!(!stderr.contains("Usage:") && !stderr.contains("For more information"), "{}", describe(&out));
    }
}

/// `render -f`/`diff -f` on an unrendered chart directory says to render it with Helm (exit 4)
/// instead of emitting `Chart.yaml` and `values.yaml` as manifests.
#[test]
fn cli_render_of_a_chart_directory_says_to_run_helm_template() {
    let dir = TempDir::new("cli_chart_dir");
    let chart = util::workspace().join("examples/quickstart/chart");
    for sub in ["render", "diff"] {
        let out = util::run(util::postwire(&dir.join("cache")).arg(sub).arg("-f").arg(&chart), b"");
        assert_fails(&out, 4, &["is a Helm chart (it has a Chart.yaml)", "helm template web"], sub);
    }
}

/// Invalid POSTWIRE_* values are usage errors naming the variable, never silently ignored.
#[test]
fn cli_invalid_environment_values_are_errors() {
    let dir = TempDir::new("cli_invalid_env");
    for (var, value) in [
        ("POSTWIRE_TIMEOUT_SECONDS", "abc"),
        ("POSTWIRE_TIMEOUT_SECONDS", "0"),
        ("POSTWIRE_MAX_MEMORY_MIB", "5000"),
        ("POSTWIRE_MAX_MEMORY_MIB", "2g"),
    ] {
        let out = util::run(util::postwire(&dir.join("cache")).env(var, value), CM_A.as_bytes());
        assert_fails(&out, 2, &[&format!("{var}={value}: expected a whole number")], var);
    }
    let out = util::run(util::postwire(&dir.join("cache")).env("POSTWIRE_TIMEOUT_SECONDS", " 30 "), CM_A.as_bytes());
    assert!(out.status.success(), "{}", describe(&out));
}

/// `postwire` with a terminal on stdin says how to use it and exits 2 instead of waiting.
#[test]
fn cli_terminal_on_stdin_is_a_usage_error() {
    let test = "cli_terminal_on_stdin_is_a_usage_error";
    let dir = TempDir::new(test);
    let line = format!("timeout 30 {}; echo \"rc=$?\"", util::sh_quote(util::postwire_bin().to_str().unwrap()));
    let Some(out) = util::in_pty(test, &line, &[("POSTWIRE_CACHE_DIR", &dir.join("cache"))]) else { return };
    let terminal = String::from_utf8_lossy(&out.stdout);
    assert!(terminal.contains("stdin is a terminal: pipe them in"), "{}", describe(&out));
    assert!(terminal.contains("rc=2"), "{}", describe(&out));
}

/// `postwire validate --config FILE`: exit 0 and `FILE: valid PostwireConfig` for a good file
/// (also one without apiVersion/kind), exit 3 with file and line for a bad one, exit 3 for a
/// missing one; `--set` overrides are checked too.
#[test]
fn cli_validate_checks_a_config_file() {
    let dir = TempDir::new("cli_validate");
    let validate = |text: Option<&str>, extra: &[&str]| {
        let file = dir.join("postwire.yaml");
        match text {
            Some(t) => std::fs::write(&file, t).unwrap(),
            None => {
                let _ = std::fs::remove_file(&file);
            }
        }
        let mut args = vec!["validate", "--config", file.to_str().unwrap()];
        args.extend(extra);
        (util::run(util::postwire(&dir.join("cache")).args(&args), b""), file.display().to_string())
    };
    for good in [format!("{HEAD}checksum:\n  mode: aggregate\n"), "checksum:\n  jobs: all\n".to_string()] {
        let (out, file) = validate(Some(&good), &[]);
        assert!(out.status.success(), "{good}\n{}", describe(&out));
        assert_eq!(String::from_utf8_lossy(&out.stdout), format!("{file}: valid PostwireConfig\n"));
    }
    let (out, file) = validate(Some(&format!("{HEAD}checksum:\n  annotationPrefix: Checksum/\n")), &[]);
    assert_fails(&out, 3, &[&format!("{file} line 4, column 21"), "checksum.annotationPrefix"], "bad prefix");
    let (out, _) = validate(Some("checksum: {}\n"), &["--set", "checksum.exclude=a"]);
    assert_fails(&out, 3, &["--set checksum.exclude=a", "write a list in braces: --set checksum.exclude={a}"], "--set");
    let (out, file) = validate(None, &[]);
    assert_fails(&out, 3, &[&file, "cannot read the --config file"], "missing file");
    // A config that names the chart's objects (Services, workloads, patch targets) is valid
    // without the chart: every example's config validates on its own.
    let examples = util::workspace().join("examples");
    for entry in std::fs::read_dir(&examples).unwrap() {
        for config in std::fs::read_dir(entry.unwrap().path()).unwrap() {
            let config = config.unwrap().path();
            let name = config.file_name().unwrap().to_string_lossy().into_owned();
            if !(name.starts_with("postwire") && name.ends_with(".yaml")) {
                continue;
            }
            let out = util::run(util::postwire(&dir.join("cache")).arg("validate").arg("--config").arg(&config), b"");
            assert!(out.status.success(), "{}: {}", config.display(), describe(&out));
        }
    }
}

/// `postwire validate --release NAME --namespace NS` checks a config as a render of that release
/// sees it: a template using `release.name` fails without a release and passes with one.
#[test]
fn cli_validate_takes_the_release_and_namespace() {
    let dir = TempDir::new("cli_validate_release");
    let file = dir.join("postwire.yaml");
    std::fs::write(
        &file,
        "templates:\n- name: info\n  template: |\n    apiVersion: v1\n    kind: ConfigMap\n    metadata: {name: \"{{ release.name }}-info\", namespace: \"{{ release.namespace }}\"}\n",
    )
    .unwrap();
    let validate = |extra: &[&str]| {
        let mut cmd = util::postwire(&dir.join("cache"));
        cmd.arg("validate").arg("--config").arg(&file).args(extra);
        util::run(&mut cmd, b"")
    };
    let out = validate(&["--release", "web", "--namespace", "prod"]);
    assert!(out.status.success(), "{}", describe(&out));
    let out = validate(&["-n", "prod"]);
    assert_fails(&out, 3, &["release.name"], "a template needing the release, without --release");
}

/// `postwire diff`: exit 1 and a unified diff of exactly the added lines when postwire would
/// change something; exit 0 and no output for its own output (nothing left to change);
/// `-U 0` drops the context lines; errors keep their own codes.
#[test]
fn cli_diff_shows_what_would_change() {
    let dir = TempDir::new("cli_diff");
    let diff = |input: &str, args: &[&str]| {
        let mut cmd = util::postwire(&dir.join("cache"));
        cmd.arg("diff").args(args);
        util::run(&mut cmd, input.as_bytes())
    };
    let out = diff(&wired_input(), &[]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(text.starts_with("--- stdin\n+++ stdin (postwire)\n@@ "), "{text}");
    let added: Vec<&str> = text.lines().filter(|l| l.starts_with('+') && !l.starts_with("+++")).collect();
    assert_eq!(added.len(), 4, "{text}");
    assert!(added[0] == "+    metadata:" && added[1] == "+      annotations:", "{text}");
    assert!(added[2].starts_with("+        checksum/configmap-a: \""), "{text}");
    assert!(!text.lines().any(|l| l.starts_with('-') && !l.starts_with("---")), "nothing removed:\n{text}");

    let rendered = util::run(&mut util::postwire(&dir.join("cache")), wired_input().as_bytes());
    let out = diff(&String::from_utf8(rendered.stdout).unwrap(), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert!(out.stdout.is_empty(), "{}", describe(&out));

    let out = diff(&wired_input(), &["-U", "0"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.lines().skip(2).all(|l| l.starts_with('+') || l.starts_with("@@")), "{text}");
    let out = diff(&wired_input(), &["--set", "checksum.mdoe=x"]);
    assert_fails(&out, 3, &["checksum.mdoe"], "diff with a bad --set");
}

/// `postwire completion bash|zsh|fish` prints a script for that shell that knows the
/// subcommands; bash (always) and zsh/fish (when installed) accept its syntax.
#[test]
fn cli_completion_scripts_parse() {
    let dir = TempDir::new("cli_completion");
    for (shell, marker, check) in [
        ("bash", "complete -F _postwire", ["bash", "-n"]),
        ("zsh", "#compdef postwire", ["zsh", "-n"]),
        ("fish", "complete -c postwire", ["fish", "--no-execute"]),
    ] {
        let out = util::run(util::postwire(&dir.join("cache")).args(["completion", shell]), b"");
        let script = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(out.status.success() && script.contains(marker), "{shell}\n{}", describe(&out));
        for sub in ["install-plugin", "validate", "diff", "render"] {
            assert!(script.contains(sub), "{shell} completion lacks {sub}");
        }
        let file = dir.join(format!("postwire.{shell}"));
        std::fs::write(&file, &script).unwrap();
        match Command::new(check[0]).arg(check[1]).arg(&file).output() {
            Ok(o) => assert!(o.status.success(), "{shell} rejects its completion script: {}", describe(&o)),
            Err(_) if shell != "bash" => eprintln!("{shell} not installed: syntax not checked"),
            Err(e) => panic!("bash: {e}"),
        }
    }
    let out = util::run(util::postwire(&dir.join("cache")).args(["completion", "tcsh"]), b"");
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
}

/// `postwire --help` has examples, every environment variable, the exit codes of docs/cli.md's
/// table (same codes, same order) and where errors go; `-h` points at `--help`.
#[test]
fn cli_help_explains_itself_like_the_readme() {
    let dir = TempDir::new("cli_help");
    let out = util::run(util::postwire(&dir.join("cache")).arg("--help"), b"");
    assert!(out.status.success(), "{}", describe(&out));
    let help = String::from_utf8_lossy(&out.stdout).into_owned();
    for want in [
        "Examples:",
        "--post-renderer postwire",
        "POSTWIRE_CACHE_DIR",
        "POSTWIRE_TIMEOUT_SECONDS",
        "POSTWIRE_MAX_MEMORY_MIB",
        "Exit codes:",
        "last-error.txt",
        "postwire.log",
        "/dev/tty",
    ] {
        assert!(help.contains(want), "--help lacks {want}:\n{help}");
    }
    let readme = std::fs::read_to_string(util::workspace().join("docs/cli.md")).unwrap();
    let readme_codes: Vec<String> = readme
        .lines()
        .filter_map(|l| l.trim().strip_prefix("| "))
        .filter_map(|l| l.split_once(" |").map(|(c, _)| c.trim().to_string()))
        .filter(|c| c.len() == 1 && c.chars().all(|ch| ch.is_ascii_digit()))
        .collect();
    let help_codes: Vec<String> = help
        .split("Exit codes:")
        .nth(1)
        .unwrap()
        .lines()
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| l.split_whitespace().next().map(String::from))
        .collect();
    assert_eq!(readme_codes, help_codes, "docs/cli.md exit-code table and --help disagree");
    let out = util::run(util::postwire(&dir.join("cache")).arg("-h"), b"");
    assert!(String::from_utf8_lossy(&out.stdout).contains("See `postwire --help`"), "{}", describe(&out));
}

/// The report names its format (`apiVersion`, `kind`) and the postwire version that wrote it,
/// and `postwire schema report` validates it (python jsonschema), for a report with changes,
/// notes with a warning, and a removed in-stream PostwireConfig. The schema forbids unknown
/// fields, so a report field added without a schema update fails here.
#[test]
fn cli_report_has_a_version_and_a_schema() {
    let test = "cli_report_has_a_version_and_a_schema";
    let dir = TempDir::new(test);
    let rollout = "apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata:\n  name: r\nspec:\n  workloadRef:\n    kind: Deployment\n    name: elsewhere\n";
    let input = format!("{}---\n{rollout}---\n{HEAD}checksum:\n  mode: perObject\n", wired_input());
    let report_file = dir.join("report.json");
    let out = render(&dir, Mode::Stdin, &input, &["--report", report_file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("postwire: warning: document 4 (Rollout/r)"),
        "{}",
        describe(&out)
    );
    let text = std::fs::read_to_string(&report_file).unwrap();
    assert!(
        text.starts_with(&format!(
            "{{\n  \"apiVersion\": \"postwire.dev/v1alpha1\",\n  \"kind\": \"Report\",\n  \"postwireVersion\": \"{}\",\n  \"summary\"",
            env!("CARGO_PKG_VERSION")
        )),
        "{text}"
    );
    let out = util::run(util::postwire(&dir.join("cache")).args(["schema", "report"]), b"");
    assert!(out.status.success(), "{}", describe(&out));
    let schema_file = dir.join("report.schema.json");
    std::fs::write(&schema_file, &out.stdout).unwrap();
    let Some(python) = util::python(test) else { return };
    const CHECK: &str = r#"
import json, sys, jsonschema
schema = json.load(open(sys.argv[1]))
cls = jsonschema.validators.validator_for(schema)
cls.check_schema(schema)
report = json.load(open(sys.argv[2]))
assert any(n["level"] == "warning" for d in report["documents"] for n in d.get("notes", [])), report
assert report["summary"]["removed"] == 1, report
print(json.dumps([e.message for e in cls(schema).iter_errors(report)]))
report["surprise"] = 1
print(json.dumps([e.message for e in cls(schema).iter_errors(report)]))
"#;
    let out = util::run(
        Command::new(python).args(["-c", CHECK, schema_file.to_str().unwrap(), report_file.to_str().unwrap()]),
        b"",
    );
    assert!(out.status.success(), "{}", describe(&out));
    let lines: Vec<String> = String::from_utf8_lossy(&out.stdout).lines().map(String::from).collect();
    assert_eq!(lines[0], "[]", "the report does not match its schema:\n{text}");
    assert!(lines[1].contains("'surprise' was unexpected"), "{lines:?}");
}

/// Schema and engine agree: for every config of a table of good and bad ones, an editor's
/// validator (python jsonschema with `postwire schema`) accepts it exactly when `postwire
/// validate` does.
#[test]
fn cli_schema_and_engine_agree_on_a_table_of_configs() {
    let test = "cli_schema_and_engine_agree_on_a_table_of_configs";
    let dir = TempDir::new(test);
    let Some(python) = util::python(test) else { return };
    let cases: &[(&str, bool)] = &[
        ("checksum: {}\n", true),
        ("apiVersion: postwire.dev/v1alpha1\nkind: PostwireConfig\n", true),
        ("kind: PostwireConfig\nchecksum:\n  mode: aggregate\n", true),
        ("checksum:\n  annotationPrefix: checksum.example.com/\n", true),
        ("checksum:\n  include: [\"ConfigMap/web-*\", \"secret/db\", \"grafana-?\"]\n", true),
        ("checksum:\n  onExisting: skip\n  jobs: none\n", true),
        ("workloads:\n- kind: CloneSet\n  group: apps.kruise.io\n  podTemplatePath: spec.template\n", true),
        ("workloads:\n- kind: PodLike\n  podTemplatePath: \"\"\n", true),
        ("metadata:\n  name: x\n  labels: {a: b}\n", true),
        ("", false),
        ("[]\n", false),
        ("kind: Foo\n", false),
        ("apiVersion: postwire.dev/v2\n", false),
        ("chekcsum: {}\n", false),
        ("checksum:\n  mode: agregate\n", false),
        ("checksum:\n  jobs: some\n", false),
        ("checksum:\n  onExisting: keep\n", false),
        ("checksum:\n  enabled: \"true\"\n", false),
        ("checksum:\n  annotationPrefix: checksum\n", false),
        ("checksum:\n  annotationPrefix: Checksum/\n", false),
        ("checksum:\n  annotationPrefix: -a/\n", false),
        ("checksum:\n  exclude: a\n", false),
        ("checksum:\n  exclude: [\"/tls\"]\n", false),
        ("checksum:\n  exclude: [\"deployment/x\"]\n", false),
        ("checksum:\n  exclude: [\"configmap/a/b\"]\n", false),
        ("workloads:\n- podTemplatePath: spec.template\n", false),
        ("workloads:\n- kind: CloneSet\n", false),
        ("workloads:\n- kind: Clone-Set\n  podTemplatePath: spec.template\n", false),
        ("workloads:\n- kind: CloneSet\n  group: Apps.Kruise.io\n  podTemplatePath: spec.template\n", false),
        ("workloads:\n- kind: CloneSet\n  podTemplatePath: spec..template\n", false),
        ("workloads: {}\n", false),
        // One provider per analysis template; a Prometheus one needs a condition, a Job none.
        (
            "rollouts:\n  analysisTemplates:\n    ok:\n      prometheus: {address: http://p:9090, query: up}\n      successCondition: result[0] == 1\n",
            true,
        ),
        ("rollouts:\n  analysisTemplates:\n    smoke:\n      job: {spec: {template: {spec: {containers: [{name: t, image: busybox}], restartPolicy: Never}}}}\n", true),
        ("rollouts:\n  analysisTemplates:\n    none:\n      successCondition: result[0] == 1\n", false),
        ("rollouts:\n  analysisTemplates:\n    noCondition:\n      prometheus: {address: http://p:9090, query: up}\n", false),
        (
            "rollouts:\n  analysisTemplates:\n    both:\n      prometheus: {address: http://p:9090, query: up}\n      successCondition: result[0] == 1\n      job: {spec: {template: {spec: {containers: [{name: t, image: busybox}]}}}}\n",
            false,
        ),
        ("rollouts:\n  analysisTemplates:\n    jobWithCondition:\n      job: {spec: {template: {spec: {containers: [{name: t, image: busybox}]}}}}\n      failureCondition: result == 0\n", false),
    ];
    let out = util::run(util::postwire(&dir.join("cache")).arg("schema"), b"");
    std::fs::write(dir.join("schema.json"), &out.stdout).unwrap();
    let mut files = Vec::new();
    for (i, (text, _)) in cases.iter().enumerate() {
        let file = dir.join(format!("case-{i}.yaml"));
        std::fs::write(&file, text).unwrap();
        files.push(file.display().to_string());
    }
    const CHECK: &str = r#"
import json, sys, yaml, jsonschema
schema = json.load(open(sys.argv[1]))
v = jsonschema.validators.validator_for(schema)(schema)
for path in sys.argv[2:]:
    print("ok" if v.is_valid(yaml.safe_load(open(path))) else "bad")
"#;
    let mut args = vec!["-c".to_string(), CHECK.to_string(), dir.join("schema.json").display().to_string()];
    args.extend(files.iter().cloned());
    let out = util::run(Command::new(&python).args(&args), b"");
    assert!(out.status.success(), "{}", describe(&out));
    let schema_says: Vec<bool> = String::from_utf8_lossy(&out.stdout).lines().map(|l| l == "ok").collect();
    let mut disagreements = Vec::new();
    for (i, (text, good)) in cases.iter().enumerate() {
        let out = util::run(util::postwire(&dir.join("cache")).args(["validate", "--config", &files[i]]), b"");
        let engine_says = out.status.success();
        if !engine_says {
            assert_eq!(out.status.code(), Some(3), "{text:?}\n{}", describe(&out));
        }
        if engine_says != *good || schema_says[i] != *good {
            disagreements.push(format!(
                "{text:?}: expected {}, engine {}, schema {} ({})",
                if *good { "valid" } else { "invalid" },
                engine_says,
                schema_says[i],
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
    }
    assert!(disagreements.is_empty(), "schema and engine disagree:\n{}", disagreements.join("\n"));
}
