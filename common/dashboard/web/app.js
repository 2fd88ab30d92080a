// fineprune dashboard pages: fetch the JSON API every 2 s and redraw. Every value is
// put into the page as text (textContent), never as HTML.
"use strict";

const REFRESH_MS = 2000;
const LIVE_ROWS = 30;   // individuals shown live on the overview
const AGENT_ROWS = 50;  // agents listed on the overview

function fmtPct(v) { return v === null || v === undefined ? "-" : (100 * v).toFixed(1) + "%"; }
function fmtNum(v) { return v === null || v === undefined ? "-" : Number(v).toLocaleString("en-US"); }
function fmtDuration(s) {
  if (s === null || s === undefined) return "-";
  if (s <= 0) return "done";
  s = Math.round(s);
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
  return h ? `${h}h ${m}m` : m ? `${m}m ${sec}s` : `${sec}s`;
}
function fmtAgo(t, now) {
  if (!t) return "-";
  const d = Math.max(0, now - t);
  return d < 60 ? `${Math.round(d)} s ago` : d < 3600 ? `${Math.round(d / 60)} min ago`
                                                      : new Date(t * 1000).toLocaleString();
}
function fmtTime(t) { return new Date(t * 1000).toLocaleTimeString(); }

async function getJSON(url) {
  const r = await fetch(url, { cache: "no-store" });
  const body = await r.json();
  if (!r.ok) throw new Error(body.error || `${url}: HTTP ${r.status}`);
  return body;
}

function cell(row, content, cls) {
  const td = document.createElement("td");
  if (content instanceof Node) td.appendChild(content); else td.textContent = content;
  if (cls) td.className = cls;
  row.appendChild(td);
  return td;
}
function badge(text, cls) {
  const span = document.createElement("span");
  span.className = "badge " + cls;
  span.textContent = text;
  return span;
}
function link(text, href) {
  const a = document.createElement("a");
  a.href = href;
  a.textContent = text;
  return a;
}
function progressBar(fraction) {
  const outer = document.createElement("div");
  outer.className = "progress";
  const inner = document.createElement("div");
  inner.className = "progress-fill" + (fraction >= 1 ? " complete" : "");
  inner.style.width = (100 * fraction).toFixed(1) + "%";
  outer.appendChild(inner);
  return outer;
}
function fillTable(id, rows, render) {
  const body = document.querySelector(`#${id} tbody`);
  body.replaceChildren(...rows.map((r) => { const tr = document.createElement("tr"); render(tr, r); return tr; }));
}
function setText(id, text) { document.getElementById(id).textContent = text; }
function showError(message) {
  const e = document.getElementById("error");
  e.hidden = !message;
  e.textContent = message || "";
}

// The accuracy columns shared by the overview's live table and the results page.
function resultCells(tr, r) {
  cell(tr, r.individual);
  cell(tr, badge(r.task_status || "-", "status-" + r.task_status));
  cell(tr, r.agent_id || "-");
  if (r.evaluated === false) {
    // A device without labels has no accuracy to show: say so, with its label-free figure.
    cell(tr, "unlabeled", "num acc unlabeled");
    cell(tr, r.agreement === null || r.agreement === undefined ? "n/a" : "agrees " + fmtPct(r.agreement),
         "num acc unlabeled");
    cell(tr, "n/a", "num acc unlabeled");
    cell(tr, "n/a", "num acc unlabeled");
    cell(tr, fmtPct(r.sparsity), "num");
    return;
  }
  const values = ["general", "fine_prune", "finetune", "svd"].map((k) => r[k]);
  const best = Math.max(...values.filter((v) => v !== null && v !== undefined));
  values.forEach((v) => cell(tr, fmtPct(v), "num acc" + (v === best ? " best" : "")));
  cell(tr, fmtPct(r.sparsity), "num");
}

// --- overview page ---------------------------------------------------------------

