// The playground in a real browser: Debian's chromium, headless, driven by playwright-core, the
// page served by `postwire playground` from the files embedded in the runner. Loads the page,
// picks a preset, edits the config (and completes a key), sees output and diff change, makes a
// YAML error and a config error and finds each at its line in its editor, opens a share link
// and gets the same state back, downloads the output, and checks the page asked nothing of the
// network but the runner. Screenshots (laptop and wide, light and dark) go to --artifacts.
//   node browser.mjs --postwire BIN --artifacts DIR [--chromium PATH] [--bench CORPUS_FILE]
import { spawn } from "node:child_process";
import { mkdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { chromium } from "playwright-core";

const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith("--") ? [...acc, [a.slice(2), all[i + 1]]] : acc), []),
);
const artifacts = resolve(args.artifacts);
mkdirSync(artifacts, { recursive: true });
const assert = (cond, what) => {
  if (!cond) throw new Error("browser test: " + what);
};

// postwire playground --port 0 prints the URL it serves. (--dist DIR serves a playground build
// with node instead, to try a change to the page without relinking the runner.)
const server = args.dist
  ? spawn(process.execPath, ["-e", `
      const http = require("node:http"), fs = require("node:fs"), path = require("node:path");
      const types = { ".html": "text/html", ".js": "text/javascript", ".css": "text/css", ".json": "application/json", ".wasm": "application/wasm" };
      const s = http.createServer((q, r) => {
        const f = path.join(${JSON.stringify(resolve(args.dist ?? "."))}, q.url.split("?")[0] === "/" ? "index.html" : q.url.split("?")[0]);
        fs.readFile(f, (e, b) => { if (e) { r.writeHead(404); r.end(); } else { r.writeHead(200, { "Content-Type": types[path.extname(f)] }); r.end(b); } });
      }).listen(0, "127.0.0.1", () => console.log("http://127.0.0.1:" + s.address().port + "/"));`], { stdio: ["ignore", "pipe", "inherit"] })
  : spawn(args.postwire, ["playground", "--port", "0"], { stdio: ["ignore", "pipe", "inherit"] });
const url = await new Promise((ok, fail) => {
  let seen = "";
  server.stdout.on("data", (d) => {
    seen += d;
    const m = seen.match(/http:\/\/127\.0\.0\.1:\d+\//);
    if (m) ok(m[0]);
  });
  server.on("exit", (code) => fail(new Error(`postwire playground exited with ${code}: ${seen}`)));
});
const origin = new URL(url).origin;

const browser = await chromium.launch({
  executablePath: args.chromium ?? process.env.POSTWIRE_CHROMIUM ?? "/usr/bin/chromium",
  args: [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-sync",
    "--no-first-run",
    "--disable-features=Translate,OptimizationHints,MediaRouter",
  ],
});
const elsewhere = [];
async function newPage(colorScheme = "light", viewport = { width: 1366, height: 800 }) {
  const context = await browser.newContext({ colorScheme, viewport, acceptDownloads: true });
  await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin });
  // Offline: nothing but the runner's own files may be fetched.
  await context.route("**/*", (route) => {
    const u = route.request().url();
    if (u.startsWith(origin) || u.startsWith("blob:") || u.startsWith("data:")) return route.continue();
    elsewhere.push(u);
    return route.abort();
  });
  const page = await context.newPage();
  const problems = [];
  page.on("pageerror", (e) => problems.push(String(e)));
  page.on("console", (m) => m.type() === "error" && problems.push(m.text()));
  page.problems = problems;
  return page;
}
const ready = (page) => page.waitForSelector("html[data-ready=true]", { timeout: 30000 });
const editorText = (page, id) => page.evaluate((id) => window.postwirePlayground.views[id].state.doc.toString(), id);
const output = (page) => editorText(page, "outputView");
async function waitForRender(page) {
  await page.waitForFunction(() => window.postwirePlayground.settled(), null, { timeout: 10000 });
}
async function replaceEditor(page, selector, text) {
  await page.click(`${selector} .cm-content`);
  await page.keyboard.press("Control+A");
  await page.keyboard.insertText(text);
}

