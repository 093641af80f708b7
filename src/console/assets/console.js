// esr console: a little vanilla JavaScript over the public HTTP API (/api/esr/...).
// No framework and nothing from the network; the page's Content-Security-Policy allows
// scripts from this server only, so everything here is wired with addEventListener.
"use strict";

const API = "/api/esr";
const TOKEN_KEY = "esr-api-token";
const ACTIVE = new Set(["QUEUED", "STARTED"]);
const POLL_MS = 500;

const $ = (id) => document.getElementById(id);

// ---------------------------------------------------------------------------------------
// API access: JSON in and out, problem+json errors, a bearer token asked for once on 401.

class ApiError extends Error {
  constructor(status, problem) {
    super((problem && (problem.detail || problem.title)) || `HTTP ${status}`);
    this.status = status;
    this.problem = problem || {};
  }
}

let tokenAsk = null; // one dialog at a time, shared by every request that got a 401

function askToken() {
  if (tokenAsk) return tokenAsk;
  tokenAsk = new Promise((resolve, reject) => {
    const dialog = $("token-dialog");
    const form = $("token-form");
    const input = $("token-input");
    input.value = "";
    const finish = () => {
      form.removeEventListener("submit", done);
      dialog.removeEventListener("cancel", cancel);
      tokenAsk = null;
    };
    const done = (ev) => {
      ev.preventDefault();
      const token = input.value.trim();
      if (!token) return;
      finish();
      sessionStorage.setItem(TOKEN_KEY, token);
      dialog.close();
      resolve(token);
    };
    // Escape closes the dialog: the request fails as unauthorized instead of waiting forever.
    const cancel = () => {
      finish();
      reject(new ApiError(401, { title: "this server needs an API token" }));
    };
    form.addEventListener("submit", done);
    dialog.addEventListener("cancel", cancel);
    dialog.dataset.asked = String(Number(dialog.dataset.asked || 0) + 1);
    dialog.showModal();
    input.focus();
  });
  return tokenAsk;
}

function authHeaders() {
  const token = sessionStorage.getItem(TOKEN_KEY);
  return token ? { Authorization: `Bearer ${token}` } : {};
}

async function request(method, path, body, accept = "application/json") {
  for (let attempt = 0; attempt < 3; attempt++) {
    const headers = { Accept: accept, ...authHeaders() };
    const init = { method, headers };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = typeof body === "string" ? body : JSON.stringify(body);
    }
    const res = await fetch(API + path, init);
    if (res.status === 401) {
      sessionStorage.removeItem(TOKEN_KEY);
      await askToken();
      continue;
    }
    return res;
  }
  throw new ApiError(401, { title: "the API token was refused" });
}

async function api(method, path, body) {
  const res = await request(method, path, body);
  const type = res.headers.get("content-type") || "";
  const data = type.includes("json") ? await res.json().catch(() => null) : null;
  if (!res.ok) throw new ApiError(res.status, data);
  return data;
}

function listOf(data, ...keys) {
  if (Array.isArray(data)) return data;
  for (const k of keys) if (data && Array.isArray(data[k])) return data[k];
  return [];
}

function status(text) {
  $("status").textContent = text;
}

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === "class") node.className = v;
    else if (k === "dataset") Object.assign(node.dataset, v);
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c instanceof Node ? c : String(c ?? ""));
  return node;
}

// ---------------------------------------------------------------------------------------
// Number formatting shared by the run view and the comparison.

function num(v, digits = 2) {
  if (v === null || v === undefined || Number.isNaN(v)) return "–";
  if (typeof v !== "number") return String(v);
  return Number.isInteger(v) ? v.toLocaleString("en-US") : v.toFixed(digits);
}

const pct = (v) => (v === null || v === undefined ? "–" : `${num(v)} %`);
const ms = (v) => (v === null || v === undefined ? "–" : `${num(v)} ms`);
// `esq_rule_violations` is a list of `{rule, count}` (older scorecards: a count).
const count = (v) => (Array.isArray(v) ? v.reduce((n, x) => n + (x.count ?? 1), 0) : v);

