// The analytics dashboard: the figures of GET /api/analytics (the analytics plugin) for a date
// range and a bucket, drawn with Chart.js (vendored UMD build, window.Chart).  Staff only; it
// shares the console's login.  Dates are UTC days, as the API counts them.
import { html, render, useState, useEffect, useRef } from "../shared/ui.js";
import { Api, features } from "../shared/api.js";

const TOKEN_KEY = "qandu:console";
const PALETTE = ["#4f46e5", "#0e7490", "#b45309", "#be123c", "#047857", "#7c3aed", "#475569", "#c2410c"];
const STARS = ["#be123c", "#c2410c", "#b45309", "#0e7490", "#047857"];
const DAY = 86400000;
const RATINGS = ["1", "2", "3", "4", "5"];

/** A Date's UTC day, YYYY-MM-DD (the API's date-only form). */
function isoDay(date) { return date.toISOString().slice(0, 10); }

/** The day after an inclusive YYYY-MM-DD: the API's `to` is exclusive. */
function nextDay(day) { return isoDay(new Date(Date.parse(`${day}T00:00:00Z`) + DAY)); }

/** The query of GET /api/analytics for the picked (inclusive) days and bucket. */
export function analyticsQuery(range, bucket) {
  return { from: range.from, to: nextDay(range.to), bucket };
}

function lastDays(n) {
  return { from: isoDay(new Date(Date.now() - (n - 1) * DAY)), to: isoDay(new Date()) };
}

const number = (value) => (value == null ? "–" : value.toLocaleString("en", { maximumFractionDigits: 2 }));
const percent = (rate) => (rate == null ? "–" : `${(rate * 100).toLocaleString("en", { maximumFractionDigits: 1 })} %`);

/** Seconds as a short duration: 0.6 s, 42 s, 3.5 min, 2.1 h, 1.5 d. */
export function duration(seconds) {
  if (seconds == null) return "–";
  const fmt = (v, unit, digits = 1) => `${v.toLocaleString("en", { maximumFractionDigits: digits })} ${unit}`;
  if (seconds < 10) return fmt(seconds, "s", 2);
  if (seconds < 60) return fmt(seconds, "s");
  if (seconds < 3600) return fmt(seconds / 60, "min");
  if (seconds < 86400) return fmt(seconds / 3600, "h");
  return fmt(seconds / 86400, "d");
}

/** A bucket's label: its UTC day, or day and hour for hourly buckets. */
function bucketLabel(start, bucket) {
  return bucket === "hour" ? `${start.slice(5, 10)} ${start.slice(11, 13)}:00` : start.slice(0, 10);
}

function ChartCard({ name, heading, spec, empty, note }) {
  const canvas = useRef();
  useEffect(() => {
    if (empty) return undefined;
    const chart = new window.Chart(canvas.current, spec);
    return () => chart.destroy();
  }, [empty, JSON.stringify(spec.data)]);
  return html`<section class="chart" aria-label=${heading} data-chart=${name}>
    <h2>${heading}</h2>
    ${note && html`<p class="note">${note}</p>`}
    ${empty
      ? html`<p class="empty">${empty}</p>`
      : html`<div class="canvas"><canvas ref=${canvas} role="img" aria-label=${`${heading} chart`}></canvas></div>`}
  </section>`;
}

const BASE = { maintainAspectRatio: false, animation: false };

function lines(labels, sets, { tick, min, max, integers } = {}) {
  return {
    type: "line",
    data: {
      labels,
      datasets: sets.map(([label, data], i) => ({
        label, data, borderColor: PALETTE[i % PALETTE.length], backgroundColor: `${PALETTE[i % PALETTE.length]}33`,
        spanGaps: true, tension: 0.3, pointRadius: labels.length > 60 ? 0 : 3,
      })),
    },
    options: {
      ...BASE,
      scales: { y: { beginAtZero: min == null, min, max, ticks: tick ? { callback: tick } : { precision: integers ? 0 : undefined } } },
      plugins: { legend: { display: sets.length > 1 }, tooltip: tick ? { callbacks: { label: (c) => `${c.dataset.label}: ${tick(c.parsed.y)}` } } : {} },
    },
  };
}

function bars(label, labels, data, color, horizontal = true) {
  return {
    type: "bar",
    data: { labels, datasets: [{ label, data, backgroundColor: color }] },
    options: { ...BASE, indexAxis: horizontal ? "y" : "x", scales: { [horizontal ? "x" : "y"]: { beginAtZero: true, ticks: { precision: 0 } } }, plugins: { legend: { display: false } } },
  };
}

/**
 * Why "top intents" may be empty or short, from GET /api/nlu/status (`null`: the server has no
 * nlu plugin); null when the models are all ready.
 */
