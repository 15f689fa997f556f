// The playground page: two editors in, the engine (wasm-bindgen build of postwire-core) in the
// middle, the output, a per-document diff and the report out. All state lives in the page and,
// for sharing, in the URL fragment (deflate-compressed), which browsers never send to a server.
import { EditorView, basicSetup } from "codemirror";
import { EditorState, Compartment } from "@codemirror/state";
import { yaml } from "@codemirror/lang-yaml";
import { lintGutter, setDiagnostics, forceLinting } from "@codemirror/lint";
import { autocompletion } from "@codemirror/autocomplete";
import { oneDark } from "@codemirror/theme-one-dark";
import { schemaCompletion } from "./complete.js";

const $ = (id) => document.getElementById(id);
const CONFIG_NAME = "postwire.yaml";
const DEBOUNCE_MS = 150;

const engine = await import("./pkg/postwire_playground.js");
await engine.default({ module_or_path: new URL("./pkg/postwire_playground_bg.wasm", import.meta.url) });
const schema = JSON.parse(engine.config_schema());
const presets = await (await fetch(new URL("./presets.json", import.meta.url))).json();

// --- editors ----------------------------------------------------------------------------------
const dark = window.matchMedia("(prefers-color-scheme: dark)");
const themes = [];
function themed() {
  const c = new Compartment();
  themes.push(c);
  return c.of(dark.matches ? oneDark : []);
}
let onEdit = () => {};
function editor(parent, label, extra = []) {
  return new EditorView({
    parent,
    state: EditorState.create({
      doc: "",
      extensions: [
        basicSetup,
        yaml(),
        lintGutter(),
        themed(),
        EditorView.contentAttributes.of({ "aria-label": label }),
        EditorView.updateListener.of((u) => u.docChanged && onEdit()),
        ...extra,
      ],
    }),
  });
}
// Pasted or dropped manifests are the user's own, not the preset's (see leavePreset).
const manifestsView = editor($("manifests"), "Manifests", [
  EditorView.updateListener.of((u) => {
    if (u.docChanged && u.transactions.some((t) => t.isUserEvent("input.paste") || t.isUserEvent("input.drop"))) leavePreset();
  }),
]);
const configView = editor($("config"), "Config (postwire.yaml)", [
  autocompletion({ override: [schemaCompletion(schema)] }),
]);
const outputView = new EditorView({
  parent: $("view-output"),
  state: EditorState.create({
    doc: "",
    extensions: [
      basicSetup,
      yaml(),
      themed(),
      EditorState.readOnly.of(true),
      EditorView.contentAttributes.of({ "aria-label": "Output manifests" }),
    ],
  }),
});
dark.addEventListener("change", () => {
  for (const [i, view] of [manifestsView, configView, outputView].entries()) {
    view.dispatch({ effects: themes[i].reconfigure(dark.matches ? oneDark : []) });
  }
});
const setText = (view, text) => view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: text } });
const text = (view) => view.state.doc.toString();

// --- state and the URL fragment ----------------------------------------------------------------
function state() {
  return {
    v: 1,
    preset: $("preset").value,
    manifests: text(manifestsView),
    config: text(configView),
    release: $("release").value,
    namespace: $("namespace").value,
    tab: document.querySelector("[role=tab][aria-selected=true]").id.slice(4),
  };
}
async function pack(s) {
  const stream = new Blob([JSON.stringify(s)]).stream().pipeThrough(new CompressionStream("deflate-raw"));
  const bytes = new Uint8Array(await new Response(stream).arrayBuffer());
  let bin = "";
  for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}
async function unpack(packed) {
  const bin = atob(packed.replace(/-/g, "+").replace(/_/g, "/"));
  const bytes = Uint8Array.from(bin, (c) => c.charCodeAt(0));
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("deflate-raw"));
  return JSON.parse(await new Response(stream).text());
}
let restoring = false;
async function applyState(s) {
  restoring = true;
  $("preset").value = presets.some((p) => p.name === s.preset) ? s.preset : "";
  describePreset();
  setText(manifestsView, s.manifests ?? "");
  setText(configView, s.config ?? "");
  $("release").value = s.release ?? "";
  $("namespace").value = s.namespace ?? "";
  selectTab(s.tab ?? "diff", false);
  restoring = false;
  renderNow();
}
let hashTimer;
function saveHash() {
  clearTimeout(hashTimer);
  hashTimer = setTimeout(async () => {
    history.replaceState(null, "", "#s=" + (await pack(state())));
  }, DEBOUNCE_MS);
}