// The figures a scorecard is read by, from scorecard.json (snake_case) with the run's
// summary (camelCase) as the fallback. `better` says which way a delta is an improvement.
const FIGURES = [
  { id: "requests", label: "Requests", get: (c, s) => c.requests ?? s.requests, fmt: num },
  { id: "success", label: "Success rate", get: (c, s) => c.success_rate ?? s.successRate, fmt: pct, better: 1 },
  { id: "p50", label: "Latency p50", get: (c) => c.latency_ms && c.latency_ms.p50, fmt: ms, better: -1 },
  { id: "p95", label: "Latency p95", get: (c, s) => c.latency_p95_ms ?? s.latencyP95Ms, fmt: ms, better: -1 },
  { id: "p99", label: "Latency p99", get: (c) => c.latency_ms && c.latency_ms.p99, fmt: ms, better: -1 },
  { id: "payment", label: "Payment success", get: (c, s) => c.payment_success ?? s.paymentSuccess, fmt: pct, better: 1 },
  { id: "compliance", label: "Compliance hits", get: (c, s) => c.compliance_hits ?? s.complianceHits, fmt: num, better: -1 },
  { id: "esq", label: "ESQ rule violations", get: (c) => count(c.esq_rule_violations), fmt: num, better: -1 },
  { id: "rate", label: "Achieved rate (req/s)", get: (c) => c.achieved_rate, fmt: num, better: 1 },
  { id: "verdict", label: "Verdict", get: (c, s) => c.verdict ?? s.verdict, fmt: num },
];

function figure(dl, id, label, text) {
  dl.append(el("div", {}, el("dt", { id: `${id}-label` }, label), el("dd", { id, "aria-labelledby": `${id}-label` }, text)));
}

// ---------------------------------------------------------------------------------------
// Scenarios: list, create (with errors beside their field) and run.

async function loadScenarios() {
  const list = listOf(await api("GET", "/scenarios"), "scenarios", "items");
  const body = $("scenario-table").tBodies[0];
  const select = $("run-scenario");
  const chosen = select.value;
  body.replaceChildren();
  select.replaceChildren();
  if (!list.length) body.append(el("tr", {}, el("td", { colspan: 5, class: "empty" }, "No scenarios yet: create one below.")));
  for (const s of list) {
    const run = el("button", { type: "button", class: "link", onclick: () => chooseScenario(s.id) }, "Run…");
    const copy = el("button", { type: "button", class: "link", onclick: () => editScenario(s.id) }, "Edit a copy");
    copy.setAttribute("aria-label", `Edit a copy of ${s.id}`);
    const del = el("button", { type: "button", class: "link", onclick: () => deleteScenario(s.id) }, "Delete");
    run.setAttribute("aria-label", `Run ${s.id}`);
    del.setAttribute("aria-label", `Delete ${s.id}`);
    body.append(el("tr", { dataset: { id: s.id } }, el("td", {}, s.id), el("td", {}, s.name ?? ""),
      el("td", {}, s.status ?? ""), el("td", {}, s.createdAt ?? ""), el("td", {}, run, " ", copy, " ", del)));
    select.append(el("option", { value: s.id }, `${s.id} ${s.name ?? ""}`));
  }
  if (chosen && list.some((s) => s.id === chosen)) select.value = chosen;
  $("run-submit").disabled = !list.length;
}

function chooseScenario(id) {
  $("run-scenario").value = id;
  $("run-speed").focus();
}

// Loads a stored scenario into the editor, to change it and create a new one.
async function editScenario(id) {
  try {
    const view = await api("GET", `/scenarios/${encodeURIComponent(id)}`);
    $("scenario-json").value = JSON.stringify(view.scenario, null, 2);
    renderFields([]);
    $("scenario-result").className = "";
    $("scenario-result").textContent = `Editing a copy of ${id}: create it as a new scenario.`;
    $("scenario-json").focus();
  } catch (e) {
    status(`Could not read ${id}: ${e.message}`);
  }
}

async function deleteScenario(id) {
  if (!window.confirm(`Delete scenario ${id}? Its runs are kept.`)) return;
  try {
    await api("DELETE", `/scenarios/${encodeURIComponent(id)}`);
    status(`Deleted ${id}.`);
  } catch (e) {
    status(`Could not delete ${id}: ${e.message}`);
  }
  await loadScenarios().catch(() => {});
}

