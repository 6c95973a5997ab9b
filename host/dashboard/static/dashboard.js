// router dashboard: plain script, no build step, nothing loaded from elsewhere.
// Every value from the store is put on the page with textContent (never as HTML): model names and
// program paths come from clients and may contain anything. Charts are SVG drawn here (docs/dashboard.md).
"use strict";

const TAIL_POLL_MS = 500;      // a new call shows within TAIL_POLL_MS plus the store's own batching (~0.2 s)
const SUMMARY_POLL_MS = 5000;  // and the totals follow whenever the tail saw new calls
const TAIL_ROWS = 100;
const KEY_STORAGE = "router-dashboard-key";
const PALETTE = ["#2f5fb3", "#e07b24", "#2e9e6b", "#b8448f", "#7d5bc4", "#c9a227", "#8a949e"];
const SVG = "http://www.w3.org/2000/svg";

const state = {
  window: "1h", metric: "calls", by: "model",
  key: sessionStorage.getItem(KEY_STORAGE) || "",
  lastId: null, summary: null, summaryDue: null, tailTimer: null,
};

// Formatting (the same rules as `router stats`) -----------------------------------------------
const integer = (n) => (n ?? 0).toLocaleString("en-US");
function costText(group) {
  if (group.calls && group.cost_unknown_calls === group.calls) return "unknown";
  const usd = group.cost_usd;
  const known = usd < 100 ? "$" + usd.toFixed(4)
    : "$" + usd.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  return group.cost_unknown_calls ? known + " + unknown" : known;
}
function ms(value) {
  if (value === null || value === undefined) return "-";
  return value < 10 ? value.toFixed(1) + " ms" : Math.round(value).toLocaleString("en-US") + " ms";
}
const clock = (seconds) => new Date(seconds * 1000).toLocaleTimeString("en-GB", { hour12: false });
function bucketLabel(seconds, window) {
  const date = new Date(seconds * 1000);
  if (window === "1h") return clock(seconds).slice(0, 5);
  const day = date.toLocaleDateString("en-GB", { month: "short", day: "numeric" });
  return window === "1d" ? clock(seconds).slice(0, 5) : day;
}
const basename = (path) => (path || "").split("/").pop();

// DOM helpers --------------------------------------------------------------------------------
function el(tag, attributes, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) node.setAttribute(name, value);
  for (const child of children) node.append(child instanceof Node ? child : String(child));
  return node;
}
function svg(tag, attributes) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes || {})) node.setAttribute(name, String(value));
  return node;
}
const row = (cells, attributes) => el("tr", attributes, ...cells.map((cell) =>
  cell instanceof Node && (cell.tagName === "TD" || cell.tagName === "TH") ? cell : el("td", {}, cell)));
const nameCell = (text) => el("td", { class: "name", title: text }, text);
function fill(tbody, rows, empty, columns) {
  tbody.replaceChildren(...(rows.length ? rows : [row([el("td", { colspan: columns, class: "empty" }, empty)])]));
}

// Server -------------------------------------------------------------------------------------
function headers() {
  return state.key ? { authorization: "Bearer " + state.key } : {};
}
async function api(name, params) {
  const query = new URLSearchParams(params || {}).toString();
  const response = await fetch("/dashboard/api/" + name + (query ? "?" + query : ""),
    { headers: headers(), cache: "no-store" });
  if (!response.ok) throw new Error(name + ": HTTP " + response.status);
  return response.json();
}
function setLive(ok, text) {
  const live = document.getElementById("live");
  live.className = "live " + (ok ? "ok" : "down");
  live.textContent = text;
}

// Totals, groups, chart, latency, processes ---------------------------------------------------
async function refreshSummary() {
  clearTimeout(state.summaryDue);
  state.summaryDue = null;
  try {
    state.summary = await api("summary", { window: state.window });
    renderSummary();
  } catch (error) {
    setLive(false, "cannot read the store (" + error.message + ")");
  }
  state.summaryDue = setTimeout(refreshSummary, SUMMARY_POLL_MS);
}
function summarySoon() {
  clearTimeout(state.summaryDue);
  state.summaryDue = setTimeout(refreshSummary, 200);
}

function renderSummary() {
  const data = state.summary;
  const total = data.total;
  const shown = { calls: integer(total.calls), errors: integer(total.errors), input_tokens: integer(total.input_tokens),
    output_tokens: integer(total.output_tokens), cost: costText(total) };
  for (const [name, text] of Object.entries(shown)) document.querySelector(`[data-total="${name}"]`).textContent = text;
  const notes = [];
  if (data.dropped.count) notes.push(`${data.dropped.count} events were dropped; the counts are short`);
  if (data.problem) notes.push(`the store could not be read: ${data.problem}`);
  const noteNode = document.getElementById("notes");
  noteNode.hidden = !notes.length;
  noteNode.textContent = notes.join(" · ");
  renderChart();
  renderGroups();
  renderLatency(data.latency);
  renderProcesses(data.processes);
}