function renderSummary(s) {
  setText("agents-connected", s.agents.connected);
  setText("agents-working", s.agents.working);
  setText("agents-done", s.agents.done);
  setText("agents-failed", s.agents.failed);
  setText("tasks-done", `${s.tasks.done} / ${s.tasks.total}`);
  setText("telemetry-rows", fmtNum(s.telemetry_rows));
  fillTable("events-table", s.events.slice().reverse(), (tr, e) => {
    cell(tr, fmtTime(e.at));
    cell(tr, e.kind);
    cell(tr, e.agent_id || "-");
    cell(tr, e.task_id || "-", "num");
    cell(tr, e.detail);
  });
}

// `shown`: the first page of /api/agents?sort=state (busy and broken agents first, so a
// large fleet's table starts with what matters); `page.total` counts them all.
function renderAgents(shown, page, now) {
  document.getElementById("agents-empty").hidden = page.total > 0;
  setText("agents-count", shown.length < page.total
    ? `(first ${shown.length} of ${fmtNum(page.total)}: working and failed first)` : "");
  fillTable("agents-table", shown, (tr, a) => {
    cell(tr, a.agent_id);
    cell(tr, badge(a.state, "state-" + a.state));
    cell(tr, a.task ? `#${a.task.task_id} ${a.task.individual}` : "-");
    cell(tr, a.tasks_done, "num");
    cell(tr, a.tasks_failed, "num");
    cell(tr, a.threads, "num");
    cell(tr, a.memory_mb ? `${fmtNum(a.memory_mb)} MB` : "-", "num");
    cell(tr, Array.isArray(a.datasets) ? a.datasets.join(", ") : String(a.datasets));
    cell(tr, fmtAgo(a.last_seen, now));
  });
}

function renderCampaigns(campaigns) {
  document.getElementById("campaigns-empty").hidden = campaigns.length > 0;
  fillTable("campaigns-table", campaigns, (tr, c) => {
    cell(tr, link(c.name, `/campaigns/${c.id}`));
    cell(tr, badge(c.status, "status-" + c.status));
    cell(tr, c.dataset);
    const p = document.createElement("div");
    p.className = "progress-row";
    p.appendChild(progressBar(c.progress));
    p.appendChild(document.createTextNode(`${Math.round(100 * c.progress)}%`));
    cell(tr, p);
    cell(tr, c.tasks.done, "num");
    cell(tr, c.tasks.failed, "num");
    cell(tr, c.tasks.assigned, "num");
    cell(tr, c.tasks.pending, "num");
    cell(tr, fmtDuration(c.eta_seconds));
  });
}

// The campaign whose results arrive now: the newest running one, else the newest.
function liveCampaign(campaigns) {
  const running = campaigns.filter((c) => c.status === "running");
  const pool = running.length ? running : campaigns;
  return pool.length ? pool[pool.length - 1] : null;
}

async function refreshOverview() {
  const [summary, agents, campaigns] = await Promise.all(
    [getJSON("/api/summary"), getJSON(`/api/agents?sort=state&limit=${AGENT_ROWS}`),
     getJSON("/api/campaigns")]);
  renderSummary(summary);
  renderAgents(agents.agents, agents.page, summary.now);
  renderCampaigns(campaigns.campaigns);
  const live = liveCampaign(campaigns.campaigns);
  document.getElementById("live").hidden = !live;
  if (live) {
    // The latest individuals with news, newest last; the campaign page has them all.
    const detail = await getJSON(
      `/api/campaigns/${live.id}?status=started&sort=-task&limit=${LIVE_ROWS}`);
    const name = document.getElementById("live-name");
    name.textContent = detail.name;
    name.href = `/campaigns/${detail.id}`;
    const shown = detail.individuals.slice().reverse();
    setText("live-count", detail.page.matched > shown.length
      ? `(latest ${shown.length} of ${fmtNum(detail.page.matched)} started; all on the campaign page)` : "");
    fillTable("live-table", shown, resultCells);
    FPCharts.accuracyFigure(document.getElementById("live-chart"),
                            Object.assign({}, detail, { individuals: shown }));
  }
}

// --- campaign page ---------------------------------------------------------------