// Where each field of the editor's JSON starts, by the path the server names it with
// (`script[2].ratio`), found by a small scanner over the text so a field can be selected.
function fieldSpans(text) {
  const spans = [];
  let i = 0;
  const ws = () => { while (i < text.length && /\s/.test(text[i])) i++; };
  const str = () => {
    const start = i++;
    while (i < text.length && text[i] !== '"') i += text[i] === "\\" ? 2 : 1;
    i++;
    return JSON.parse(text.slice(start, i));
  };
  const value = (path, keyStart) => {
    ws();
    const start = keyStart ?? i;
    const c = text[i];
    if (c === "{") {
      i++;
      if (path) spans.push({ path, start, end: start, container: true });
      const own = spans.length - 1;
      ws();
      while (text[i] !== "}") {
        ws();
        const ks = i;
        const key = str();
        ws();
        if (text[i++] !== ":") throw new Error("expected ':'");
        value(path ? `${path}.${key}` : key, ks);
        ws();
        if (text[i] === ",") i++;
        else if (text[i] !== "}") throw new Error("expected ',' or '}'");
      }
      i++;
      if (path) spans[own].end = i;
    } else if (c === "[") {
      i++;
      spans.push({ path, start, end: start, container: true });
      const own = spans.length - 1;
      let n = 0;
      ws();
      while (text[i] !== "]") {
        value(`${path}[${n++}]`);
        ws();
        if (text[i] === ",") i++;
        else if (text[i] !== "]") throw new Error("expected ',' or ']'");
        ws();
      }
      i++;
      spans[own].end = i;
    } else {
      if (c === '"') str();
      else while (i < text.length && /[^,}\]\s]/.test(text[i])) i++;
      spans.push({ path, start, end: i });
    }
  };
  try {
    value("");
    return spans;
  } catch {
    return null; // not JSON (yet): the server's parse error will say where
  }
}

function lineOf(text, offset) {
  return text.slice(0, offset).split("\n").length;
}

// `script[2].ratio` -> `script[2]` -> `script` -> "".
function parentOf(path) {
  const up = path.replace(/(\.[^.[\]]+|\[\d+\])$/, "");
  return up === path ? "" : up;
}

function selectSpan(span) {
  const ta = $("scenario-json");
  ta.focus();
  ta.setSelectionRange(span.start, span.container ? span.start + 1 : span.end);
  const lineHeight = parseFloat(getComputedStyle(ta).lineHeight) || 16;
  ta.scrollTop = Math.max(0, (lineOf(ta.value, span.start) - 3) * lineHeight);
}

// Shows the editor's fields, with the server's FieldErrors beside the one each names.
function renderFields(errors = []) {
  const ta = $("scenario-json");
  const text = ta.value;
  const spans = fieldSpans(text) || [];
  const byPath = new Map(spans.map((s) => [s.path, s]));
  const list = $("field-list");
  list.replaceChildren();
  const items = new Map();
  for (const s of spans) {
    const li = el("li", { dataset: { field: s.path } },
      el("button", { type: "button", class: "name", onclick: () => selectSpan(s) }, `${s.path}  · line ${lineOf(text, s.start)}`));
    items.set(s.path, li);
    list.append(li);
  }
  for (const err of errors) {
    const field = err.field || "(scenario)";
    let li = items.get(field);
    if (!li) {
      // A field the editor lacks (a required one) or one the scanner cannot place: find the
      // nearest enclosing field that exists, else list it on its own.
      let parent = parentOf(field);
      while (parent && !items.has(parent)) parent = parentOf(parent);
      // Selecting it finds the enclosing field it belongs in.
      const span = parent ? byPath.get(parent) : null;
      li = el("li", { class: "missing", dataset: { field } },
        el("button", { type: "button", class: "name", onclick: () => span && selectSpan(span) }, field));
      const anchor = parent ? items.get(parent) : null;
      if (anchor) anchor.after(li);
      else list.prepend(li);
      items.set(field, li);
    }
    li.classList.add("bad");
    li.setAttribute("aria-invalid", "true");
    li.append(el("span", { class: "msg" }, err.message || "invalid"));
  }
  ta.setAttribute("aria-invalid", errors.length ? "true" : "false");
  const first = list.querySelector("li.bad");
  if (first) first.scrollIntoView({ block: "nearest" });
  $("scenario-errors").textContent = errors.length
    ? `${errors.length} problem${errors.length > 1 ? "s" : ""}: ${errors.map((e) => `${e.field || "scenario"}: ${e.message}`).join("; ")}`
    : "";
}