export function intentsNote(nlu) {
  if (nlu === undefined) return null;
  if (nlu === null) return "Intents are not recognised on this server: the nlu plugin is not installed.";
  const models = nlu.bots.flatMap((b) => b.models.map((m) => ({ ...m, name: `${b.bot} (${m.language})` })));
  const named = (...states) => models.filter((m) => states.includes(m.state)).map((m) => m.name).join(", ");
  if (nlu.training) {
    return `The NLU models are still training: ${named("loading", "training")}. Messages analysed meanwhile get no intent.`;
  }
  const missing = named("unavailable");
  return missing ? `No intent model for ${missing}: its training failed or is switched off (qandu bot train).` : null;
}

/** The charts for a response of GET /api/analytics: [name, heading, spec, emptyText, note]. */
export function charts(data, nlu) {
  const { totals, series, bucket } = data;
  const labels = series.map((point) => bucketLabel(point.start, bucket));
  const col = (key) => series.map((point) => point[key]);
  const csat = totals.csat;
  const sentiment = totals.sentiment;
  const none = "Nothing in this range.";
  return [
    ["volume", "Volume", lines(labels, [["Conversations", col("conversations")], ["Handoffs", col("handoffs")], ["Resolutions", col("resolutions")], ["Messages", col("messages")]], { integers: true }),
      series.some((p) => p.conversations || p.messages || p.resolutions) ? null : none],
    ["times", "First response and resolution (median)", lines(labels, [["First response", col("firstResponseMedian")], ["Resolution", col("resolutionMedian")]], { tick: duration }),
      series.some((p) => p.firstResponseMedian != null || p.resolutionMedian != null) ? null : none,
      `First response median ${duration(totals.firstResponse.median)}, p90 ${duration(totals.firstResponse.p90)} · resolution median ${duration(totals.resolution.median)}, p90 ${duration(totals.resolution.p90)}`],
    ["csat", "Satisfaction (CSAT) ratings", bars("Answers", RATINGS.map((r) => `${r} ★`), RATINGS.map((r) => csat.distribution[r]), STARS, false),
      csat.count ? null : "No survey answered in this range.", csat.count ? `Average ${number(csat.average)} of 5 from ${csat.count} answers` : null],
    ["sentiment", "Customer sentiment", lines(labels, [["Average sentiment", col("sentimentAverage")]], { min: -1, max: 1 }),
      sentiment.count ? null : "No analysed customer message in this range.",
      sentiment.count ? `Negative ${sentiment.labels.negative} · neutral ${sentiment.labels.neutral} · positive ${sentiment.labels.positive} (from -1 to 1)` : null],
    ["intents", "Top intents", bars("Messages", data.topIntents.map((i) => i.intent), data.topIntents.map((i) => i.count), PALETTE[4]),
      data.topIntents.length ? null : intentsNote(nlu) || "No recognised intent in this range.",
      data.topIntents.length ? intentsNote(nlu) : null],
    ["tags", "Top tags", bars("Conversations", data.topTags.map((t) => t.tag), data.topTags.map((t) => t.count), PALETTE[5]),
      data.topTags.length ? null : "No conversation tagged in this range."],
  ];
}

/** The figures on top: [name, label, value, detail]. */
export function kpis(totals) {
  const messages = Object.values(totals.messages).reduce((a, b) => a + b, 0);
  return [
    ["conversations", "Conversations", number(totals.conversations), `${number(messages)} messages`],
    ["firstResponse", "First response (median)", duration(totals.firstResponse.median), `p90 ${duration(totals.firstResponse.p90)}`],
    ["resolution", "Resolution (median)", duration(totals.resolution.median), `p90 ${duration(totals.resolution.p90)} · ${number(totals.resolutions)} resolved`],
    ["csat", "CSAT average", totals.csat.count ? `${number(totals.csat.average)} / 5` : "–", `${number(totals.csat.count)} answers`],
    ["containment", "Bot containment", percent(totals.containmentRate), `${number(totals.contained)} of ${number(totals.botResolutions)} bot resolutions`],
    ["handoff", "Handoff rate", percent(totals.handoffRate), `${number(totals.handoffs)} of ${number(totals.botConversations)} bot conversations`],
  ];
}

function People({ name, heading, rows, label }) {
  return html`<section class="people" aria-label=${heading} data-table=${name}>
    <h2>${heading}</h2>
    ${rows.length === 0 ? html`<p class="empty">Nobody answered, resolved or was rated in this range.</p>` : html`
    <table>
      <thead><tr><th scope="col">${label}</th><th scope="col">First responses</th><th scope="col">Median</th><th scope="col">p90</th>
        <th scope="col">Resolutions</th><th scope="col">Median</th><th scope="col">p90</th><th scope="col">CSAT</th></tr></thead>
      <tbody>${rows.map((row) => html`<tr key=${row.id}>
        <th scope="row">${row.name}</th>
        <td>${number(row.firstResponse.count)}</td><td>${duration(row.firstResponse.median)}</td><td>${duration(row.firstResponse.p90)}</td>
        <td>${number(row.resolution.count)}</td><td>${duration(row.resolution.median)}</td><td>${duration(row.resolution.p90)}</td>
        <td>${row.csat.count ? `${number(row.csat.average)} (${row.csat.count})` : "–"}</td></tr>`)}</tbody>
    </table>`}
  </section>`;
}