// --- presets -----------------------------------------------------------------------------------
const select = $("preset");
select.append(new Option("(your own input)", ""));
for (const p of presets) select.append(new Option(p.name, p.name));
function describePreset() {
  const p = presets.find((p) => p.name === select.value);
  $("preset-about").textContent = p ? `examples/${p.name}: ${p.description}` : "";
}
function loadPreset(name) {
  const p = presets.find((p) => p.name === name);
  if (!p) return;
  applyState({ preset: p.name, manifests: p.manifests, config: p.config, release: p.release, namespace: p.namespace ?? "", tab: state().tab });
}
select.addEventListener("change", () => (select.value ? loadPreset(select.value) : describePreset()));
/// The user's own manifests replace a preset's: the release and namespace the preset set
/// belonged to its example, so they are cleared (unless the user has changed them since), and
/// the selector says "(your own input)". The config stays: it is often what one wants to try.
function leavePreset() {
  const p = presets.find((p) => p.name === select.value);
  if (!p || restoring) return;
  if ($("release").value === (p.release ?? "")) $("release").value = "";
  if ($("namespace").value === (p.namespace ?? "")) $("namespace").value = "";
  select.value = "";
  describePreset();
}

// --- rendering ---------------------------------------------------------------------------------
let last = { ok: false };
let timer;
onEdit = () => {
  if (restoring) return;
  clearTimeout(timer);
  timer = setTimeout(renderNow, DEBOUNCE_MS);
};
for (const id of ["release", "namespace"]) $(id).addEventListener("input", onEdit);

function request() {
  const input = text(manifestsView);
  const context = {};
  if ($("release").value.trim()) context.releaseName = $("release").value.trim();
  if ($("namespace").value.trim()) context.namespace = $("namespace").value.trim();
  const req = { apiVersion: "postwire.dev/v1alpha1", kind: "RenderRequest", manifests: input, context };
  if (text(configView).trim()) req.config = { name: CONFIG_NAME, content: text(configView) };
  return req;
}

/// Render what the editors hold now; returns the time the engine took (ms).
function renderNow() {
  clearTimeout(timer);
  const req = request();
  const t0 = performance.now();
  const result = JSON.parse(engine.render(JSON.stringify(req)));
  const docs = result.ok ? JSON.parse(engine.diff(req.manifests, result.manifests)) : null;
  const ms = performance.now() - t0;
  last = { ...result, docs, ms, input: JSON.stringify(req) };
  show(last, req);
  saveHash();
  return ms;
}

function lineRange(view, line, column) {
  const n = Math.min(Math.max(line, 1), view.state.doc.lines);
  const l = view.state.doc.line(n);
  const from = column ? Math.min(l.from + column - 1, l.to) : l.from;
  return { from, to: Math.max(l.to, from) };
}

/// Which editor an error is about, and its line there: a config error from the config file is
/// in the config editor; everything else (YAML, documents, wirings, an in-stream
/// PostwireConfig) is in the manifests.
function whereIs(error) {
  if (error.kind === "Config" && error.origin === CONFIG_NAME) return { view: configView, line: error.line ?? 1 };
  const line = error.line ?? error.document?.line ?? null;
  if (error.kind === "Wire" || line === null) return { view: error.kind === "Config" ? configView : manifestsView, line: 1 };
  return { view: manifestsView, line };
}

function show(result) {
  const status = $("status");
  for (const v of [manifestsView, configView]) v.dispatch(setDiagnostics(v.state, []));
  if (!result.ok) {
    const e = result.error;
    const { view, line } = whereIs(e);
    const range = lineRange(view, line, e.column);
    const message = e.display;
    view.dispatch(setDiagnostics(view.state, [{ ...range, severity: "error", message, source: "postwire" }]));
    status.className = "error";
    status.textContent = "";
    const where = view === configView ? "config" : "manifests";
    const go = document.createElement("button");
    go.type = "button";
    go.id = "goto-error";
    go.textContent = `Go to ${where} line ${line}`;
    go.addEventListener("click", () => {
      view.focus();
      view.dispatch({ selection: { anchor: range.from }, scrollIntoView: true });
    });
    status.append(`Error: ${message} `, go);
    status.dataset.editor = where;
    status.dataset.line = String(line);
    return;
  }
  delete status.dataset.editor;
  delete status.dataset.line;
  status.className = "";
  const s = result.report.summary;
  status.textContent = `${s.documents} documents, ${s.changed} changed, ${s.removed} removed · rendered in ${result.ms.toFixed(1)} ms`;
  for (const w of result.warnings) {
    const span = document.createElement("div");
    span.className = "warn";
    span.textContent = "Warning: " + w;
    status.append(span);
  }
  setText(outputView, result.manifests);
  showDiff(result);
  showReport(result);
}