// The field list follows the editor a moment after typing stops.
let typing = null;

async function createScenario(ev) {
  ev.preventDefault();
  clearTimeout(typing); // a pending refresh must not wipe the errors about to be shown
  const result = $("scenario-result");
  result.className = "";
  result.textContent = "Creating…";
  try {
    const made = await api("POST", "/scenarios", $("scenario-json").value);
    renderFields([]);
    result.className = "ok";
    result.textContent = `Created ${made.id} (${made.status}).`;
    await loadScenarios();
    $("run-scenario").value = made.id;
  } catch (e) {
    const errors = (e.problem && e.problem.errors) || [];
    renderFields(errors.length ? errors : [{ field: "", message: e.message }]);
    result.textContent = `Not created: ${e.problem.title || e.message}`;
  }
}

async function runScenario(ev) {
  ev.preventDefault();
  const id = $("run-scenario").value;
  const speedText = $("run-speed").value.trim();
  $("run-error").textContent = "";
  const body = speedText ? { speed: Number(speedText) } : {};
  try {
    const started = await api("POST", `/scenarios/${encodeURIComponent(id)}/run`, body);
    status(`${started.runId} ${started.state}.`);
    await loadRuns().catch(() => {});
    showRun(started.runId);
  } catch (e) {
    const errs = (e.problem && e.problem.errors) || [];
    $("run-error").textContent = errs.length ? errs.map((x) => `${x.field}: ${x.message}`).join("; ") : e.message;
  }
}

// ---------------------------------------------------------------------------------------
// Runs: list, live progress, scorecard.

async function loadRuns() {
  const list = listOf(await api("GET", "/runs"), "runs", "items");
  const body = $("run-table").tBodies[0];
  const ticked = new Set([...body.querySelectorAll("input:checked")].map((c) => c.value));
  body.replaceChildren();
  if (!list.length) body.append(el("tr", {}, el("td", { colspan: 8, class: "empty" }, "No runs yet.")));
  for (const r of list) {
    const box = el("input", { type: "checkbox", name: "compare", value: r.runId, "aria-label": `Compare ${r.runId}` });
    box.checked = ticked.has(r.runId);
    const frac = r.progress && typeof r.progress.fraction === "number" ? `${Math.round(r.progress.fraction * 100)} %` : "";
    const view = el("button", { type: "button", class: "link", "aria-label": `View ${r.runId}`, onclick: () => showRun(r.runId) }, "View");
    const actions = el("td", {}, view);
    if (r.archived) {
      actions.append(" ", el("button", { type: "button", class: "link", "aria-label": `Restore ${r.runId}`,
        onclick: () => restoreRun(r.runId) }, "Restore"));
    }
    body.append(el("tr", { dataset: { id: r.runId }, class: r.runId === currentRun ? "current" : "" },
      el("td", {}, box), el("td", {}, r.runId), el("td", {}, r.origin === "cli" ? "cli run" : (r.scenarioId ?? "")),
      el("td", { class: `state-${r.state}` }, r.state), el("td", { class: "num" }, frac),
      el("td", {}, r.createdAt ?? ""), el("td", {}, r.finishedAt ?? ""), actions));
  }
}

let currentRun = null;
let pollTimer = null;
let polls = 0;

