//! `postwire`: finish rendered Kubernetes manifests.
//!
//! With no subcommand it is a post-renderer: manifests on stdin, the result on stdout
//! (Helm 3 `--post-renderer postwire`, the Helm 4 plugin, `helm template | postwire`).

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use postwire::errors::{self, exit};
use postwire::runner::Runner;
use postwire_core::wire::{ConfigFileV1, RenderRequestV1};

#[derive(Parser)]
#[command(
    name = "postwire",
    version,
    about = "Finish rendered Kubernetes manifests: checksum annotations and more, as a Helm post-renderer",
    long_about = "Finish rendered Kubernetes manifests.\n\nWith no subcommand, postwire reads manifests on stdin and writes the result to stdout, \
which is what Helm's --post-renderer expects:\n\n  helm template web ./chart --post-renderer postwire --post-renderer-args --set --post-renderer-args checksum.mode=aggregate",
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
        /// The manifests; `-` for stdin.
        #[arg(short = 'f', long = "filename", default_value = "-")]
        file: String,
        #[command(flatten)]
        args: RenderArgs,
    },
    /// Print the JSON Schema of PostwireConfig.
    Schema,
    /// Print the version and the plugin.wasm digest.
    Version,
    /// Write the embedded plugin.wasm (for Helm's extism runtime or other extism hosts).
    Wasm {
        /// Output file; stdout when omitted.
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
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
}

struct Failure {
    message: String,
    code: u8,
}

impl Failure {
    fn other(message: impl Into<String>) -> Self {
        Failure { message: message.into(), code: exit::OTHER }
    }
}

fn read_input(file: &str) -> Result<String, Failure> {
    let (name, mut bytes) = (if file == "-" { "stdin" } else { file }, Vec::new());
    let result = if file == "-" {
        std::io::stdin().read_to_end(&mut bytes)
    } else {
        std::fs::File::open(file).and_then(|mut f| f.read_to_end(&mut bytes))
    };
    result.map_err(|e| Failure::other(format!("reading {name}: {e}")))?;
    String::from_utf8(bytes).map_err(|e| Failure::other(format!("{name}: not UTF-8 text: {e}")))
}

fn render(file: &str, args: RenderArgs) -> Result<(), Failure> {
    let manifests = read_input(file)?;
    let mut request = RenderRequestV1::new(manifests);
    if let Some(path) = &args.config {
        let content = std::fs::read_to_string(path)
            .map_err(|e| Failure::other(format!("reading config {}: {e}", path.display())))?;
        request.config = Some(ConfigFileV1 { name: path.display().to_string(), content });
    }
    request.set = args.set;
    request.context.namespace = args.namespace;
    request.context.release_name = args.release;

    let mut runner = Runner::embedded().map_err(|e| Failure::other(format!("loading plugin.wasm: {e:#}")))?;
    let response =
        runner.render(&request).map_err(|e| Failure { message: e.message, code: e.code.clamp(1, 125) as u8 })?;

    for warning in response.report.warnings() {
        eprintln!("postwire: warning: {warning}");
    }
    if let Some(target) = &args.report {
        let json = serde_json::to_string_pretty(&response.report).expect("report serializes") + "\n";
        let written =
            if target == "-" { std::io::stderr().write_all(json.as_bytes()) } else { std::fs::write(target, json) };
        written.map_err(|e| Failure::other(format!("writing report {target}: {e}")))?;
    }
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(response.manifests.as_bytes()).and_then(|_| stdout.flush()) {
        Ok(()) => Ok(()),
        // A closed pipe (`postwire | head`) is not an error.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(Failure::other(format!("writing output: {e}"))),
    }
}

fn run(cli: Cli) -> Result<(), Failure> {
    match cli.command {
        None => render("-", cli.render),
        Some(Command::Render { file, args }) => render(&file, args),
        Some(Command::Schema) => {
            println!("{}", postwire_core::config::json_schema());
            Ok(())
        }
        Some(Command::Version) => {
            println!("postwire {} (plugin.wasm sha256:{})", postwire_core::VERSION, postwire::plugin_sha256());
            Ok(())
        }
        Some(Command::Wasm { output }) => {
            let written = match &output {
                Some(path) => std::fs::write(path, postwire::PLUGIN_WASM),
                None => std::io::stdout().write_all(postwire::PLUGIN_WASM),
            };
            written.map_err(|e| Failure::other(format!("writing plugin.wasm: {e}")))
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            errors::report(&failure.message);
            ExitCode::from(failure.code)
        }
    }
}