function renderGroups() {
  document.getElementById("by-name").textContent = state.by;
  document.getElementById("group-head").textContent = state.by;
  const rows = state.summary.groups[state.by].map((group) => row([nameCell(group.key), integer(group.calls),
    integer(group.errors), integer(group.input_tokens), integer(group.output_tokens), costText(group),
    ms(group.latency_p50_ms), ms(group.latency_p95_ms)], { "data-group": group.key }));
  fill(document.querySelector("#groups tbody"), rows, "no calls in this window", 8);
}

function renderChart() {
  const series = state.summary.series;
  const lines = series[state.by];
  const width = 800, height = 220, left = 44, bottom = 22, top = 8;
  const slot = (width - left) / series.count;
  const stacks = Array.from({ length: series.count }, (_, i) => lines.reduce((sum, line) => sum + line[state.metric][i], 0));
  const peak = Math.max(...stacks, 0);
  const scale = peak ? (height - top - bottom) / peak : 0;
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img",
    "aria-label": `${state.metric} per ${state.by}` });
  chart.append(svg("line", { x1: left, x2: width, y1: height - bottom, y2: height - bottom, class: "axis" }));
  const peakLabel = svg("text", { x: left - 6, y: top + 10, "text-anchor": "end" });
  peakLabel.textContent = state.metric === "cost" ? "$" + peak.toFixed(4) : integer(peak);
  chart.append(peakLabel);
  lines.forEach((line, index) => {
    for (let i = 0; i < series.count; i++) {
      const value = line[state.metric][i];
      if (!value) continue;
      const below = lines.slice(0, index).reduce((sum, other) => sum + other[state.metric][i], 0);
      const bar = svg("rect", { x: left + i * slot + 0.5, width: Math.max(1, slot - 1), y: height - bottom - (below + value) * scale,
        height: Math.max(1, value * scale), fill: PALETTE[index % PALETTE.length] });
      const tip = svg("title");
      const when = series.start + i * series.bucket_seconds;
      tip.textContent = `${line.key}: ${state.metric === "cost" ? "$" + value.toFixed(6) : integer(value)} at ${bucketLabel(when, state.window)}`;
      bar.append(tip);
      chart.append(bar);
    }
  });
  for (const i of [0, Math.floor(series.count / 2), series.count - 1]) {
    const label = svg("text", { x: left + i * slot + slot / 2, y: height - 6, "text-anchor": "middle" });
    label.textContent = bucketLabel(series.start + i * series.bucket_seconds, state.window);
    chart.append(label);
  }
  document.getElementById("chart").replaceChildren(chart);
  const legend = lines.map((line, index) => {
    const swatch = el("span", { class: "swatch" });
    swatch.style.background = PALETTE[index % PALETTE.length];  // CSSOM: allowed by the page's CSP, unlike style=""
    return el("li", {}, swatch, line.key);
  });
  document.getElementById("legend").replaceChildren(...legend);
}

function renderLatency(latency) {
  const rows = latency.map((entry) => row([nameCell(entry.backend), integer(entry.calls), ms(entry.p50_ms),
    ms(entry.p95_ms), ms(entry.p99_ms), ms(entry.ttft_p50_ms), ms(entry.ttft_p95_ms)], { "data-backend": entry.backend }));
  fill(document.querySelector("#latency tbody"), rows, "no calls in this window", 7);
}

function processItem(node) {
  const label = el("span", node.errors ? { class: "failed" } : {},
    el("span", { class: "pid" }, node.pid), basename(node.program) || "(unknown)",
    ` · ${integer(node.calls)} call${node.calls === 1 ? "" : "s"}` + (node.errors ? `, ${integer(node.errors)} failed` : ""));
  const item = el("li", { "data-pid": node.pid, title: node.program }, label);
  if (node.children.length) item.append(el("ul", {}, ...node.children.map(processItem)));
  return item;
}
function renderProcesses(roots) {
  const list = document.getElementById("processes");
  list.replaceChildren(...(roots.length ? roots.map(processItem)
    : [el("li", { class: "empty" }, "no shimmed process made calls in this window")]));
}