function showRun(id) {
  currentRun = id;
  clearTimeout(pollTimer);
  history.replaceState(null, "", `#run=${encodeURIComponent(id)}`);
  $("run").hidden = false;
  $("run-title").textContent = `Run ${id}`;
  // Nothing of the run shown before may stand for this one until its first answer.
  $("run-state").textContent = "Loading…";
  $("run-state").className = "";
  delete $("run-state").dataset.state;
  $("run-summary").hidden = true;
  $("run-report").removeAttribute("src");
  for (const tr of $("run-table").tBodies[0].rows) tr.classList.toggle("current", tr.dataset.id === id);
  $("run").scrollIntoView({ block: "start" });
  poll(id);
}

async function poll(id) {
  if (id !== currentRun) return;
  let run;
  try {
    run = await api("GET", `/runs/${encodeURIComponent(id)}`);
  } catch (e) {
    $("run-state").textContent = `Could not read ${id}: ${e.message}`;
    pollTimer = setTimeout(() => poll(id), POLL_MS * 4);
    return;
  }
  if (id !== currentRun) return;
  renderProgress(run);
  if (ACTIVE.has(run.state)) {
    if (++polls % 4 === 0) loadRuns().catch(() => {}); // the list's progress column too
    pollTimer = setTimeout(() => poll(id), POLL_MS);
  } else {
    status(`${id} ${run.state}.`);
    loadRuns().catch(() => {});
    if (run.state === "DONE" || run.state === "CANCELLED") await renderScorecard(run);
  }
}

function renderProgress(run) {
  const p = run.progress || {};
  const state = $("run-state");
  state.className = `state-${run.state}`;
  state.textContent = `State: ${run.state}` +
    (run.origin === "cli" ? " · made by esr replay in the data folder" : run.scenarioId ? ` · scenario ${run.scenarioId}` : "") +
    (run.startedAt ? ` · started ${run.startedAt}` : "") + (run.finishedAt ? ` · finished ${run.finishedAt}` : "") +
    (run.speed ? ` · speed ${run.speed}` : "") + (run.archived ? " · archived: restore it to read its scorecard" : "") +
    (run.error ? ` · ${run.error}` : "");
  state.dataset.state = run.state;
  const fraction = typeof p.fraction === "number" ? p.fraction : run.state === "DONE" ? 1 : 0;
  $("run-progress").value = fraction;
  $("run-fraction").textContent = `${Math.round(fraction * 100)} %`;
  $("run-cancel").hidden = !ACTIVE.has(run.state);
  const dl = $("run-live");
  dl.replaceChildren();
  figure(dl, "live-sent", "Sent", `${num(p.sent)} / ${num(p.intended)}`);
  figure(dl, "live-completed", "Completed", num(p.completed));
  figure(dl, "live-errors", "Errors", num(p.errors));
  figure(dl, "live-rate", "Rate (req/s)", num(p.ratePerS, 1));
  figure(dl, "live-lateness", "Lateness p99", ms(p.latenessP99Ms));
}

async function renderScorecard(run) {
  const id = run.runId;
  let card = {};
  try {
    card = (await api("GET", `/runs/${encodeURIComponent(id)}/scorecard`)) || {};
  } catch (e) {
    if (!run.summary) {
      $("run-state").textContent += ` · no scorecard: ${e.message}`;
      return;
    }
  }
  if (id !== currentRun) return;
  const summary = run.summary || {};
  const dl = $("run-figures");
  dl.replaceChildren();
  for (const f of FIGURES) figure(dl, `fig-${f.id}`, f.label, f.fmt(f.get(card, summary)));
  const notes = card.notes ?? summary.notes ?? "";
  const verdict = card.verdict ?? summary.verdict;
  $("run-notes").textContent = notes;
  renderActions(card.scenario);
  renderPhases(card.phases);
  $("run-notes").className = `notes ${verdict === "PASS" ? "pass" : "fail"}`;
  const base = `${API}/runs/${encodeURIComponent(id)}`;
  $("run-report-link").href = `${base}/scorecard.html`;
  $("run-json-link").href = `${base}/scorecard`;
  $("run-metrics-link").href = `${base}/metrics.parquet`;
  $("run-summary").hidden = false;
  await showReport(`${base}/scorecard.html`);
}