// The id as the address holds it, not decoded: the API names what is no id ("%E0" threw in
// decodeURIComponent and the page stayed at "loading"; "..%2Fapi%2Fsummary%3F" decoded
// into another API path).
function campaignId() {
  const m = location.pathname.match(/^\/campaigns\/([^/]+)$/);
  return m ? m[1] : "";
}

const PAGE_SIZE = 50;  // per-individual table rows per page
// The table's search and page; kept in the URL (?q=...&page=N) so a view can be shared.
const tableState = { query: "", page: 1, sort: "" };
// Table orders besides task order (the server's): by Fine-Pruning's gain, rows without
// one last.
const SORTS = new Set(["gain", "-gain"]);
let lastCampaignText = "";  // the charts are redrawn only when the data changed

function fmtGain(v) {
  return v === null || v === undefined ? "-" : (v > 0 ? "+" : "") + (100 * v).toFixed(1) + " pp";
}

// A JSON value as key/value rows: nested objects become dotted keys, lists are joined.
function flatten(value, prefix, out) {
  if (value !== null && typeof value === "object" && !Array.isArray(value)) {
    const keys = Object.keys(value);
    if (!keys.length && prefix) out.push([prefix, "{}"]);
    for (const k of keys) flatten(value[k], prefix ? `${prefix}.${k}` : k, out);
  } else {
    out.push([prefix || "value", Array.isArray(value) ? value.map(String).join(", ") || "none"
                                                      : String(value)]);
  }
  return out;
}

function renderConfig(c) {
  const groups = [
    ["Prune settings", flatten(c.prune_config, "", [])],
    ["Baselines", [["methods", (c.baselines || []).join(", ") || "none"]]],
    ["Accuracy-vs-sparsity sweep",
     [["targets", (c.sweep_targets || []).map((t) => Math.round(100 * t) + "%").join(", ") || "none"]]],
  ];
  const body = document.querySelector("#config-table tbody");
  body.replaceChildren();
  for (const [title, rows] of groups) {
    const head = document.createElement("tr");
    head.className = "group";
    const th = document.createElement("th");
    th.colSpan = 2;
    th.textContent = title;
    head.appendChild(th);
    body.appendChild(head);
    for (const [k, v] of rows) {
      const tr = document.createElement("tr");
      cell(tr, k, "key");
      cell(tr, v, "value");
      body.appendChild(tr);
    }
  }
}

const SUMMARY_ROWS = [
  { key: "general", name: "General" }, { key: "fine_prune", name: "Fine-Pruning" },
  { key: "finetune", name: "Backprop fine-tuning" }, { key: "svd", name: "SVD" },
];

function renderMeans(c) {
  const s = c.methods_summary || {};
  // While results arrive the server redoes the intervals every few seconds: say so.
  const interval = s.interval || {};
  setText("means-age", interval.current === false
    ? `(as of ${fmtTime(interval.computed_at)}; results are still arriving)` : "");
  for (const { key } of SUMMARY_ROWS.concat([{ key: "gain" }])) {
    const m = s[key] || {};
    const f = key === "gain" ? fmtGain : fmtPct;
    setText("mean-" + key, f(m.mean));
    setText("n-" + key, fmtNum(m.n));
    setText("ci-" + key, m.mean === null || m.mean === undefined ? "-"
                                                                : `${f(m.ci_low)} to ${f(m.ci_high)}`);
  }
  const colors = Object.fromEntries(FPCharts.METHODS.map((m) => [m.key, m.color]));
  FPCharts.intervals(document.getElementById("ci-chart"), SUMMARY_ROWS.map((r) =>
    Object.assign({ color: colors[r.key] }, r, s[r.key] || {})));
}