// Live tail ----------------------------------------------------------------------------------
function tailRow(call) {
  const model = call.upstream_model || call.requested_model || "?";
  const renamed = call.requested_model && call.requested_model !== model ? call.requested_model + " → " : "";
  const route = call.backend ? `${renamed}${call.backend}/${model}` : `(no route) ${model}`;
  const who = call.program ? `${basename(call.program)} (${call.pid})` : `${call.source} client`;
  const status = (call.status || "no response") + (call.error ? " " + call.error : "");
  const cost = call.cost_usd === null ? "unknown" : "$" + call.cost_usd.toFixed(6);
  const tokens = `${integer(call.input_tokens)} / ${integer(call.output_tokens)}`;
  return row([clock(call.time), nameCell(who), nameCell(route + (call.stream ? " (stream)" : "")), nameCell(status),
    ms(call.latency_ms), ms(call.ttfb_ms), tokens, cost],
    { "data-call-id": call.id, class: (call.failed ? "failed " : "") + (state.lastId === null ? "" : "new") });
}
async function pollTail() {
  try {
    const data = await api("calls", state.lastId === null ? {} : { after: state.lastId });
    const body = document.querySelector("#tail tbody");
    if (body.firstChild && body.firstChild.querySelector(".empty")) body.replaceChildren();
    for (const call of data.calls) body.prepend(tailRow(call));
    while (body.children.length > TAIL_ROWS) body.lastChild.remove();
    if (!body.children.length) fill(body, [], "no calls recorded yet", 8);
    if (data.calls.length && state.lastId !== null) summarySoon();
    state.lastId = data.last;
    setLive(true, "live · " + clock(Date.now() / 1000));
  } catch (error) {
    setLive(false, "disconnected (" + error.message + "); retrying");
  }
  state.tailTimer = setTimeout(pollTail, TAIL_POLL_MS);
}

// Routing ------------------------------------------------------------------------------------
function table(head, rows) {
  return el("table", {}, el("thead", {}, row(head.map((title) => el("th", {}, title)))),
    el("tbody", {}, ...rows.map((cells) => row(cells))));
}
async function refreshRouting() {
  const target = document.getElementById("routing");
  try {
    const data = await api("routing");
    if (data.problem) {
      target.replaceChildren(el("p", { class: "error" }, data.problem));
      return;
    }
    const parts = [table(["backend", "protocol", "base URL", "models", "key"], data.backends.map((b) =>
      [b.name, b.protocol, b.base_url, b.models.join(", ") || "-", b.key]))];
    const rules = [
      ...Object.entries(data.aliases).map(([name, target]) => ["alias", name, target]),
      ...data.routes.map((route) => ["route", route.match, route.backend]),
      ...data.families.map((family) => ["built-in", family.patterns.join(", "), family.backend || "(no such backend)"]),
      ...(data.default_backend ? [["default", "*", data.default_backend]] : []),
    ];
    parts.push(table(["rule", "model", "goes to"], rules));
    target.replaceChildren(...parts);
  } catch (error) {
    target.replaceChildren(el("p", { class: "error" }, "cannot read the routing table (" + error.message + ")"));
  }
}

// Start --------------------------------------------------------------------------------------
function wireControls() {
  for (const button of document.querySelectorAll("#windows button")) {
    button.addEventListener("click", () => {
      state.window = button.dataset.window;
      for (const other of document.querySelectorAll("#windows button")) other.classList.toggle("selected", other === button);
      refreshSummary();
    });
  }
  document.getElementById("metric").addEventListener("change", (event) => { state.metric = event.target.value; renderChart(); });
  document.getElementById("by").addEventListener("change", (event) => {
    state.by = event.target.value;
    renderChart();
    renderGroups();
  });
}

async function access() {
  const response = await fetch("/dashboard/api/access", { headers: headers(), cache: "no-store" });
  return response.json();
}

function askForKey(wrong) {
  const form = document.getElementById("key-form");
  form.hidden = false;
  document.getElementById("key-error").hidden = !wrong;
  setLive(false, "locked");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    state.key = document.getElementById("key-input").value.trim();
    const answer = await access();
    if (!answer.key_ok) {
      document.getElementById("key-error").hidden = false;
      return;
    }
    sessionStorage.setItem(KEY_STORAGE, state.key);
    form.hidden = true;
    begin();
  }, { once: false });
}

function begin() {
  document.getElementById("main").hidden = false;
  refreshSummary();
  refreshRouting();
  pollTail();
}

async function start() {
  wireControls();
  try {
    const answer = await access();
    if (answer.key_required && !answer.key_ok) askForKey(Boolean(state.key));
    else begin();
  } catch (error) {
    setLive(false, "cannot reach the router (" + error.message + ")");
  }
}

start();