function Dashboard() {
  const [api] = useState(() => new Api(""));
  const [phase, setPhase] = useState("loading");
  const [error, setError] = useState(null);
  const [data, setData] = useState(null);
  const [nlu, setNlu] = useState(undefined);
  const [ops, setOps] = useState(new Set());
  const [teams, setTeams] = useState({});
  const [days, setDays] = useState(30);
  const [range, setRange] = useState(() => lastDays(30));
  const [bucket, setBucket] = useState("day");
  useEffect(() => {
    let saved = null;
    try { saved = JSON.parse(localStorage.getItem(TOKEN_KEY) || "null"); } catch (_) { /* ignore */ }
    if (!saved) { setPhase("login"); return; }
    api.token = saved.token;
    api.get("/api/me").then(() => features(api)).then((ops) => {
      setOps(ops);
      if (ops.has("GET /api/teams")) {
        api.get("/api/teams").then((r) => setTeams(Object.fromEntries(r.teams.map((t) => [t.id, t.name])))).catch(() => {});
      }
      setPhase(ops.has("GET /api/analytics") ? "ready" : "missing");
    }).catch(() => setPhase("login"));
  }, []);
  useEffect(() => {
    if (phase !== "ready") return;
    let current = true;
    setData(null);
    setError(null);
    api.get("/api/analytics", analyticsQuery(range, bucket))
      .then((figures) => current && setData(figures))
      .catch((e) => current && setError(e.message));
    // what the NLU is doing explains an empty "top intents" (asked again with every range)
    if (!ops.has("GET /api/nlu/status")) setNlu(null);
    else api.get("/api/nlu/status").then((status) => current && setNlu(status)).catch(() => current && setNlu(undefined));
    return () => { current = false; };
  }, [phase, range.from, range.to, bucket]);
  const preset = (n) => { setDays(n); setRange(lastDays(n)); };
  const pick = (event) => {
    event.preventDefault();
    const form = new FormData(event.target);
    setDays(null);
    setRange({ from: form.get("from"), to: form.get("to") });
    setBucket(form.get("bucket"));
  };
  let body;
  if (phase === "loading") body = html`<p class="notice">Loading…</p>`;
  else if (phase === "login") body = html`<p class="notice">Sign in to the <a href="/console">agent console</a> first; the dashboard uses the same account.</p>`;
  else if (phase === "missing") body = html`<p class="notice" role="status">This server has no analytics: the analytics plugin is not installed or is disabled.</p>`;
  else if (error) body = html`<p class="notice error" role="alert">${error}</p>`;
  else if (!data) body = html`<p class="notice">Loading figures…</p>`;
  else {
    const agents = data.agents.map((a) => ({ ...a, id: a.agentId, name: a.name || a.agentId }));
    const teamRows = data.teams.map((t) => ({ ...t, id: t.teamId, name: teams[t.teamId] || t.teamId }));
    body = html`<p class="range" data-range>${data.from.slice(0, 16).replace("T", " ")} to ${data.to.slice(0, 16).replace("T", " ")} UTC, by ${data.bucket}</p>
      <div class="kpis">${kpis(data.totals).map(([name, label, value, detail]) => html`<div class="kpi" data-kpi=${name}>
        <div class="label">${label}</div><div class="value">${value}</div><div class="detail">${detail}</div></div>`)}</div>
      <div class="charts">${charts(data, nlu).map(([name, heading, spec, empty, note]) => html`<${ChartCard} key=${name} name=${name} heading=${heading} spec=${spec} empty=${empty} note=${note} />`)}</div>
      <div class="tables">
        <${People} name="agents" heading="Per agent" label="Agent" rows=${agents} />
        <${People} name="teams" heading="Per team" label="Team" rows=${teamRows} />
      </div>`;
  }
  return html`<header class="site"><a class="brand" href="/"><img src="/static/favicon.svg" alt="" width="28" height="28" /> QanDu</a>
      <nav aria-label="Pages"><a href="/console">Agent console</a><a href="/dashboard" aria-current="page">Dashboard</a></nav></header>
    <main class="dash">
      <form class="toolbar" onSubmit=${pick} aria-label="Date range">
        <h1>Analytics</h1>
        <div class="presets" role="group" aria-label="Quick ranges">
          ${[7, 30, 90].map((n) => html`<button type="button" aria-pressed=${days === n} onClick=${() => preset(n)}>${n} days</button>`)}
        </div>
        <label>From (UTC)<input type="date" name="from" value=${range.from} max=${range.to} required /></label>
        <label>To (UTC)<input type="date" name="to" value=${range.to} min=${range.from} required /></label>
        <label>By<select name="bucket" value=${bucket} onChange=${(e) => setBucket(e.target.value)}>
          <option value="day">Day</option><option value="hour">Hour</option></select></label>
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
