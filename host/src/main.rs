//! `postwire`: finish rendered Kubernetes manifests.
//!
//! With no subcommand it is a post-renderer: manifests on stdin, the result on stdout
//! (Helm 3 `--post-renderer postwire`, the Helm 4 plugin, `helm template | postwire`).

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, CommandFactory, Parser, Subcommand};
use postwire::argocd;
use postwire::errors::{self, exit};
use postwire::install;
use postwire::runner::{Options, Runner, Source};
use postwire_core::wire::{ChartConfig, ConfigFileV1, InputFormat, RenderRequestV1, RenderResponseV1};

const AFTER_HELP: &str = "\
Examples:
  helm template web ./chart --post-renderer postwire
  helm upgrade --install web ./chart --post-renderer postwire \\
      --post-renderer-args --config --post-renderer-args \"$PWD/postwire.yaml\"
  helm template web ./chart | postwire --set checksum.mode=aggregate > out.yaml
  helm template web ./chart | postwire diff          # what postwire would change
  postwire validate --config postwire.yaml          # for CI and editors
  helm template web ./chart | postwire check --strict # what breaks once applied
  postwire install-plugin                           # the Helm plugin, for every Helm on PATH
  kpt fn eval ./pkg --exec \"postwire krm\"           # as a KRM function (kpt, kustomize exec)

Environment:
  POSTWIRE_CACHE_DIR        compiled-module cache, last-error.txt and postwire.log
                            (default $XDG_CACHE_HOME/postwire, else ~/.cache/postwire)
  POSTWIRE_TIMEOUT_SECONDS  wall-clock limit of one render, 1 to 86400 (default 60)
  POSTWIRE_MAX_MEMORY_MIB   memory cap of plugin.wasm, 1 to 4096 (default 2048)
  POSTWIRE_MAX_INPUT_MIB    largest input read, 1 to 1024 (default 128; --max-input-mib)
  POSTWIRE_CHART_CONFIG     merge (default) or ignore a chart's own PostwireConfig (--chart-config)
  An invalid value is an error (exit 2), never ignored.