// `d`: /api/campaigns/<id>/distribution, columns over every individual with a gain.
let lastDistributionText = "";
function renderDistributions(d) {
  const text = JSON.stringify(d);
  if (text === lastDistributionText) return;  // keep the drawn charts (and hovers)
  lastDistributionText = text;
  FPCharts.gainCurve(document.getElementById("gain-chart"), d.gain);
  FPCharts.histogram(document.getElementById("histogram-chart"), d.gain);
  FPCharts.scatter(document.getElementById("scatter-chart"),
                   d.individual.map((name, k) => ({ name, x: d.general[k], y: d.fine_prune[k] })));
}

// The table's rows come from the server a page at a time: ?offset, limit, q, sort.
function tableQuery() {
  const params = new URLSearchParams({ offset: (tableState.page - 1) * PAGE_SIZE, limit: PAGE_SIZE });
  if (tableState.query.trim()) params.set("q", tableState.query.trim());
  if (tableState.sort) params.set("sort", tableState.sort);
  return params.toString();
}

function renderTable(c) {
  const shown = c.individuals;
  const matched = c.page.matched;
  const pages = Math.max(1, Math.ceil(matched / PAGE_SIZE));
  if (tableState.page > pages) {  // the search narrowed the rows: show its last page
    tableState.page = pages;
    refreshNow();
    return;
  }
  const first = (tableState.page - 1) * PAGE_SIZE;
  fillTable("results-table", shown, (tr, r) => {
    resultCells(tr, r);
    cell(tr, fmtGain(r.gain), "num gain" + (r.gain < 0 ? " loss" : ""));
    const fp = r.methods.fine_prune;
    cell(tr, fp ? fmtNum(fp.macs) : "-", "num");
    cell(tr, fp ? fmtPct(fp.mac_reduction) : "-", "num");
    cell(tr, fp && fp.compact_bytes ? (fp.compact_bytes / 1024).toFixed(1) : "-", "num");
    cell(tr, fp && fp.wall_seconds != null ? fp.wall_seconds.toFixed(2) : "-", "num");
  });
  setText("results-page", `page ${tableState.page} of ${pages}`);
  const range = matched ? `rows ${first + 1}-${first + shown.length} of ` : "";
  setText("results-count", tableState.query.trim()
    ? `${range}${matched} matching "${tableState.query.trim()}" (${c.page.total} individuals)`
    : `${range}${matched} individuals`);
  document.getElementById("results-prev").disabled = tableState.page <= 1;
  document.getElementById("results-next").disabled = tableState.page >= pages;
  document.getElementById("results-empty").hidden = matched > 0;
  // The bar chart follows the table: the individuals on this page.
  setText("bar-note", matched > shown.length || tableState.query.trim()
    ? `(the table's page: ${shown.length} of ${matched}${tableState.query.trim() ? " matching" : ""})` : "");
  FPCharts.accuracyFigure(document.getElementById("bar-chart"), c);
  const params = new URLSearchParams();
  if (tableState.query) params.set("q", tableState.query);
  if (tableState.sort) params.set("sort", tableState.sort);
  if (tableState.page > 1) params.set("page", tableState.page);
  const search = params.toString();
  history.replaceState(null, "", location.pathname + (search ? "?" + search : ""));
}

function renderCampaign(c) {
  document.title = `fineprune - ${c.name}`;
  setText("campaign-name", c.name);
  const status = document.getElementById("campaign-status");
  status.textContent = c.status;
  status.className = "badge status-" + c.status;
  const fill = document.getElementById("campaign-progress");
  fill.style.width = (100 * c.progress).toFixed(1) + "%";
  fill.className = "progress-fill" + (c.progress >= 1 ? " complete" : "");
  setText("campaign-progress-text",
          `${c.tasks.done} done, ${c.tasks.failed} failed, ${c.tasks.assigned} running, ` +
          `${c.tasks.pending} pending of ${c.tasks.total}; ETA ${fmtDuration(c.eta_seconds)}`);
  const text = JSON.stringify(c);
  if (text === lastCampaignText) return;  // nothing new: keep the drawn charts (and hovers)
  // Taken as drawn only once drawing it succeeded: a value the page cannot draw fails every
  // poll, its error shown, instead of once (the next poll took the same data as drawn).
  lastCampaignText = "";
  const meta = document.getElementById("campaign-meta");
  const items = [["id", c.id], ["data set", c.dataset], ["model", c.model_sha256],
                 ["created", new Date(c.created_at * 1000).toLocaleString()]];
  meta.replaceChildren();
  for (const [k, v] of items) {
    const dt = document.createElement("dt"); dt.textContent = k;
    const dd = document.createElement("dd"); dd.textContent = v;
    meta.append(dt, dd);
  }
  renderConfig(c);
  renderMeans(c);
  renderTable(c);
  lastCampaignText = text;
}