try {
  const page = await newPage();
  await page.goto(url);
  await ready(page);
  const presets = await page.$$eval("#preset option", (os) => os.map((o) => o.value).filter(Boolean));
  assert(presets.includes("quickstart"), `presets ${presets}`);
  for (const p of presets) {
    // Every preset renders without an error and changes something.
    // A preset renders at once (no debounce).
    await page.selectOption("#preset", p);
    const last = await page.evaluate(() => window.postwirePlayground.last());
    assert(last.ok, `preset ${p}: ${JSON.stringify(last.error)}`);
    assert(last.report.summary.changed > 0, `preset ${p} changed nothing`);
    assert((await page.$$("#view-diff details.doc")).length > 0, `preset ${p}: no document in the diff view`);
  }

  // Pasting one's own manifests over a preset's drops the preset's release and namespace (they
  // named its example) and says "(your own input)"; the config stays.
  await page.selectOption("#preset", "livechat");
  assert((await page.inputValue("#release")) !== "" && (await page.inputValue("#namespace")) !== "", "livechat sets both");
  const ownConfig = await editorText(page, "configView");
  await page.click("#manifests .cm-content");
  await page.evaluate(() => {
    const v = window.postwirePlayground.views.manifestsView;
    const own = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: mine\ndata:\n  a: b\n";
    v.dispatch({ changes: { from: 0, to: v.state.doc.length, insert: own }, userEvent: "input.paste" });
  });
  await waitForRender(page);
  assert((await page.inputValue("#release")) === "", `release after a paste: ${await page.inputValue("#release")}`);
  assert((await page.inputValue("#namespace")) === "", `namespace after a paste: ${await page.inputValue("#namespace")}`);
  assert((await page.inputValue("#preset")) === "", "the selector says (your own input)");
  assert((await editorText(page, "configView")) === ownConfig, "the config stays");

  // Pick a preset.
  await page.selectOption("#preset", "quickstart");
  const quick = await output(page);
  assert(quick.includes("checksum/configmap-quickstart-web"), "quickstart output has its per-object checksum");
  const diffBefore = await page.textContent("#view-diff");
  assert(diffBefore.includes("checksum/configmap-quickstart-web"), "the diff shows the added checksum");
  assert(/checksum/.test(await page.textContent("#view-diff summary")), "the diff names the wiring");
  await page.screenshot({ path: join(artifacts, "01-quickstart-laptop-light.png") });

  // Config completion: a key from the JSON Schema.
  await replaceEditor(page, "#config", "");
  await page.keyboard.insertText("chec");
  await page.keyboard.press("Control+Space");
  await page.waitForSelector(".cm-tooltip-autocomplete", { timeout: 5000 });
  const offered = await page.textContent(".cm-tooltip-autocomplete");
  assert(offered.includes("checksum"), `completion offered ${offered}`);
  await page.keyboard.press("Escape");

  // Edit the config: aggregate checksums; output and diff follow (debounced, as you type).
  await replaceEditor(page, "#config", "checksum:\n  mode: aggregate\n");
  await waitForRender(page);
  const aggregate = await output(page);
  assert(aggregate !== quick, "the output changed with the config");
  assert(aggregate.includes("checksum/config:") && !aggregate.includes("checksum/configmap-quickstart-web"), "aggregate checksums");
  const diffAfter = await page.textContent("#view-diff");
  assert(diffAfter !== diffBefore && diffAfter.includes("checksum/config"), "the diff changed with the config");
  await page.click("#tab-report");
  const reportView = await page.textContent("#view-report");
  assert(reportView.includes("checksum/config"), `the report says what was added: ${reportView.slice(0, 2000)}`);
  await page.screenshot({ path: join(artifacts, "02-aggregate-report.png") });
  await page.click("#tab-diff");

  // A config error: at its line in the config editor.
  await replaceEditor(page, "#config", "checksum:\n  mode: aggregate\n  mdoe: x\n");
  await waitForRender(page);
  assert((await page.getAttribute("#status", "class")) === "error", "a config error shows");
  assert((await page.getAttribute("#status", "data-editor")) === "config", "the config error is in the config editor");
  assert((await page.getAttribute("#status", "data-line")) === "3", "the config error is at line 3");
  await page.waitForSelector("#config .cm-lint-marker-error");
  const markedConfigLine = await page.evaluate(() => {
    const v = window.postwirePlayground.views.configView;
    const mark = document.querySelector("#config .cm-lintRange-error");
    return v.state.doc.lineAt(v.posAtDOM(mark)).number;
  });
  assert(markedConfigLine === 3, `config error marked at line ${markedConfigLine}`);
  assert((await page.textContent("#status")).includes("mdoe"), "the message names the key");
  await page.screenshot({ path: join(artifacts, "03-config-error.png") });
  await replaceEditor(page, "#config", "checksum:\n  mode: aggregate\n");
  await waitForRender(page);

  // A YAML error: at its line in the manifests editor.
  const manifests = await editorText(page, "manifestsView");
  const broken = manifests + (manifests.endsWith("\n") ? "" : "\n") + "---\napiVersion: v1\nkind: [ConfigMap\n";
  const brokenLine = broken.split("\n").length - 1; // the unclosed `[`'s line or the end of the stream
  await replaceEditor(page, "#manifests", broken);
  await waitForRender(page);
  assert((await page.getAttribute("#status", "data-editor")) === "manifests", "the YAML error is in the manifests editor");
  const yamlLine = Number(await page.getAttribute("#status", "data-line"));
  assert(yamlLine >= brokenLine - 1 && yamlLine <= brokenLine + 1, `YAML error at line ${yamlLine}, expected about ${brokenLine}`);
  await page.waitForSelector("#manifests .cm-lint-marker-error");
  await page.click("#goto-error");
  const cursorLine = await page.evaluate(() => {
    const v = window.postwirePlayground.views.manifestsView;
    return v.state.doc.lineAt(v.state.selection.main.head).number;
  });
  assert(cursorLine === Math.min(yamlLine, broken.split("\n").length), `"Go to" put the cursor on line ${cursorLine}`);
  await page.screenshot({ path: join(artifacts, "04-yaml-error.png") });
  await replaceEditor(page, "#manifests", manifests);
  await waitForRender(page);
  assert(await page.evaluate(() => window.postwirePlayground.last().ok), "fixed input renders again");

  // The cross-object check: a PodDisruptionBudget that never allows an eviction is a finding,
  // shown beside the report; the output is the same as without it.
  const blocking = manifests + (manifests.endsWith("\n") ? "" : "\n") +
    "---\napiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata:\n  name: never\nspec:\n  maxUnavailable: 0\n" +
    "  selector:\n    matchLabels:\n      app.kubernetes.io/name: quickstart\n";
  await replaceEditor(page, "#manifests", blocking);
  await waitForRender(page);
  await page.click("#tab-report");
  const findings = await page.textContent("#view-report .findings");
  assert(findings.includes("pdb-blocks-eviction") && findings.includes("PodDisruptionBudget/never"), `the finding is shown: ${findings}`);
  await page.screenshot({ path: join(artifacts, "05-check-findings.png") });
  await page.click("#tab-diff");
  await replaceEditor(page, "#manifests", manifests);
  await waitForRender(page);

  // Share: the link holds the whole state; a new page gets it back.
  await page.fill("#namespace", "shop");
  await page.click("#tab-output");
  await waitForRender(page);
  await page.click("#share");
  await page.waitForFunction(() => document.getElementById("share").textContent !== "Copy share link");
  const shared = await page.evaluate(() => location.href);
  assert(shared.startsWith(url + "#s="), `share link ${shared}`);
  // (Headless chromium keeps no system clipboard to read back; the page says whether writing worked.)
  assert((await page.textContent("#share")) === "Copied", `share button says ${await page.textContent("#share")}`);
  const want = {
    manifests: await editorText(page, "manifestsView"),
    config: await editorText(page, "configView"),
    output: await output(page),
    namespace: "shop",
  };
  const again = await newPage();
  await again.goto(shared);
  await ready(again);
  const got = {
    manifests: await editorText(again, "manifestsView"),
    config: await editorText(again, "configView"),
    output: await output(again),
    namespace: await again.inputValue("#namespace"),
  };
  assert(JSON.stringify(got) === JSON.stringify(want), "the shared link restores the same state");
  assert((await again.getAttribute("#tab-output", "aria-selected")) === "true", "the shared link restores the tab");
  assert(want.output.includes("namespace: shop") || want.output === got.output, "namespace in state");

  // Download the output: the file is what the page shows.
  const [download] = await Promise.all([again.waitForEvent("download"), again.click("#download-output")]);
  assert(download.suggestedFilename() === "postwire-output.yaml", download.suggestedFilename());
  await download.saveAs(join(artifacts, "postwire-output.yaml"));
  assert(readFileSync(join(artifacts, "postwire-output.yaml"), "utf8") === got.output, "the download is the output");
  const [report] = await Promise.all([again.waitForEvent("download"), again.click("#download-report")]);
  await report.saveAs(join(artifacts, "postwire-report.json"));
  assert(JSON.parse(readFileSync(join(artifacts, "postwire-report.json"), "utf8")).kind === "Report", "the report downloads");

  // Keyboard: the tabs move with the arrow keys.
  await again.focus("#tab-output");
  await again.keyboard.press("ArrowRight");
  assert((await again.getAttribute("#tab-report", "aria-selected")) === "true", "ArrowRight selects the next tab");

  // Laptop and wide, light and dark.
  for (const [scheme, viewport, name] of [
    ["light", { width: 1366, height: 800 }, "laptop-light"],
    ["dark", { width: 1366, height: 800 }, "laptop-dark"],
    ["light", { width: 1920, height: 1080 }, "wide-light"],
    ["dark", { width: 1920, height: 1080 }, "wide-dark"],
  ]) {
    const p = await newPage(scheme, viewport);
    await p.goto(url);
    await ready(p);
    await p.selectOption("#preset", presets.includes("livechat") ? "livechat" : "quickstart");
    await p.waitForTimeout(300);
    const bg = await p.evaluate(() => getComputedStyle(document.body).backgroundColor);
    assert((scheme === "dark") === (bg === "rgb(24, 27, 32)"), `${name}: background ${bg}`);
    await p.screenshot({ path: join(artifacts, `05-${name}.png`) });
    assert(p.problems.length === 0, `${name}: ${p.problems.join("; ")}`);
  }
  assert(page.problems.length === 0 && again.problems.length === 0, `page errors: ${[...page.problems, ...again.problems].join("; ")}`);
  assert(elsewhere.length === 0, `the page asked the network for ${elsewhere.join(", ")}`);

  // Benchmark (printed, not asserted): re-render a corpus chart in the page.
  if (args.bench) {
    const text = readFileSync(args.bench, "utf8");
    const b = await newPage();
    await b.goto(url);
    await ready(b);
    await b.selectOption("#preset", "quickstart");
    const stats = await b.evaluate((text) => {
      const { views, renderNow, last } = window.postwirePlayground;
      views.manifestsView.dispatch({ changes: { from: 0, to: views.manifestsView.state.doc.length, insert: text } });
      const engine = [], page = [];
      for (let i = 0; i < 25; i++) {
        const t0 = performance.now();
        engine.push(renderNow());
        page.push(performance.now() - t0);
      }
      const median = (xs) => xs.sort((a, b) => a - b)[xs.length >> 1];
      return { docs: last().report?.summary.documents, changed: last().report?.summary.changed, engine: median(engine), page: median(page), bytes: text.length };
    }, text);
    console.log(`bench: ${args.bench}: ${stats.docs} documents (${stats.bytes} bytes), ${stats.changed} changed; median engine+diff ${stats.engine.toFixed(1)} ms, with the page update ${stats.page.toFixed(1)} ms`);
  }
  console.log(`browser test: passed (${presets.length} presets), screenshots in ${artifacts}`);
} finally {
  await browser.close();
  server.kill();
}