// A scenario run's per-action intended and actual counts and success rates.
function renderActions(scenario) {
  const table = $("run-actions");
  const body = table.tBodies[0];
  body.replaceChildren();
  const actions = (scenario && scenario.actions) || [];
  table.hidden = !actions.length;
  for (const a of actions) {
    body.append(el("tr", { dataset: { action: a.action } }, el("th", { scope: "row" }, a.action),
      el("td", {}, a.endpoint ?? ""), el("td", { class: "num" }, num(a.intended)), el("td", { class: "num" }, num(a.actual)),
      el("td", { class: "num" }, num(a.succeeded)), el("td", { class: "num" }, pct(a.success_rate))));
  }
}

// Before / during / after each fault window, with the time to recover.
function renderPhases(phases) {
  const table = $("run-phases");
  const body = table.tBodies[0];
  body.replaceChildren();
  table.hidden = !(phases && phases.length);
  for (const f of phases || []) {
    for (const [name, p] of [["before", f.before], ["during", f.during], ["after", f.after]]) {
      const recover = name === "after" ? (f.time_to_recover_s == null ? "not in the run" : `${num(f.time_to_recover_s, 1)} s`) : "";
      body.append(el("tr", { dataset: { window: f.window, phase: name } }, el("th", { scope: "row" }, `${f.window} ${name}`),
        el("td", { class: "num" }, `${num(p.start_s, 1)}–${num(p.end_s, 1)} s`), el("td", { class: "num" }, num(p.requests)),
        el("td", { class: "num" }, pct(p.success_rate)), el("td", { class: "num" }, ms(p.latency_p99_ms)),
        el("td", { class: "num" }, recover)));
    }
  }
}

// The report is a page of its own (inline CSS and SVG charts, no script). Without a token
// the iframe loads it directly. With one the iframe cannot send the header, and a `blob:`
// frame would inherit this page's policy, which blocks the report's inline <style>; so the
// page fetches it and shows its body in a shadow root, the style adopted through the CSSOM
// (which the policy allows), with any script dropped.
async function showReport(url) {
  const frame = $("run-report");
  const inline = $("run-report-inline");
  if (!sessionStorage.getItem(TOKEN_KEY)) {
    inline.hidden = true;
    frame.hidden = false;
    frame.src = url;
    return;
  }
  const res = await request("GET", url.slice(API.length), undefined, "text/html");
  if (!res.ok) return;
  // <style> read as an inert <template>, so parsing applies nothing the policy would block.
  const html = (await res.text()).replace(/<(\/?)style\b/gi, "<$1template");
  const doc = new DOMParser().parseFromString(html, "text/html");
  const css = [...doc.querySelectorAll("head template")].map((t) => t.content.textContent).join("\n");
  const sheet = new CSSStyleSheet();
  sheet.replaceSync(css.replace(/(^|[},])\s*body\b/g, "$1:host"));
  for (const bad of doc.body.querySelectorAll("script, iframe, object, embed")) bad.remove();
  const root = inline.shadowRoot || inline.attachShadow({ mode: "open" });
  root.adoptedStyleSheets = [sheet];
  root.replaceChildren(...[...doc.body.childNodes].map((n) => document.importNode(n, true)));
  frame.hidden = true;
  inline.hidden = false;
}

async function restoreRun(id) {
  try {
    await api("POST", `/runs/${encodeURIComponent(id)}/restore`);
    status(`Restored ${id}.`);
  } catch (e) {
    status(`Could not restore ${id}: ${e.message}`);
  }
  await loadRuns().catch(() => {});
}

async function cancelRun() {
  if (!currentRun) return;
  try {
    await api("POST", `/runs/${encodeURIComponent(currentRun)}/cancel`);
    status(`Cancelling ${currentRun}…`);
  } catch (e) {
    status(`Could not cancel ${currentRun}: ${e.message}`);
  }
}

// ---------------------------------------------------------------------------------------
// Compare: the two scorecards' key numbers side by side, then `esr diff` of the two runs
// (GET /api/esr/runs/{a}/diff/{b}) for the statistics.

