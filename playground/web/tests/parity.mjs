// Parity: the playground's engine (the wasm-bindgen build in DIST/pkg, loaded under Node) gives
// byte-identical manifests, report JSON and error messages to the runner (`postwire`, running
// plugin.wasm under extism) for every example preset and every corpus stream, with no config
// and with each example's config.
//   node parity.mjs --postwire BIN --dist DIST --examples EXAMPLES_DIR [--corpus CORPUS_DIR]
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith("--") ? [...acc, [a.slice(2), all[i + 1]]] : acc), []),
);
const dist = resolve(args.dist);
const engine = await import(join(dist, "pkg", "postwire_playground.js"));
engine.initSync({ module: readFileSync(join(dist, "pkg", "postwire_playground_bg.wasm")) });
const presets = JSON.parse(readFileSync(join(dist, "presets.json"), "utf8"));
const work = mkdtempSync(join(tmpdir(), "postwire-parity-"));
// The runner reads Argo CD's build environment; the page has none.
const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(ARGOCD_|KUBE_VERSION|KUBE_API_VERSIONS|POSTWIRE_CHART_CONFIG)/.test(k)));

// Every example directory is a preset, and so is each further config of one
// (`postwire-<variant>.yaml` is `<name>-<variant>`).
const examples = readdirSync(args.examples)
  .filter((n) => statSync(join(args.examples, n)).isDirectory())
  .sort()
  .flatMap((n) => [
    n,
    ...readdirSync(join(args.examples, n))
      .map((f) => /^postwire-([a-z0-9-]+)\.yaml$/.exec(f))
      .filter(Boolean)
      .map((m) => `${n}-${m[1]}`)
      .sort(),
  ]);
const names = presets.map((p) => p.name);
if (JSON.stringify(names) !== JSON.stringify(examples)) {
  throw new Error(`presets ${JSON.stringify(names)} are not the examples ${JSON.stringify(examples)}`);
}

function runner({ manifests, config, release, namespace }) {
  writeFileSync(join(work, "in.yaml"), manifests);
  const argv = ["render", "-f", "in.yaml", "--report", "report.json"];
  if (config !== undefined) {
    writeFileSync(join(work, "postwire.yaml"), config);
    argv.push("--config", "postwire.yaml");
  }
  if (release) argv.push("--release", release);
  if (namespace) argv.push("--namespace", namespace);
  const out = spawnSync(args.postwire, argv, { cwd: work, env, maxBuffer: 1 << 30 });
  if (out.status !== 0) return { ok: false, code: out.status, stderr: out.stderr.toString() };
  return { ok: true, manifests: out.stdout.toString(), report: readFileSync(join(work, "report.json"), "utf8") };
}

function playground({ manifests, config, release, namespace }) {
  const req = { apiVersion: "postwire.dev/v1alpha1", kind: "RenderRequest", manifests, context: {} };
  if (config !== undefined) req.config = { name: "postwire.yaml", content: config };
  if (release) req.context.releaseName = release;
  if (namespace) req.context.namespace = namespace;
  return JSON.parse(engine.render(JSON.stringify(req)));
}

let checked = 0, changed = 0;
const failures = [];
function check(name, input) {
  const want = runner(input);
  const got = playground(input);
  checked++;
  if (want.ok !== got.ok) {
    failures.push(`${name}: runner ${want.ok ? "succeeded" : "failed: " + want.stderr} but the playground ${got.ok ? "succeeded" : "failed: " + got.error.display}`);
  } else if (want.ok) {
    if (want.manifests !== got.manifests) failures.push(`${name}: manifests differ`);
    if (want.report !== got.reportJson) failures.push(`${name}: report differs`);
    if (want.manifests !== input.manifests) changed++;
  } else {
    // The runner prints `Error: <the engine's message>` and exits with the error's code.
    if (!want.stderr.includes(`Error: ${got.error.display}`)) failures.push(`${name}: runner said ${JSON.stringify(want.stderr)}, playground ${JSON.stringify(got.error.display)}`);
    if (want.code !== got.error.exitCode) failures.push(`${name}: exit code ${want.code} vs ${got.error.exitCode}`);
  }
}

for (const p of presets) {
  check(`example ${p.name}`, p);
  // A YAML error and a config error give the same message as the runner's.
  check(`example ${p.name} with a YAML error`, { ...p, manifests: p.manifests + "---\nkind: [\n" });
  check(`example ${p.name} with a config error`, { ...p, config: p.config + "\nchecksum:\n  mdoe: x\n" });
}
if (args.corpus) {
  const configs = [["no config", undefined], ...presets.map((p) => [`${p.name}'s config`, p.config])];
  for (const dir of ["streams", "rendered"]) {
    const files = readdirSync(join(args.corpus, dir)).filter((f) => /\.ya?ml$/.test(f)).sort();
    if (!files.length) throw new Error(`no corpus files in ${join(args.corpus, dir)}`);
    for (const f of files) {
      const manifests = readFileSync(join(args.corpus, dir, f), "utf8");
      for (const [what, config] of configs) check(`corpus ${dir}/${f} with ${what}`, { manifests, config });
    }
  }
}
if (failures.length) {
  console.error(failures.join("\n"));
  console.error(`parity: ${failures.length} of ${checked} cases differ`);
  process.exit(1);
}
if (changed === 0) throw new Error("no case changed anything: the parity test would not see a difference");
console.log(`parity: ${checked} cases byte-identical to the runner (${changed} changed by postwire)`);