Exit codes:
  0  success (`postwire diff`: nothing would change)
  1  anything else: reading input, runtime limits (`postwire diff`: something would change)
  2  bad usage: unknown flag, bad POSTWIRE_* value, a terminal on stdin (`postwire diff`: also 1's errors)
  3  invalid config: unknown key, wrong type, bad value, a --config file that cannot be read
  4  invalid input: a document is not valid YAML or not a Kubernetes object
  5  a wiring cannot do what the config asks of a document
  6  unreadable request (host and plugin.wasm from different versions)
  7  `postwire check` found an error (a warning too with --strict; a render: see check.failOn)

Where errors and warnings go:
  stdout carries only YAML. Errors (`Error: ...`) and warnings (`postwire: warning: ...`) go to
  stderr. Helm 4 discards a plugin's stderr and Helm 3 shows it only on failure, so under Helm
  postwire also writes what Helm would hide to your terminal (/dev/tty), and it always records:
    $POSTWIRE_CACHE_DIR/last-error.txt  the newest error, with its time, command and directory
    $POSTWIRE_CACHE_DIR/postwire.log    every error and warning, one line each, with time and pid";

#[derive(Parser)]
#[command(
    name = "postwire",
    version,
    about = "Finish rendered Kubernetes manifests: checksum annotations and more, as a Helm post-renderer",
    long_about = "Finish rendered Kubernetes manifests.\n\nWith no subcommand, postwire reads manifests on stdin and writes \
the result to stdout, which is what Helm's --post-renderer expects. Documents postwire does not change come out byte \
for byte.",
    after_long_help = AFTER_HELP,
    after_help = "See `postwire --help` for examples, environment variables, exit codes and where errors go.",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    render: RenderArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Render a manifest file (or stdin) and write the result to stdout.
    Render {
        /// The manifests: a file, a directory of `*.yaml`/`*.yml`/`*.json` files (by name), or `-` for stdin.
        #[arg(short = 'f', long = "filename", default_value = "-", value_name = "FILE")]
        file: String,
        #[command(flatten)]
        args: RenderArgs,
    },
    /// Show what postwire would change, as a unified diff (exit 0: nothing, 1: something).
    #[command(after_help = "Example: helm template web ./chart | postwire diff --config postwire.yaml")]
    Diff {
        /// The manifests: a file, a directory of `*.yaml`/`*.yml`/`*.json` files (by name), or `-` for stdin.
        #[arg(short = 'f', long = "filename", default_value = "-", value_name = "FILE")]
        file: String,
        /// Lines of context around each change.
        #[arg(short = 'U', long = "unified", default_value_t = 3, value_name = "N")]
        context: usize,
        #[command(flatten)]
        args: RenderArgs,
    },
    /// Print the Argo CD `ignoreDifferences` and sync options for what Argo Rollouts rewrites
    /// at run time in this render (route weights, subset labels, Service selectors, replicas).
    #[command(
        name = "ignore-differences",
        after_help = "Example: helm template web ./chart | postwire ignore-differences --config postwire.yaml\n\n\
Paste the output into the Argo CD Application's spec (ignoreDifferences) and spec.syncPolicy (syncOptions)."
    )]
    IgnoreDifferences {
        /// The manifests: a file, a directory of `*.yaml`/`*.yml`/`*.json` files (by name), or `-` for stdin.
        #[arg(short = 'f', long = "filename", default_value = "-", value_name = "FILE")]
        file: String,
        #[command(flatten)]
        args: RenderArgs,
    },
    /// Run as a KRM function: a config.kubernetes.io/v1 ResourceList on stdin, the transformed
    /// list on stdout (config from its functionConfig, then --config, then --set).
    #[command(
        long_about = "Run as a KRM function (kpt, kustomize's exec transformer): read a config.kubernetes.io/v1 \
ResourceList on stdin and write it back with the items wired and the report as `results`. Config comes from the \
list's functionConfig (a PostwireConfig, or a ConfigMap whose data are --set overrides), then --config, then --set. \
Without a subcommand, postwire detects a ResourceList on stdin by itself.",
        after_help = "Examples:\n  kpt fn eval ./pkg --exec \"postwire krm\" -- checksum.mode=aggregate\n  kpt fn render ./pkg --allow-exec   # Kptfile: pipeline.mutators[].exec: postwire"
    )]
    Krm {
        #[command(flatten)]
        args: RenderArgs,
    },
    /// The Argo CD config-management plugin steps (argocd-cmp/plugin.yaml runs them).
    #[command(
        long_about = "The Argo CD config-management plugin steps, run by argocd-cmp-server in the application's \
directory: `init` builds a chart's dependencies when Chart.lock exists and charts/ lacks them; `generate` renders the \
chart with helm template (or reads a directory of manifests) and runs the result through postwire. Parameters come \
from ARGOCD_APP_PARAMETERS: values-files, helm-parameters, config, set. A config may use ${ARGOCD_APP_NAME}, \
${ARGOCD_ENV_*} and the rest of Argo CD's build environment. POSTWIRE_HELM names the helm binary (default: helm on PATH)."
    )]
    Argocd {
        /// Which step.
        #[arg(value_enum)]
        step: ArgocdStep,
        /// Whether the chart's own PostwireConfig counts (default from POSTWIRE_CHART_CONFIG, else merge).
        #[arg(long = "chart-config", value_name = "merge|ignore", value_parser = ["merge", "ignore"])]
        chart_config: Option<String>,
    },
    /// Check a finished stream for what breaks once applied: each finding on stderr, one line
    /// (exit 0: no error, 7: an error, or with --strict a warning).
    #[command(
        long_about = "Check a finished stream (any manifests: a chart's output, postwire's, kustomize's) for what is \
schema-valid and still breaks once applied: analyses that never complete, routes to subsets nobody defines, \
PodDisruptionBudgets that block every drain, STRICT mTLS in front of scraped ports, and more (docs/check.md). Each \
finding goes to stderr on one line: level, rule id, object, document number and line, and what happens and how to \
fix it. Silence one object with the annotation postwire.dev/check-ignore: rule-a,rule-b.",
        after_help = "Examples:\n  helm template web ./chart | postwire | postwire check --strict\n  postwire check -f out.yaml --report findings.json"
    )]
    Check {
        /// The manifests: a file, a directory of `*.yaml`/`*.yml`/`*.json` files (by name), or `-` for stdin.
        #[arg(short = 'f', long = "filename", default_value = "-", value_name = "FILE")]
        file: String,
        /// Treat warnings as errors.
        #[arg(long = "strict")]
        strict: bool,
        #[command(flatten)]
        args: RenderArgs,
    },
    /// Check a config file (and `--set` overrides) without rendering (exit 0: valid, 3: not).
    #[command(after_help = "Example: postwire validate --config postwire.yaml --set checksum.mode=aggregate")]
    Validate {
        /// The PostwireConfig file.
        #[arg(short = 'c', long = "config", value_name = "FILE", required = true)]
        config: PathBuf,
        /// Override a config value, Helm style (repeatable).
        #[arg(long = "set", value_name = "PATH=VALUE")]
        set: Vec<String>,
        /// Namespace of the render the config is for (templates, `{namespace}` patterns).
        #[arg(short = 'n', long = "namespace", value_name = "NS")]
        namespace: Option<String>,
        /// Release (or application) name of the render (templates, `{release}` patterns).
        #[arg(long = "release", value_name = "NAME")]
        release: Option<String>,
    },
    /// Print a JSON Schema: of PostwireConfig (default) or of the --report JSON.
    Schema {
        /// Which schema.
        #[arg(value_enum, default_value = "config")]
        which: SchemaKind,
    },
    /// Install the Helm plugin (with this binary beside it) where Helm looks.
    #[command(
        name = "install-plugin",
        long_about = "Install the Helm plugin, with this binary beside it, where Helm looks, creating directories.\n\n\
Helm 4: the postrenderer/v1 plugin `--post-renderer postwire` resolves. Helm 3: `helm postwire ...`; Helm 3 takes the \
binary itself as its post-renderer. Helm 3 loads no plugin at all from a directory that holds a Helm 4 plugin, so when \
a Helm 3 reads Helm 4's plugins directory, the Helm 4 plugin goes to a directory of its own and postwire prints the one \
line that makes Helm 4 read it.",
        after_help = "Examples:\n  postwire install-plugin\n  postwire install-plugin --helm 4\n  postwire install-plugin --helm 4 --plugins-dir \"$(helm env HELM_PLUGINS)\""
    )]
    InstallPlugin {
        /// Which Helm: 3, 4, or every Helm found on PATH.
        #[arg(long = "helm", value_enum, default_value = "auto")]
        helm: install::Which,
        /// Install into DIR instead of the directory Helm names (`helm env HELM_PLUGINS`).
        #[arg(long = "plugins-dir", value_name = "DIR")]
        plugins_dir: Option<PathBuf>,
        /// Use this Helm binary instead of searching PATH (repeatable).
        #[arg(long = "helm-bin", value_name = "PATH")]
        helm_bin: Vec<PathBuf>,
    },
    /// Remove the Helm plugins `install-plugin` wrote, and its Helm 4 wrapper script.
    UninstallPlugin {
        /// Remove from DIR instead of the directories Helm names (`helm env HELM_PLUGINS`).
        #[arg(long = "plugins-dir", value_name = "DIR")]
        plugins_dir: Option<PathBuf>,
        /// Use this Helm binary instead of searching PATH (repeatable).
        #[arg(long = "helm-bin", value_name = "PATH")]
        helm_bin: Vec<PathBuf>,
    },
    /// Serve the browser playground on 127.0.0.1 and print its URL (Ctrl-C stops it).
    #[command(
        long_about = "Serve the browser playground on 127.0.0.1 and print its URL. The page runs postwire's engine in \
the browser (the same engine crate, built with wasm-bindgen): paste manifests and a config, see the output, a diff per \
document and the report as you type. Its files are embedded in this binary; this server only hands them out, and \
nothing you type is sent to it. Ctrl-C stops it.",
        after_help = "Examples:\n  postwire playground\n  postwire playground --port 8080"
    )]
    Playground {
        /// The port to listen on (0: any free port).
        #[arg(long = "port", default_value_t = 8765, value_name = "N")]
        port: u16,
    },
    /// Print a shell completion script: `source <(postwire completion bash)`.
    Completion {
        /// The shell.
        #[arg(value_enum)]
        shell: Shell,
    },
    /// Print the version and the plugin.wasm digest.
    Version,
    /// Write the embedded plugin.wasm (for Helm's extism runtime or other extism hosts).
    Wasm {
        /// Output file; stdout when omitted.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Compile plugin.wasm for any CPU of this architecture and write it beside this binary,
    /// where every run of the binary maps it: no run compiles it, not even a first one with an
    /// empty cache (release archives and images ship it).
    #[command(after_help = "Example: postwire precompile   # then copy the binary and the printed file together")]
    Precompile {
        /// Write into DIR (where this binary will be copied) instead of this binary's directory.
        #[arg(long = "dir", value_name = "DIR")]
        dir: Option<PathBuf>,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum SchemaKind {
    /// PostwireConfig, for `--config` files and in-chart configs.
    Config,
    /// The JSON written by `--report`.
    Report,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum ArgocdStep {
    /// Build chart dependencies when Chart.lock exists and charts/ lacks them.
    Init,
    /// Render the application and write its manifests to stdout.
    Generate,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Shell {
    Bash,
    Zsh,
    Fish,
}

#[derive(Args, Default)]
struct RenderArgs {
    /// A PostwireConfig file.
    #[arg(short = 'c', long = "config", value_name = "FILE")]
    config: Option<PathBuf>,
    /// Override a config value, Helm style (repeatable): --set checksum.mode=aggregate
    #[arg(long = "set", value_name = "PATH=VALUE")]
    set: Vec<String>,
    /// Namespace that objects without one are installed into.
    #[arg(short = 'n', long = "namespace", value_name = "NS")]
    namespace: Option<String>,
    /// Release (or application) name.
    #[arg(long = "release", value_name = "NAME")]
    release: Option<String>,
    /// Write the JSON report of what changed and why to FILE (`-` for stderr).
    #[arg(long = "report", value_name = "FILE")]
    report: Option<String>,
    /// Whether a PostwireConfig document inside the chart's output counts: `merge` it under
    /// --config and --set (default), or `ignore` it (it is still removed, with a warning).
    /// Default from POSTWIRE_CHART_CONFIG.
    #[arg(long = "chart-config", value_name = "merge|ignore", value_parser = ["merge", "ignore"])]
    chart_config: Option<String>,
    /// The largest input read, in MiB (default from POSTWIRE_MAX_INPUT_MIB, else 128).
    #[arg(long = "max-input-mib", value_name = "MIB")]
    max_input_mib: Option<u64>,
}

/// `--chart-config`, else `POSTWIRE_CHART_CONFIG`, else merge.
fn chart_config(args: &RenderArgs) -> Result<ChartConfig, Failure> {
    let (value, from) = match (&args.chart_config, std::env::var("POSTWIRE_CHART_CONFIG")) {
        (Some(v), _) => (v.clone(), "--chart-config"),
        (None, Ok(v)) => (v, "POSTWIRE_CHART_CONFIG"),
        (None, Err(_)) => return Ok(ChartConfig::Merge),
    };
    match value.as_str() {
        "merge" => Ok(ChartConfig::Merge),
        "ignore" => Ok(ChartConfig::Ignore),
        other => Err(Failure::usage(format!("{from}: `{other}` is not valid (use merge or ignore)"))),
    }
}

struct Failure {
    message: String,
    code: u8,
}

impl Failure {
    fn other(message: impl Into<String>) -> Self {
        Failure { message: message.into(), code: exit::OTHER }
    }
    fn usage(message: impl Into<String>) -> Self {
        Failure { message: message.into(), code: exit::USAGE }
    }
}

/// The JSON Schema of `--report`.
const REPORT_SCHEMA: &str = include_str!("report.schema.json");

/// The manifests in `file` (`-`: stdin; a directory: its files), at most `--max-input-mib`.
fn read_input(file: &str, args: &RenderArgs) -> Result<(String, String), Failure> {
    let name = if file == "-" { "stdin".to_string() } else { file.to_string() };
    let limit = postwire::input::max_input_bytes(args.max_input_mib).map_err(Failure::usage)?;
    if file != "-" && std::path::Path::new(file).join("Chart.yaml").is_file() {
        // postwire finishes rendered manifests; rendering a chart takes Helm, its values and
        // the release, which `helm template` (or `--post-renderer postwire`) already handles.
        return Err(Failure {
            message: format!(
                "{file} is a Helm chart (it has a Chart.yaml), not rendered manifests: render it first, \
                 e.g. `helm template web {file} | postwire render`, or `helm template web {file} --post-renderer postwire`"
            ),
            code: exit::INPUT,
        });
    }
    if file != "-" && std::path::Path::new(file).is_dir() {
        // A directory of plain manifests, read as `postwire argocd generate` reads one.
        let text = postwire::argocd::directory_manifests(std::path::Path::new(file), None, limit)
            .map_err(|e| Failure::other(e.message))?;
        return Ok((name, text));
    }
    let text = if file == "-" {
        if std::io::stdin().is_terminal() {
            return Err(Failure::usage(
                "postwire reads manifests on stdin, and stdin is a terminal: pipe them in \
                 (helm template web ./chart | postwire), give a file (postwire render -f out.yaml), or see postwire --help",
            ));
        }
        postwire::input::read_text(std::io::stdin().lock(), limit, &name)
    } else {
        let f = std::fs::File::open(file).map_err(|e| Failure::other(format!("reading {name}: {e}")))?;
        postwire::input::read_text(f, limit, &name)
    };
    let text = text.map_err(Failure::other)?;
    Ok((name, text))
}

fn runner() -> Result<Runner, Failure> {
    let options = Options::from_env().map_err(Failure::usage)?;
    Runner::new(postwire::PLUGIN_WASM, &options).map_err(|e| Failure::other(format!("loading plugin.wasm: {e:#}")))
}

fn read_config(path: &std::path::Path) -> Result<ConfigFileV1, Failure> {
    let content = std::fs::read_to_string(path).map_err(|e| Failure {
        message: format!("{}: invalid config: cannot read the --config file: {e}", path.display()),
        code: exit::CONFIG,
    })?;
    Ok(ConfigFileV1 { name: path.display().to_string(), content })
}

/// Render `manifests` with `args`; warnings are reported, the report written if asked for.
fn render_text(manifests: String, args: &RenderArgs) -> Result<RenderResponseV1, Failure> {
    render_as(manifests, args, render_input_format(args)?)
}

/// How a render reads its input. A ResourceList on stdin is run as a KRM function (kpt's
/// `--exec postwire` and a Kptfile's `exec: postwire` send one), its functionConfig weighing as
/// much as a chart's own PostwireConfig. Under `--chart-config ignore` the stream's own config
/// does not count, so neither does a functionConfig: only `postwire krm` reads one then, and a
/// chart cannot make its output run as a KRM function to bring its config back.
fn render_input_format(args: &RenderArgs) -> Result<InputFormat, Failure> {
    Ok(match chart_config(args)? {
        ChartConfig::Merge => InputFormat::Auto,
        ChartConfig::Ignore => InputFormat::Manifests,
    })
}

fn render_as(manifests: String, args: &RenderArgs, input: InputFormat) -> Result<RenderResponseV1, Failure> {
    send(request(manifests, args, input)?, args)
}

/// The wire request for `manifests` under the command line's config, overrides and context.
fn request(manifests: String, args: &RenderArgs, input: InputFormat) -> Result<RenderRequestV1, Failure> {
    let mut request = RenderRequestV1::new(manifests);
    request.input = input;
    request.context.env = argocd::context_env(std::env::vars());
    if let Some(path) = &args.config {
        request.config = Some(read_config(path)?);
    }
    request.set = args.set.clone();
    request.context.namespace = args.namespace.clone();
    request.context.release_name = args.release.clone();
    request.chart_config = chart_config(args)?;
    Ok(request)
}

/// Render `request` with plugin.wasm; warnings go to stderr, the report where `--report` says.
fn send(request: RenderRequestV1, args: &RenderArgs) -> Result<RenderResponseV1, Failure> {
    if let Some(target) = args.report.as_deref().filter(|t| *t != "-") {
        // A failed render must not leave an earlier render's report behind to be mistaken for its own.
        match std::fs::remove_file(target) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(Failure::other(format!("removing the old report {target}: {e}")))
            }
            _ => {}
        }
    }
    let response =
        runner()?.render(&request).map_err(|e| Failure { message: e.message, code: e.code.clamp(1, 125) as u8 })?;
    for warning in response.report.warnings() {
        errors::warn(&warning);
    }
    for finding in response.report.findings() {
        eprintln!("{finding}");
    }
    if let Some(target) = &args.report {
        let json = response.report.to_versioned_json();
        let written =
            if target == "-" { std::io::stderr().write_all(json.as_bytes()) } else { std::fs::write(target, json) };
        written.map_err(|e| Failure::other(format!("writing report {target}: {e}")))?;
    }
    Ok(response)
}

fn write_stdout(bytes: &[u8]) -> Result<(), Failure> {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(bytes).and_then(|_| stdout.flush()) {
        Ok(()) => Ok(()),
        // A closed pipe (`postwire | head`) is not an error.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(Failure::other(format!("writing output: {e}"))),
    }
}

fn render(file: &str, args: RenderArgs) -> Result<(), Failure> {
    let (_, manifests) = read_input(file, &args)?;
    let response = render_text(manifests, &args)?;
    write_stdout(response.manifests.as_bytes())
}

/// `postwire diff`: Ok(true) when something would change.
fn diff(file: &str, context: usize, args: RenderArgs) -> Result<bool, Failure> {
    let (name, manifests) = read_input(file, &args)?;
    let response = render_text(manifests.clone(), &args)?;
    if response.manifests == manifests {
        return Ok(false);
    }
    // Secret values show as masks that tell only whether they changed, as helm-diff and Argo CD do.
    let (before, after) = postwire_core::redact::mask_secret_data(&manifests, &response.manifests);
    let diff = similar::TextDiff::from_lines(&before, &after);
    let text = diff.unified_diff().context_radius(context).header(&name, &format!("{name} (postwire)")).to_string();
    write_stdout(text.as_bytes())?;
    Ok(true)
}

/// `postwire ignore-differences`: the report's `argocd` part as Application spec YAML.
fn ignore_differences(file: &str, args: RenderArgs) -> Result<(), Failure> {
    use postwire_core::emit::{block_entries, Value};
    let (_, manifests) = read_input(file, &args)?;
    let response = render_text(manifests, &args)?;
    let Some(argocd) = &response.report.argocd else {
        return write_stdout(
            b"# Nothing in this render is changed by a controller at run time: no ignoreDifferences needed.\n",
        );
    };
    let json = serde_json::to_value(argocd).expect("report serializes");
    let entries = vec![
        ("ignoreDifferences".to_string(), Value::from_json(&json["ignoreDifferences"])),
        (
            "syncPolicy".to_string(),
            Value::Map(vec![("syncOptions".to_string(), Value::from_json(&json["syncOptions"]))]),
        ),
    ];
    let mut text = String::from(
        "# Argo CD Application spec fields: Argo Rollouts rewrites these at run time, so Argo CD must not revert them.\n",
    );
    for line in block_entries(&entries, 0, 2) {
        text.push_str(&line);
        text.push('\n');
    }
    write_stdout(text.as_bytes())
}

/// `postwire check`: the findings go to stderr (by [`send`]); Ok(true) when one fails the check.
fn check(file: &str, strict: bool, args: RenderArgs) -> Result<bool, Failure> {
    let (_, manifests) = read_input(file, &args)?;
    let mut request = request(manifests, &args, render_input_format(&args)?)?;
    request.check_only = true;
    let response = send(request, &args)?;
    Ok(response.report.has_findings(strict))
}

fn validate(
    config: &std::path::Path,
    set: Vec<String>,
    namespace: Option<String>,
    release: Option<String>,
) -> Result<(), Failure> {
    // The same code path as a render: plugin.wasm resolves the config and runs every wiring
    // over an empty stream, with the objects the config names not required to exist.
    let args = RenderArgs { config: Some(config.to_path_buf()), set, namespace, release, ..RenderArgs::default() };
    let mut request = request(String::new(), &args, InputFormat::Auto)?;
    request.validate_only = true;
    send(request, &args)?;
    write_stdout(format!("{}: valid PostwireConfig\n", config.display()).as_bytes())
}

fn run(cli: Cli) -> Result<ExitCode, Failure> {
    match cli.command {
        None => render("-", cli.render)?,
        Some(Command::Render { file, args }) => render(&file, args)?,
        Some(Command::Diff { file, context, args }) => {
            // Like diff(1): 0 same, 1 different, 2 trouble (postwire's own errors keep 3..=7).
            return match diff(&file, context, args) {
                Ok(changed) => Ok(ExitCode::from(u8::from(changed))),
                Err(f) if f.code == exit::OTHER => Err(Failure::usage(f.message)),
                Err(f) => Err(f),
            };
        }
        Some(Command::IgnoreDifferences { file, args }) => ignore_differences(&file, args)?,
        Some(Command::Krm { args }) => {
            let (_, manifests) = read_input("-", &args)?;
            let response = render_as(manifests, &args, InputFormat::ResourceList)?;
            write_stdout(response.manifests.as_bytes())?;
        }
        Some(Command::Argocd { step, chart_config: flag }) => {
            let dir = std::env::current_dir().map_err(|e| Failure::other(format!("the current directory: {e}")))?;
            let env: std::collections::BTreeMap<String, String> = std::env::vars().collect();
            let failed = |e: argocd::StepError| Failure { message: e.message, code: e.code };
            match step {
                ArgocdStep::Init => argocd::init(&dir, &env).map_err(failed)?,
                ArgocdStep::Generate => {
                    let args = RenderArgs { chart_config: flag, ..RenderArgs::default() };
                    let manifests = argocd::generate(&dir, &env, chart_config(&args)?).map_err(failed)?;
                    write_stdout(manifests.as_bytes())?;
                }
            }
        }
        Some(Command::Check { file, strict, args }) => {
            if check(&file, strict, args)? {
                return Ok(ExitCode::from(exit::CHECK));
            }
        }
        Some(Command::Validate { config, set, namespace, release }) => validate(&config, set, namespace, release)?,
        Some(Command::Schema { which }) => match which {
            SchemaKind::Config => write_stdout((postwire_core::pipeline::json_schema() + "\n").as_bytes())?,
            SchemaKind::Report => write_stdout(REPORT_SCHEMA.as_bytes())?,
        },
        Some(Command::InstallPlugin { helm, plugins_dir, helm_bin }) => {
            let mut said = install::install(helm, plugins_dir.as_deref(), &helm_bin).map_err(Failure::other)?;
            // Compile the module into the cache now, so that no Helm run pays for it (~1.5 s),
            // unless it came precompiled beside this binary (and so beside each plugin's copy).
            match runner()?.source() {
                Source::Cache(artifact) | Source::Compiled(Some(artifact)) => {
                    said.push(format!("compiled plugin.wasm into {}", artifact.display()))
                }
                Source::Shipped(module) => said.push(format!("plugin.wasm comes precompiled: {}", module.display())),
                Source::Compiled(None) => {}
            }
            write_stdout(said.iter().map(|l| format!("{l}\n")).collect::<String>().as_bytes())?;
        }
        Some(Command::UninstallPlugin { plugins_dir, helm_bin }) => {
            let said = install::uninstall(plugins_dir.as_deref(), &helm_bin).map_err(Failure::other)?;
            write_stdout(said.iter().map(|l| format!("{l}\n")).collect::<String>().as_bytes())?;
        }
        Some(Command::Playground { port }) => {
            let Some(files) = postwire::playground::files() else {
                return Err(Failure::other(
                    "this postwire was built without the playground (its tools, wasm-bindgen, node, npm and \
                     Helm, were missing, or POSTWIRE_PLAYGROUND=off): install them (scripts/install-tools.sh) \
                     and rebuild"
                        .to_string(),
                ));
            };
            let listener = postwire::playground::bind(port)
                .map_err(|e| Failure::other(format!("cannot listen on 127.0.0.1:{port}: {e}")))?;
            let addr = listener.local_addr().map_err(|e| Failure::other(format!("listening: {e}")))?;
            write_stdout(format!("postwire playground: http://{addr}/ (Ctrl-C stops it)\n").as_bytes())?;
            postwire::playground::serve(listener, files);
        }
        Some(Command::Completion { shell }) => {
            let shell = match shell {
                Shell::Bash => clap_complete::Shell::Bash,
                Shell::Zsh => clap_complete::Shell::Zsh,
                Shell::Fish => clap_complete::Shell::Fish,
            };
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "postwire", &mut script);
            write_stdout(&script)?;
        }
        Some(Command::Version) => {
            let line = format!(
                "postwire {} (commit {}, plugin.wasm sha256:{})\n",
                postwire_core::VERSION,
                env!("POSTWIRE_COMMIT"),
                postwire::PLUGIN_WASM_SHA256
            );
            write_stdout(line.as_bytes())?;
        }
        Some(Command::Wasm { output }) => {
            let written = match &output {
                Some(path) => std::fs::write(path, postwire::PLUGIN_WASM),
                None => std::io::stdout().write_all(postwire::PLUGIN_WASM),
            };
            written.map_err(|e| Failure::other(format!("writing plugin.wasm: {e}")))?;
        }
        Some(Command::Precompile { dir }) => {
            let dir = dir
                .or_else(postwire::runner::binary_dir)
                .ok_or_else(|| Failure::other("cannot find the directory of this binary: use --dir".to_string()))?;
            let path = postwire::runner::precompile(postwire::PLUGIN_WASM, &dir)
                .map_err(|e| Failure::other(format!("precompiling plugin.wasm into {}: {e:#}", dir.display())))?;
            write_stdout(format!("{}\n", path.display()).as_bytes())?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// clap's error as one line, all of its message but the usage synopsis: `unexpected argument
/// '--confg' found (tip: a similar argument exists: '--config'); see postwire --help`, `the
/// following required arguments were not provided: --config <FILE>; see postwire --help`,
/// `invalid value '5' for '--helm <3|4|auto>' [possible values: 3, 4, auto]; ...`.
fn usage_message(rendered: &str) -> String {
    let lines = rendered
        .lines()
        .map(str::trim)
        .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more information"))
        .filter(|l| !l.is_empty());
    let (tips, text): (Vec<&str>, Vec<&str>) = lines.partition(|l| l.starts_with("tip:"));
    let mut message = text.join(" ").trim_start_matches("error: ").to_string();
    if message.is_empty() {
        message = "bad usage".into();
    }
    if !tips.is_empty() {
        message.push_str(&format!(" ({})", tips.join("; ")));
    }
    message + "; see postwire --help"
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // --help and --version print to stdout and succeed.
        Err(e) if !e.use_stderr() => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        // Usage errors go where every other error goes (Helm 4 would drop plain stderr).
        Err(e) => {
            errors::report(&usage_message(&e.render().to_string()), exit::USAGE);
            return ExitCode::from(exit::USAGE);
        }
    };
    match run(cli) {
        Ok(code) => code,
        Err(failure) => {
            errors::report(&failure.message, failure.code);
            ExitCode::from(failure.code)
        }
    }
}