// --- diff view ---------------------------------------------------------------------------------
function objectOf(lines) {
  const body = lines.map(([, l]) => l);
  const top = (key) => body.find((l) => l.startsWith(key + ":"))?.slice(key.length + 1).trim().replace(/^["']|["']$/g, "");
  let inMeta = false, name, namespace;
  for (const l of body) {
    if (/^metadata:\s*$/.test(l)) { inMeta = true; continue; }
    if (inMeta && /^\S/.test(l)) inMeta = false;
    if (inMeta && /^  name:/.test(l)) name ??= l.slice(7).trim().replace(/^["']|["']$/g, "");
    if (inMeta && /^  namespace:/.test(l)) namespace ??= l.slice(12).trim().replace(/^["']|["']$/g, "");
  }
  const kind = top("kind");
  return { kind, name, namespace, label: kind ? `${kind}/${namespace ? namespace + "/" : ""}${name ?? "?"}` : "(no kind)" };
}
function reportFor(report, obj) {
  return report.documents.filter((d) => d.object === `${obj.kind}/${obj.name}` || d.object === `${obj.kind}/${obj.namespace}/${obj.name}`);
}
function el(tag, props = {}, ...children) {
  const e = Object.assign(document.createElement(tag), props);
  e.append(...children.filter((c) => c !== null && c !== undefined));
  return e;
}
function showDiff(result) {
  const view = $("view-diff");
  view.replaceChildren();
  let same = 0;
  for (const doc of result.docs) {
    if (doc.status === "same") { same++; continue; }
    const obj = objectOf(doc.lines);
    const entries = reportFor(result.report, obj);
    const wirings = [...new Set(entries.flatMap((d) => (d.changes ?? []).map((c) => c.wiring)))];
    const summary = el("summary", {}, el("span", { className: `badge ${doc.status}`, textContent: doc.status }), obj.label, " ",
      ...wirings.map((w) => el("span", { className: "badge wiring", textContent: w })));
    const changes = el("ul", { className: "changes" },
      ...entries.flatMap((d) => (d.changes ?? []).map((c) => el("li", {}, el("strong", { textContent: c.wiring }), ` ${c.action} `,
        el("code", { textContent: `${c.path}${c.key ? " · " + c.key : ""}` }), ` — ${c.reason}`))));
    const pre = el("pre", { className: "lines" });
    // Changed documents: the changes with three lines of context; new and removed ones whole.
    const keep = doc.lines.map((_, i) => doc.status !== "changed" || doc.lines.slice(Math.max(0, i - 3), i + 4).some(([t]) => t !== " "));
    let skipped = 0;
    doc.lines.forEach(([tag, line], i) => {
      if (!keep[i]) { skipped++; return; }
      if (skipped) pre.append(el("span", { className: "gap", textContent: `  … ${skipped} unchanged lines` }));
      skipped = 0;
      pre.append(el("span", { className: tag === "+" ? "add" : tag === "-" ? "del" : "", textContent: `${tag} ${line}` }));
    });
    if (skipped) pre.append(el("span", { className: "gap", textContent: `  … ${skipped} unchanged lines` }));
    view.append(el("details", { className: "doc", open: true }, summary, entries.length ? changes : null, pre));
  }
  view.append(el("p", { className: "unchanged", textContent: same === result.docs.length
    ? "Nothing changed: every document comes out byte for byte."
    : `${same} more document${same === 1 ? "" : "s"} unchanged, byte for byte.` }));
}

// --- report view -------------------------------------------------------------------------------
function showReport(result) {
  const r = result.report;
  const view = $("view-report");
  const rows = r.documents.flatMap((d) => [
    ...(d.changes ?? []).map((c) => el("tr", {}, el("td", { textContent: `${d.document}` }), el("td", { textContent: d.object }),
      el("td", { textContent: c.wiring }), el("td", { textContent: c.action }), el("td", {}, el("code", { textContent: c.path + (c.key ? " · " + c.key : "") })), el("td", { textContent: c.reason }))),
    ...(d.notes ?? []).filter((n) => !n.rule).map((n) => el("tr", {}, el("td", { textContent: `${d.document}` }), el("td", { textContent: d.object }),
      el("td", { textContent: n.wiring }), el("td", { textContent: n.level }), el("td"), el("td", { textContent: n.message }))),
  ]);
  // Findings of the cross-object check (`postwire check`): notes that carry a rule id.
  const findings = r.documents.flatMap((d) => (d.notes ?? []).filter((n) => n.rule).map((n) => ({ d, n })));
  view.replaceChildren(el("div", { className: "report" },
    el("p", { textContent: `${r.summary.documents} documents in, ${r.summary.changed} changed, ${r.summary.removed} removed.` }),
    ...result.warnings.map((w) => el("div", { className: "warning", textContent: "Warning: " + w })),
    el("h3", { textContent: "What would break once applied (postwire check)" }),
    findings.length
      ? el("ul", { className: "findings" }, ...findings.map(({ d, n }) => el("li", { className: `finding ${n.level}` },
        el("strong", { textContent: `${n.level} ${n.rule}` }),
        ` ${d.object} (document ${d.document}${n.line ? `, line ${n.line}` : ""}): ${n.message}`)))
      : el("p", { className: "findings-none", textContent: "No findings: nothing the check knows of breaks once applied." }),
    el("h3", { textContent: "What each wiring did, and why" }),
    rows.length ? el("table", {}, el("thead", {}, el("tr", {}, ...["Doc", "Object", "Wiring", "Action", "Field", "Why"].map((h) => el("th", { scope: "col", textContent: h })))), el("tbody", {}, ...rows))
      : el("p", { textContent: "No wiring changed anything." }),
    el("h3", { textContent: "Report JSON (postwire render --report)" }),
    el("pre", { className: "lines", textContent: result.reportJson })));
}

// --- tabs (arrow keys move between them) ---------------------------------------------------------
const tabs = [...document.querySelectorAll("[role=tab]")];
function selectTab(name, focus = true) {
  for (const t of tabs) {
    const on = t.id === "tab-" + name;
    t.setAttribute("aria-selected", String(on));
    t.tabIndex = on ? 0 : -1;
    $(t.getAttribute("aria-controls")).hidden = !on;
    if (on && focus) t.focus();
  }
  if (name === "output") outputView.requestMeasure();
  if (!restoring) saveHash();
}
for (const [i, t] of tabs.entries()) {
  t.addEventListener("click", () => selectTab(t.id.slice(4)));
  t.addEventListener("keydown", (e) => {
    const step = { ArrowRight: 1, ArrowLeft: -1 }[e.key];
    if (step) selectTab(tabs[(i + step + tabs.length) % tabs.length].id.slice(4));
  });
}

// --- input and output actions --------------------------------------------------------------------
for (const [id, view] of [["upload-manifests", manifestsView], ["upload-config", configView]]) {
  $(id).addEventListener("change", async (e) => {
    const file = e.target.files[0];
    if (!file) return;
    if (view === manifestsView) leavePreset();
    else {
      select.value = "";
      describePreset();
    }
    setText(view, await file.text());
    e.target.value = "";
    renderNow();
  });
}
function flash(button, what) {
  const before = button.textContent;
  button.textContent = what;
  setTimeout(() => (button.textContent = before), 1200);
}
/// Copy through the Clipboard API; where it is missing or never answers (some headless and
/// embedded browsers), through a selected text area instead.
async function copy(button, content) {
  const api = navigator.clipboard?.writeText(content) ?? Promise.reject(new Error("no Clipboard API"));
  const gaveUp = new Promise((_, no) => setTimeout(() => no(new Error("timed out")), 1000));
  try {
    await Promise.race([api, gaveUp]);
    flash(button, "Copied");
  } catch {
    const area = el("textarea", { value: content, readOnly: true });
    area.style.position = "fixed";
    area.style.opacity = "0";
    document.body.append(area);
    area.select();
    const ok = document.execCommand("copy");
    area.remove();
    button.focus();
    flash(button, ok ? "Copied" : "Copy failed");
  }
}
function download(name, type, content) {
  const a = el("a", { href: URL.createObjectURL(new Blob([content], { type })), download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
}
const output = () => (last.ok ? last.manifests : "");
const reportText = () => (last.ok ? last.reportJson : "");
$("copy-output").addEventListener("click", (e) => copy(e.currentTarget, output()));
$("copy-report").addEventListener("click", (e) => copy(e.currentTarget, reportText()));
$("download-output").addEventListener("click", () => download("postwire-output.yaml", "application/yaml", output()));
$("download-report").addEventListener("click", () => download("postwire-report.json", "application/json", reportText()));
$("share").addEventListener("click", async () => {
  clearTimeout(hashTimer);
  history.replaceState(null, "", "#s=" + (await pack(state())));
  await copy($("share"), location.href);
});
window.addEventListener("hashchange", async () => {
  const m = location.hash.match(/^#s=(.+)$/);
  if (m) await applyState(await unpack(m[1]));
});

// --- start: a shared state, else the first preset -----------------------------------------------
const shared = location.hash.match(/^#s=(.+)$/);
if (shared) {
  try { await applyState(await unpack(shared[1])); } catch (e) {
    loadPreset(presets[0].name);
    $("status").textContent = `This share link could not be read (${e.message}); showing ${presets[0].name}.`;
  }
} else {
  loadPreset(presets[0].name);
}
// For the browser test and the benchmark: the views, and a synchronous render.
// `settled`: the views show a render of exactly what the editors hold.
const settled = () => last.input === JSON.stringify(request());
window.postwirePlayground = { renderNow, settled, last: () => last, version: engine.version(), views: { manifestsView, configView, outputView }, forceLinting };
document.documentElement.dataset.ready = "true";
