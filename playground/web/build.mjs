// Assembles the playground into --out: the bundled page, the engine (wasm-bindgen output) and
// the presets. Files are written only when their bytes change, so whatever embeds the directory
// (the runner's build script) rebuilds only when the page did.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));
const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith("--") ? [...acc, [a.slice(2), all[i + 1]]] : acc), []),
);
const out = args.out;
const wanted = new Set();

function put(name, bytes) {
  const path = join(out, name);
  wanted.add(name);
  mkdirSync(dirname(path), { recursive: true });
  if (existsSync(path) && Buffer.compare(readFileSync(path), Buffer.from(bytes)) === 0) return;
  writeFileSync(path, bytes);
}

/// Every example: a directory of examples/ with a postwire.yaml and, as the examples' own tests
/// render them, either a chart/ (`helm template <name> chart --namespace <name>`) or a
/// manifests/ directory (its *.yaml, *.yml and *.json files by name, each led by a `# Source:`
/// line, as `postwire render -f DIR` reads it), or a single manifests.yaml; one preset per config.
function presets() {
  const found = [];
  for (const name of readdirSync(args.examples).sort()) {
    const dir = join(args.examples, name);
    if (!statSync(dir).isDirectory()) continue;
    const configPath = join(dir, "postwire.yaml");
    if (!existsSync(configPath)) throw new Error(`examples/${name} has no postwire.yaml`);
    const config = readFileSync(configPath, "utf8");
    let manifests;
    let release = name;
    let namespace = name;
    if (existsSync(join(dir, "manifests.yaml"))) {
      manifests = readFileSync(join(dir, "manifests.yaml"), "utf8");
      namespace = "";
    } else if (existsSync(join(dir, "manifests")) && statSync(join(dir, "manifests")).isDirectory()) {
      const files = readdirSync(join(dir, "manifests"))
        .filter((f) => !f.startsWith(".") && [".yaml", ".yml", ".json"].some((e) => f.endsWith(e)))
        .sort();
      manifests = files
        .map((f) => {
          const text = readFileSync(join(dir, "manifests", f), "utf8");
          return `---\n# Source: ${f}\n${text}${text.endsWith("\n") ? "" : "\n"}`;
        })
        .join("");
      release = "";
      namespace = "";
    } else if (existsSync(join(dir, "chart", "Chart.yaml"))) {
      if (!args.helm) throw new Error(`examples/${name}: Helm is needed to render its chart (set POSTWIRE_HELM4)`);
      manifests = execFileSync(args.helm, ["template", name, join(dir, "chart"), "--namespace", name], {
        encoding: "utf8",
        env: { ...process.env, HELM_CONFIG_HOME: join(out, ".helm"), HELM_CACHE_HOME: join(out, ".helm"), HELM_DATA_HOME: join(out, ".helm") },
      });
    } else {
      throw new Error(`examples/${name} has neither chart/Chart.yaml, a manifests/ directory nor manifests.yaml`);
    }
    // The config's first comment line says what the example shows. A second config of the
    // example (`postwire-<variant>.yaml`) is a preset of its own, `<name>-<variant>`.
    const variants = readdirSync(dir)
      .map((f) => /^postwire-([a-z0-9-]+)\.yaml$/.exec(f))
      .filter(Boolean)
      .sort((a, b) => a[1].localeCompare(b[1]));
    for (const [file, variant] of [["postwire.yaml", ""], ...variants]) {
      const text = readFileSync(join(dir, file), "utf8");
      const comment = text.split("\n").find((l) => l.startsWith("#"));
      const description = comment ? comment.replace(/^#\s*/, "") : "";
      const preset = variant ? `${name}-${variant}` : name;
      found.push({ name: preset, description, config: text, manifests, release, namespace });
    }
  }
  if (found.length === 0) throw new Error(`no examples found under ${args.examples}`);
  return found;
}

const bundle = await esbuild.build({
  entryPoints: [join(here, "src", "app.js")],
  bundle: true,
  format: "esm",
  minify: true,
  legalComments: "linked",
  target: "es2022",
  write: false,
  outdir: out,
  logLevel: "warning",
  external: ["./pkg/*"],
});
for (const file of bundle.outputFiles) put(relative(out, file.path), file.contents);
put("index.html", readFileSync(join(here, "src", "index.html")));
put("style.css", readFileSync(join(here, "src", "style.css")));
put("presets.json", JSON.stringify(presets()));
for (const f of ["postwire_playground.js", "postwire_playground_bg.wasm"]) {
  put(join("pkg", f), readFileSync(join(args.bindgen, f)));
}
rmSync(join(out, ".helm"), { recursive: true, force: true });
// Nothing stale stays behind.
(function prune(dir) {
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) {
      prune(path);
      if (readdirSync(path).length === 0) rmSync(path, { recursive: true });
    } else if (!wanted.has(relative(out, path))) {
      rmSync(path);
    }
  }
})(out);
const size = [...wanted].reduce((n, f) => n + statSync(join(out, f)).size, 0);
console.log(`playground: ${wanted.size} files, ${(size / 1024).toFixed(0)} KiB in ${out}`);