async function compareRuns(ev) {
  ev.preventDefault();
  const ids = [...$("run-table").querySelectorAll("input[name=compare]:checked")].map((c) => c.value)
    .sort((a, b) => Number(a.replace(/\D/g, "")) - Number(b.replace(/\D/g, ""))); // A is the older
  const err = $("compare-error");
  err.textContent = "";
  if (ids.length !== 2) {
    err.textContent = `Tick exactly two runs to compare (${ids.length} ticked).`;
    return;
  }
  let cards;
  try {
    cards = await Promise.all(ids.map((id) => api("GET", `/runs/${encodeURIComponent(id)}/scorecard`)));
  } catch (e) {
    err.textContent = `Cannot compare: ${e.message} (both runs need a scorecard).`;
    return;
  }
  $("compare-a").textContent = `A: ${ids[0]}`;
  $("compare-b").textContent = `B: ${ids[1]}`;
  const body = $("compare-table").tBodies[0];
  body.replaceChildren();
  for (const f of FIGURES) {
    const a = f.get(cards[0], {});
    const b = f.get(cards[1], {});
    let delta = "";
    let cls = "num";
    if (typeof a === "number" && typeof b === "number") {
      const d = b - a;
      delta = (d > 0 ? "+" : "") + num(d);
      if (f.better && d !== 0) cls += Math.sign(d) === f.better ? " better" : " worse";
    } else if (a !== b) {
      delta = "changed";
    }
    body.append(el("tr", { dataset: { figure: f.id } }, el("th", { scope: "row" }, f.label),
      el("td", { class: "num" }, f.fmt(a)), el("td", { class: "num" }, f.fmt(b)), el("td", { class: cls }, delta)));
  }
  $("compare").hidden = false;
  $("compare").scrollIntoView({ block: "start" });
  // The bootstrap over two large runs takes a moment: the key numbers show first.
  await showDiff(ids[0], ids[1]);
}

function ciCell(q) {
  if (!q) return el("td", { class: "num" }, "");
  const d = q.delta_ms;
  return el("td", { class: "num" }, `${d.delta > 0 ? "+" : ""}${num(d.delta)} [${num(d.lo)}, ${num(d.hi)}]`);
}

async function showDiff(a, b) {
  const body = $("diff-table").tBodies[0];
  body.replaceChildren();
  const verdict = $("diff-verdict");
  verdict.dataset.verdict = "";
  verdict.textContent = "Computing esr diff…";
  let r;
  try {
    r = await api("GET", `/runs/${encodeURIComponent(a)}/diff/${encodeURIComponent(b)}`);
  } catch (e) {
    verdict.dataset.verdict = "none";
    verdict.textContent = `No statistics: ${e.message}`;
    return;
  }
  verdict.dataset.verdict = r.verdict;
  verdict.textContent = `Verdict: ${String(r.verdict).replaceAll("_", " ").toUpperCase()}`;
  for (const e of [r.overall, ...r.endpoints]) {
    const at = (q) => (e.latency || []).find((l) => Math.abs(l.q - q) < 1e-9);
    body.append(el("tr", { dataset: { endpoint: e.endpoint } },
      el("th", { scope: "row" }, e === r.overall ? "all requests" : e.endpoint),
      el("td", { class: "num" }, `${e.requests_a} / ${e.requests_b}`),
      ciCell(at(0.5)), ciCell(at(0.95)), ciCell(at(0.99)),
      el("td", { class: "num" }, e.ks ? num(e.ks.p_value) : ""),
      el("td", { class: `verdict-${e.verdict}` }, String(e.verdict).replaceAll("_", " "))));
  }
}

// ---------------------------------------------------------------------------------------

async function start() {
  $("scenario-form").addEventListener("submit", createScenario);
  $("run-form").addEventListener("submit", runScenario);
  $("compare-form").addEventListener("submit", compareRuns);
  $("run-cancel").addEventListener("click", cancelRun);
  $("scenario-json").addEventListener("input", () => {
    clearTimeout(typing);
    typing = setTimeout(() => renderFields([]), 300);
  });
  renderFields([]);
  try {
    await Promise.all([loadScenarios(), loadRuns()]);
    status("");
  } catch (e) {
    status(`Cannot reach the API: ${e.message}`);
  }
  const m = /^#run=(.+)$/.exec(location.hash);
  if (m) showRun(decodeURIComponent(m[1]));
}

document.addEventListener("DOMContentLoaded", start);
