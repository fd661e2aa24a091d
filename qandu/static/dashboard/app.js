// The analytics dashboard: the figures of GET /api/analytics for a date range, drawn with
// Chart.js (vendored UMD build, window.Chart).  Staff only; it shares the console's login.
import { html, render, useState, useEffect, useRef } from "../shared/ui.js";
import { Api, features } from "../shared/api.js";

const TOKEN_KEY = "qandu:console";
const PALETTE = ["#4f46e5", "#0e7490", "#b45309", "#be123c", "#047857", "#7c3aed", "#475569", "#c2410c"];
const DAY = 86400000;

function isoDay(date) { return date.toISOString().slice(0, 10); }

function title(key) {
  return key.replace(/([a-z])([A-Z])/g, "$1 $2").replace(/^./, (c) => c.toUpperCase());
}

/** A time series: an array of objects with a date and at least one number. */
function asSeries(value) {
  if (!Array.isArray(value) || value.length === 0 || typeof value[0] !== "object") return null;
  const dateKey = ["date", "day", "bucket", "period", "start", "at"].find((k) => k in value[0]);
  if (!dateKey) return null;
  const keys = Object.keys(value[0]).filter((k) => k !== dateKey && typeof value[0][k] === "number");
  return keys.length ? { labels: value.map((row) => String(row[dateKey]).slice(0, 10)), keys, rows: value } : null;
}

/** A ranking: {label: number} or [{name|intent|tag|label, count|value}]. */
function asRanking(value) {
  if (value && !Array.isArray(value) && typeof value === "object" && Object.values(value).every((v) => typeof v === "number")) {
    return Object.entries(value);
  }
  if (Array.isArray(value) && value.length && typeof value[0] === "object") {
    const name = ["name", "intent", "tag", "label", "key"].find((k) => k in value[0]);
    const count = ["count", "value", "total", "conversations"].find((k) => typeof value[0][k] === "number");
    if (name && count) return value.map((row) => [row[name], row[count]]);
  }
  return null;
}

function ChartCard({ name, spec }) {
  const canvas = useRef();
  useEffect(() => {
    const chart = new window.Chart(canvas.current, spec);
    return () => chart.destroy();
  }, [JSON.stringify(spec.data)]);
  return html`<section class="chart" aria-label=${name} data-chart=${name}>
    <h2>${title(name)}</h2>
    <div class="canvas"><canvas ref=${canvas} role="img" aria-label=${`${title(name)} chart`}></canvas></div>
  </section>`;
}

function specs(data) {
  const charts = [];
  const kpis = [];
  const walk = (value, name) => {
    const series = asSeries(value);
    if (series) {
      charts.push([name, {
        type: series.keys.length > 2 ? "bar" : "line",
        data: {
          labels: series.labels,
          datasets: series.keys.map((key, i) => ({
            label: title(key), data: series.rows.map((row) => row[key]), borderColor: PALETTE[i % PALETTE.length],
            backgroundColor: `${PALETTE[i % PALETTE.length]}33`, fill: series.keys.length === 1, tension: 0.3,
          })),
        },
        options: { maintainAspectRatio: false, animation: false, scales: { y: { beginAtZero: true } }, plugins: { legend: { display: series.keys.length > 1 } } },
      }]);
      return;
    }
    const ranking = asRanking(value);
    if (ranking && ranking.length) {
      charts.push([name, {
        type: "bar",
        data: { labels: ranking.map(([label]) => label), datasets: [{ label: title(name), data: ranking.map(([, n]) => n), backgroundColor: PALETTE[charts.length % PALETTE.length] }] },
        options: { indexAxis: "y", maintainAspectRatio: false, animation: false, plugins: { legend: { display: false } } },
      }]);
      return;
    }
    if (typeof value === "number") { kpis.push([name, value]); return; }
    if (value && typeof value === "object" && !Array.isArray(value)) {
      for (const [key, inner] of Object.entries(value)) walk(inner, name ? `${name}${key[0].toUpperCase()}${key.slice(1)}` : key);
    }
  };
  walk(data, "");
  return { charts, kpis };
}

function format(value) {
  return Number.isInteger(value) ? value.toLocaleString() : value.toLocaleString(undefined, { maximumFractionDigits: 2 });
}

function Dashboard() {
  const [api] = useState(() => new Api(""));
  const [phase, setPhase] = useState("loading");
  const [error, setError] = useState(null);
  const [data, setData] = useState(null);
  const [days, setDays] = useState(30);
  const [range, setRange] = useState(() => ({ from: isoDay(new Date(Date.now() - 29 * DAY)), to: isoDay(new Date()) }));
  useEffect(() => {
    let saved = null;
    try { saved = JSON.parse(localStorage.getItem(TOKEN_KEY) || "null"); } catch (_) { /* ignore */ }
    if (!saved) { setPhase("login"); return; }
    api.token = saved.token;
    api.get("/api/me").then(() => features(api)).then((ops) => setPhase(ops.has("GET /api/analytics") ? "ready" : "missing"))
      .catch(() => setPhase("login"));
  }, []);
  useEffect(() => {
    if (phase !== "ready") return;
    setData(null);
    api.get("/api/analytics", { from: range.from, to: range.to }).then(setData).catch((e) => setError(e.message));
  }, [phase, range.from, range.to]);
  const preset = (n) => { setDays(n); setRange({ from: isoDay(new Date(Date.now() - (n - 1) * DAY)), to: isoDay(new Date()) }); };
  const pick = (event) => {
    event.preventDefault();
    const form = new FormData(event.target);
    setDays(null);
    setRange({ from: form.get("from"), to: form.get("to") });
  };
  let body;
  if (phase === "loading") body = html`<p class="notice">Loading…</p>`;
  else if (phase === "login") body = html`<p class="notice">Sign in to the <a href="/console">agent console</a> first; the dashboard uses the same account.</p>`;
  else if (phase === "missing") body = html`<p class="notice" role="status">This server has no analytics: the analytics plugin is not installed or is disabled.</p>`;
  else if (error) body = html`<p class="notice error" role="alert">${error}</p>`;
  else if (!data) body = html`<p class="notice">Loading figures…</p>`;
  else {
    const { charts, kpis } = specs(data);
    body = html`<div class="kpis">${kpis.map(([name, value]) => html`<div class="kpi" data-kpi=${name}><div class="label">${title(name)}</div><div class="value">${format(value)}</div></div>`)}</div>
      <div class="charts">${charts.map(([name, spec]) => html`<${ChartCard} key=${name} name=${name} spec=${spec} />`)}</div>`;
  }
  return html`<header class="site"><a class="brand" href="/"><img src="/static/favicon.svg" alt="" width="28" height="28" /> QanDu</a>
      <nav aria-label="Pages"><a href="/console">Agent console</a><a href="/dashboard" aria-current="page">Dashboard</a></nav></header>
    <main class="dash">
      <form class="toolbar" onSubmit=${pick} aria-label="Date range">
        <h1>Analytics</h1>
        <div class="presets" role="group" aria-label="Quick ranges">
          ${[7, 30, 90].map((n) => html`<button type="button" aria-pressed=${days === n} onClick=${() => preset(n)}>${n} days</button>`)}
        </div>
        <label>From<input type="date" name="from" value=${range.from} max=${range.to} /></label>
        <label>To<input type="date" name="to" value=${range.to} min=${range.from} /></label>
        <button type="submit" class="apply">Apply</button>
      </form>
      ${body}
    </main>`;
}

function start() {
  render(html`<${Dashboard} />`, document.getElementById("app"));
}

if (window.Chart) start();
else addEventListener("DOMContentLoaded", start);