function setupTable() {
  const params = new URLSearchParams(location.search);
  tableState.query = params.get("q") || "";
  tableState.page = parseInt(params.get("page") || "1", 10) || 1;
  tableState.sort = SORTS.has(params.get("sort")) ? params.get("sort") : "";
  const sort = document.getElementById("results-sort");
  sort.value = tableState.sort;
  sort.addEventListener("change", () => {
    tableState.sort = sort.value;
    tableState.page = 1;
    refreshNow();
  });
  const search = document.getElementById("results-search");
  search.value = tableState.query;
  search.addEventListener("input", () => {
    tableState.query = search.value;
    tableState.page = 1;
    refreshNow();
  });
  document.getElementById("results-prev").addEventListener("click", () => {
    tableState.page -= 1;
    refreshNow();
  });
  document.getElementById("results-next").addEventListener("click", () => {
    tableState.page += 1;
    refreshNow();
  });
}

let lastCurveText = "";
function renderCurve(curve) {
  const text = JSON.stringify(curve);
  if (text === lastCurveText) return;
  lastCurveText = text;
  const empty = curve.individuals.length === 0;
  setText("curve-note", curve.page.matched > curve.individuals.length
    ? `(curves of the first ${fmtNum(curve.individuals.length)} of ${fmtNum(curve.page.matched)} individuals; the mean is over all)` : "");
  document.getElementById("curve-empty").hidden = !empty;
  const chart = document.getElementById("curve-chart");
  if (empty) chart.replaceChildren(); else FPCharts.curveFigure(chart, curve);
}

const CURVE_ROWS = 1000;  // individual curves drawn at most; the mean is over all of them
let campaignRequest = 0;  // answers to an older request (an earlier search) are dropped

// The reader changed the table (search, sort, page): its rows now, not at the next tick;
// the charts do not depend on the table and wait for the tick.
function refreshNow() {
  const mine = ++campaignRequest;
  getJSON(`/api/campaigns/${campaignId()}?${tableQuery()}`)
    .then((detail) => { if (mine === campaignRequest) renderCampaign(detail); })
    .catch((e) => showError(e.message));
}

async function refreshCampaign() {
  const id = campaignId();
  const mine = ++campaignRequest;
  const [detail, curve, distribution] = await Promise.all(
    [getJSON(`/api/campaigns/${id}?${tableQuery()}`),
     getJSON(`/api/campaigns/${id}/curve?limit=${CURVE_ROWS}`),
     getJSON(`/api/campaigns/${id}/distribution`)]);
  if (mine !== campaignRequest) return;
  renderCampaign(detail);
  renderDistributions(distribution);
  renderCurve(curve);
}

// --- polling -------------------------------------------------------------------

function start() {
  const page = document.body.dataset.page;
  if (page === "campaign") {
    const id = campaignId();
    document.getElementById("json-link").href = `/api/campaigns/${id}`;
    document.getElementById("curve-link").href = `/api/campaigns/${id}/curve`;
    setupTable();
  }
  const refresh = page === "campaign" ? refreshCampaign : refreshOverview;
  // The next poll is scheduled after this one ends, so slow answers never pile up.
  const tick = async () => {
    try {
      await refresh();
      showError("");
      setText("updated", "updated " + new Date().toLocaleTimeString());
    } catch (e) {
      showError(e.message);
    }
    setTimeout(tick, REFRESH_MS);
  };
  tick();
}

document.addEventListener("DOMContentLoaded", start);
