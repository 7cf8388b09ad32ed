// greentwin planning hub: the citizens' web app (plain ES module, no build step).
//
// Talks to the server over HTTP (/api/hub/..., /api/scenarios/{id}/comments|votes) and
// the live channel /ws (protocol greentwin/1: comment, comment_hidden, votes messages).
// User text is only ever written with textContent, never parsed as HTML.
// URL parameters: ?kiosk=1 (kiosk mode), ?idle=<s> (kiosk inactivity reset, default 120),
// ?lang=en|fi|et (start language), ?no3d=1 (no 3D view, e.g. on very weak devices).
// For tests it exposes window.hub = {state, ready, t, reset, viewer}.

import { drawCourse } from "/viewer/course-chart.js";

const params = new URLSearchParams(window.location.search);
const KIOSK = params.get("kiosk") === "1";
const IDLE_S = Math.max(1, Number(params.get("idle") || 120));
const NO3D = params.get("no3d") === "1";
const LANGS = { en: "en-GB", fi: "fi-FI", et: "et-EE" };
const DEFAULT_LANG = LANGS[params.get("lang")] ? params.get("lang") : "en";
const MAX_CHARS = 2000;
const SUMMARY_KEYS = [
  "trees_planted", "trees_removed", "trees_replaced", "trees_pruned",
  "green_areas_added", "green_areas_removed", "roads_changed", "roads_closed",
  "barriers_added", "barriers_removed", "buildings_added", "buildings_removed",
];
const INDICATORS = [
  ["noise_lden_db", "effects.noise", "unit.db"],
  ["noise_lnight_db", "effects.night", "unit.db"],
  ["no2_ug_m3", "effects.air", "unit.ugm3"],
  ["pm10_ug_m3", "effects.pm10", "unit.ugm3"],
];
const YEAR_STEPS = [0, 5, 10, 20];
// heat at an address: only in the dated values (the chosen time's maps)
const DATED_INDICATORS = [
  ["utci_c", "effects.utci", "unit.c"],
  ["shade_h", "effects.shade", "unit.h"],
];
// the maps' units -> the strings that write a value in them
const MAP_UNITS = { "dB(A)": "unit.db", "ug/m3": "unit.ugm3", degC: "unit.c", h: "unit.h" };
const HEAT_LAYERS = new Set(["utci", "shade_hours"]);

const $ = (id) => document.getElementById(id);

const state = {
  lang: DEFAULT_LANG,
  strings: {},
  cache: {},
  proposals: [],
  listStatus: null, // i18n key of the list's status line (null: none)
  current: null, // proposal detail
  years: 0,
  season: "summer",
  mode: "after",
  split: 0.5,
  trees: null, // /trees answer for the current time
  carbonSeries: null,
  here: null,
  herePoint: null, // {lon, lat, label} of the last "here" question
  mapsOn: false, // the chosen time's maps are shown (and the "here" values follow them)
  maps: null, // /api/maps answer for the chosen time (+ requested, years, season)
  mapLayer: "noise_lden",
  mapsTicket: 0,
  identity: null, // {participant, nickname, token}
  draftKey: null, // idempotency key of the comment being sent
  comments: new Map(), // id -> comment
  votes: { up: 0, down: 0, mine: 0 },
  ws: null,
  wsBackoff: 1,
};

// ------------------------------------------------------------------ i18n
async function loadStrings(lang) {
  if (!state.cache[lang]) {
    const resp = await fetch(`i18n/${lang}.json`);
    state.cache[lang] = await resp.json();
  }
  return state.cache[lang];
}

function locale() {
  return LANGS[state.lang];
}

function t(key, vars = {}) {
  let s = state.strings[key];
  if (s === undefined) s = state.cache.en?.[key] ?? key;
  if (typeof s === "object") {
    const n = Number(vars.count ?? vars.n ?? 0);
    s = s[new Intl.PluralRules(locale()).select(n)] ?? s.other;
  }
  return s.replace(/\{(\w+)\}/g, (_, k) => (vars[k] === undefined ? `{${k}}` : String(vars[k])));
}

function num(value, digits = 0) {
  return new Intl.NumberFormat(locale(), { maximumFractionDigits: digits }).format(value);
}

function dateText(value, opts = { dateStyle: "long" }) {
  return new Intl.DateTimeFormat(locale(), opts).format(value);
}

function applyStrings() {
  document.documentElement.lang = state.lang;
  for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of document.querySelectorAll("[data-i18n-aria-label]")) {
    el.setAttribute("aria-label", t(el.dataset.i18nAriaLabel));
  }
  for (const el of document.querySelectorAll("[data-i18n-placeholder]")) {
    el.setAttribute("placeholder", t(el.dataset.i18nPlaceholder));
  }
  for (const b of document.querySelectorAll("button.lang")) {
    b.setAttribute("aria-pressed", String(b.dataset.lang === state.lang));
  }
}

async function setLang(lang) {
  if (!LANGS[lang]) return;
  state.strings = await loadStrings(lang);
  state.lang = lang;
  applyStrings();
  renderAll();
}

// ------------------------------------------------------------------ HTTP
class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function api(url, init = {}) {
  const headers = { ...(init.headers || {}) };
  if (state.identity) headers["X-Participant-Token"] = state.identity.token;
  if (init.body !== undefined) headers["Content-Type"] = "application/json";
  const resp = await fetch(url, { ...init, headers });
  const body = await resp.json().catch(() => ({}));
  if (!resp.ok) {
    const err = body.error || {};
    throw new ApiError(resp.status, err.code || "", err.message || resp.statusText);
  }
  return body;
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "text") node.textContent = v;
    else if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children) if (c) node.append(c);
  return node;
}

function announce(text) {
  const a = $("announce");
  a.textContent = "";
  window.setTimeout(() => { a.textContent = text; }, 50);
}

// ------------------------------------------------------------------ charts (inline SVG)
const SVG = "http://www.w3.org/2000/svg";

function svg(tag, attrs = {}, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

/** Horizontal bar chart with a text alternative (title + desc, and a caption). */
function barChart(figure, caption, rows) {
  figure.replaceChildren();
  if (!rows.length) return;
  const id = `${figure.id}-title`;
  const max = Math.max(1, ...rows.map((r) => r.value));
  const rowH = 30;
  const labelW = 190;
  const width = 460;
  const height = rows.length * rowH + 6;
  const root = svg("svg", {
    viewBox: `0 0 ${width} ${height}`, width, height, role: "img", "aria-labelledby": id,
  });
  root.append(svg("title", { id }, caption));
  root.append(svg("desc", {}, rows.map((r) => `${r.label}: ${r.text}`).join("; ")));
  rows.forEach((r, i) => {
    const y = i * rowH + 3;
    const w = Math.max(2, ((width - labelW - 80) * r.value) / max);
    root.append(svg("text", { x: 0, y: y + 19, "font-size": 15, fill: "#1b1f1d" }, r.label));
    root.append(svg("rect", { x: labelW, y: y + 4, width: w, height: rowH - 10, fill: r.colour || "#0b5d3b" }));
    root.append(svg("text", { x: labelW + w + 6, y: y + 19, "font-size": 15, fill: "#1b1f1d" }, r.text));
  });
  figure.append(root, el("figcaption", { text: caption }));
}

// ------------------------------------------------------------------ list view
async function loadProposals() {
  state.listStatus = "list.loading";
  $("list-status").textContent = t(state.listStatus);
  try {
    const doc = await api("/api/hub/proposals");
    state.proposals = doc.proposals;
    state.listStatus = null;
  } catch (err) {
    state.listStatus = "error.load";
    state.proposals = [];
  }
  renderList();
}

function summaryLines(summary) {
  return SUMMARY_KEYS.filter((k) => summary[k] > 0).map((k) => t(`summary.${k}`, { n: num(summary[k]), count: summary[k] }).replace(/^./, (c) => c.toUpperCase()));
}

/** A proposal's title and summary in the chosen language (its titles map), else its name. */
function titleOf(p) {
  return p.titles?.[state.lang]?.title || p.name;
}

function leadOf(p) {
  return p.titles?.[state.lang]?.summary || "";
}

function renderList() {
  const ul = $("proposals");
  ul.replaceChildren();
  // the status is kept as a key, so a language switch translates it too
  const status = state.listStatus ?? (state.proposals.length ? null : "list.empty");
  $("list-status").textContent = status ? t(status) : "";
  for (const p of state.proposals) {
    const lines = summaryLines(p.summary).slice(0, 4);
    const li = el(
      "li", { class: "card" },
      el("h2", { text: titleOf(p) }),
      ...(leadOf(p) ? [el("p", { class: "lead", text: leadOf(p) })] : []),
      el("p", { class: "meta", text: t("list.published", { date: dateText(new Date(p.created * 1000)) }) }),
      lines.length ? el("ul", {}, ...lines.map((s) => el("li", { text: s }))) : el("p", { text: t("summary.none") }),
      el("p", { class: "meta", text: `${t("list.comments", { n: num(p.comments), count: p.comments })} · ${t("list.votes", { up: num(p.votes.up), down: num(p.votes.down) })}` }),
      el("button", { type: "button", "data-open": p.id, text: t("list.open", { name: titleOf(p) }), onclick: () => { window.location.hash = `#/p/${encodeURIComponent(p.id)}`; } }),
    );
    ul.append(li);
  }
}

// ------------------------------------------------------------------ proposal view
async function openProposal(id) {
  $("view-list").hidden = true;
  $("view-proposal").hidden = false;
  state.current = null;
  state.here = null;
  state.herePoint = null;
  state.mapsOn = false;
  state.maps = null;
  state.mapsTicket += 1;
  $("maps-status").textContent = "";
  state.trees = null;
  state.carbonSeries = null;
  state.comments = new Map();
  $("here").replaceChildren();
  $("search-results").replaceChildren();
  $("course-chart").replaceChildren();
  $("course-status").textContent = "";
  try {
    state.current = await api(`/api/hub/proposals/${encodeURIComponent(id)}`);
  } catch (err) {
    $("p-title").textContent = t("error.load");
    return;
  }
  state.votes = state.current.votes;
  renderProposal();
  $("p-title").focus();
  subscribe(id);
  await Promise.all([loadComments(), loadTrees(), loadCarbonSeries()]);
  if (!NO3D) window.setTimeout(() => startView3d().catch((e) => console.warn("3D view:", e)), 0);
}

function renderProposal() {
  const p = state.current;
  if (!p) return;
  document.title = `${titleOf(p)} – ${t("brand")}`;
  $("p-title").textContent = titleOf(p);
  let lead = $("p-lead");
  if (!lead) {
    lead = el("p", { id: "p-lead", class: "lead" });
    $("p-title").after(lead);
  }
  lead.textContent = leadOf(p);
  lead.hidden = !lead.textContent;
  $("p-meta").textContent = t("list.published", { date: dateText(new Date(p.created * 1000)) });
  const lines = summaryLines(p.summary);
  $("p-summary").replaceChildren(...(lines.length ? lines : [t("summary.none")]).map((s) => el("li", { text: s })));
  const rows = SUMMARY_KEYS.filter((k) => p.summary[k] > 0).map((k) => ({
    label: t(`summary.${k}`, { n: "" }).replace(/\s+/g, " ").trim(),
    value: p.summary[k],
    text: num(p.summary[k]),
  }));
  barChart($("chart-changes"), t("chart.changes"), rows);
  renderEffects();
  renderTreesText();
  renderVotes();
  renderComments();
  renderHere();
  renderFacts();
  renderMaps();
  updateCounter();
}

function renderEffects() {
  const p = state.current;
  const dl = $("p-effects");
  dl.replaceChildren();
  let missing = false;
  for (const [key, label, unit] of [INDICATORS[0], INDICATORS[2]]) {
    const v = p.effects[key];
    const today = p.effects[`${key}_today`];
    let text = t("effects.not_computed");
    if (v === null || v === undefined) missing = true;
    else if (today === null || today === undefined) text = t(unit, { v: num(v, 1) });
    else text = t("effects.vs_today", { v: t(unit, { v: num(v, 1) }), today: t(unit, { v: num(today, 1) }) });
    dl.append(el("dt", { text: t(label) }), el("dd", { "data-indicator": key, text }));
  }
  $("p-effects-note").textContent = t(missing ? "effects.not_computed_note" : "effects.area_note");
  const e = p.effects;
  if (p.summary.trees_planted + p.summary.trees_replaced === 0) {
    $("p-trees20").textContent = t("effects.trees20_none");
  } else if (e.carbon_kg_20y !== null && e.carbon_kg_20y !== undefined) {
    $("p-trees20").textContent = t("effects.trees20", {
      carbon: num(e.carbon_kg_20y), co2: num(e.carbon_kg_20y * 3.67), canopy: num(e.canopy_m2_20y),
    });
  } else {
    $("p-trees20").textContent = "";
  }
  renderTraffic(e.traffic || []);
}

// Where traffic goes, in plain words: the roads whose day flow the proposal changes most.
function renderTraffic(moves) {
  let box = $("p-traffic");
  if (!box) {
    box = el("div", { id: "p-traffic" });
    $("p-trees20").after(box);
  }
  box.replaceChildren();
  const lines = moves
    .filter((m) => m.change_pct === null || Math.abs(m.change_pct) >= 5)
    .map((m) => {
      const street = m.name || m.id;
      if (m.baseline > 0 && m.scenario === 0) return t("traffic.closed", { street });
      if (m.change_pct === null) return t("traffic.new", { street, flow: num(m.scenario) });
      if (m.change_pct < 0) return t("traffic.less", { street, pct: num(-m.change_pct) });
      return t("traffic.more", { street, pct: num(m.change_pct) });
    });
  if (!lines.length) return;
  box.append(el("h3", { text: t("traffic.title") }), el("ul", {}, ...lines.map((text) => el("li", { text }))));
}

async function loadCarbonSeries() {
  const p = state.current;
  if (!p) return;
  try {
    const docs = await Promise.all(YEAR_STEPS.map((y) => api(`/api/hub/proposals/${encodeURIComponent(p.id)}/trees?years=${y}&season=summer`)));
    state.carbonSeries = docs;
  } catch (err) {
    state.carbonSeries = null;
  }
  renderCarbonChart();
}

function renderCarbonChart() {
  const fig = $("chart-carbon");
  const series = state.carbonSeries;
  if (!series || series.every((d) => !d.carbon_kg)) {
    fig.replaceChildren();
    return;
  }
  const names = ["view.now", "view.in5", "view.in10", "view.in20"];
  barChart(fig, t("chart.carbon"), series.map((d, i) => ({
    label: t(names[i]), value: d.carbon_kg || 0, text: `${num(d.carbon_kg || 0)} kg`,
  })));
}

// ------------------------------------------------------------------ the years ahead
/** The proposal's indicators over the years beside today's plan (GET /api/course). */
async function loadCourse() {
  const p = state.current;
  if (!p) return null;
  $("course-status").textContent = t("course.loading");
  try {
    const doc = await api(`/api/course?scenario=${encodeURIComponent(p.scenario ?? p.id)}`);
    drawCourse($("course-chart"), doc, (key, fallback) => {
      const k = `course.${key}`;
      const s = t(k);
      return s === k ? fallback : s;
    });
    $("course-status").textContent = "";
    return doc;
  } catch (err) {
    $("course-status").textContent = t("course.error");
    return null;
  }
}

// ------------------------------------------------------------------ time and the trees
async function loadTrees() {
  const p = state.current;
  if (!p) return;
  const url = `/api/hub/proposals/${encodeURIComponent(p.id)}/trees?years=${state.years}&season=${state.season}`;
  try {
    state.trees = await api(url);
  } catch (err) {
    state.trees = null;
  }
  renderTreesText();
  renderFacts();
  drawScenario();
}

function renderTreesText() {
  for (const b of document.querySelectorAll("#years button")) b.setAttribute("aria-pressed", String(Number(b.dataset.years) === state.years));
  for (const b of document.querySelectorAll("#seasons button")) b.setAttribute("aria-pressed", String(b.dataset.season === state.season));
  for (const b of document.querySelectorAll("#modes button")) b.setAttribute("aria-pressed", String(b.dataset.mode === state.mode));
  $("swipe-row").hidden = state.mode !== "swipe";
  $("swipe-line").hidden = state.mode !== "swipe";
}

function whenText() {
  return t({ 0: "view.now", 5: "view.in5", 10: "view.in10", 20: "view.in20" }[state.years]).toLowerCase();
}

function renderFacts() {
  const box = $("facts");
  box.replaceChildren();
  const g = state.trees;
  if (!state.current) return;
  const season = t(`view.${state.season}`).toLowerCase();
  const date = g ? dateText(new Date(`${g.date}T12:00:00Z`)) : "";
  box.append(el("p", { text: t("facts.when", { when: whenText(), season, date }) }));
  box.append(el("p", { text: t(`facts.mode_${state.mode}`) }));
  if (g && g.trees.length && state.mode !== "before") {
    const n = g.trees.length;
    const h = g.trees.reduce((s, x) => s + x.height_m, 0) / n;
    const d = g.trees.reduce((s, x) => s + x.crown_diameter_m, 0) / n;
    const leaf = g.trees.reduce((s, x) => s + x.leaf_fraction, 0) / n;
    box.append(el("p", { "data-fact": "trees", text: t("facts.trees", { n: num(n), count: n, h: num(h, 1), d: num(d, 1) }) }));
    box.append(el("p", { "data-fact": "leaves", text: t("facts.leaves", { leaf: num(leaf * 100) }) }));
    if (g.carbon_kg !== null) box.append(el("p", { "data-fact": "carbon", text: t("facts.carbon", { carbon: num(g.carbon_kg), canopy: num(g.canopy_m2) }) }));
  } else if (g && !g.trees.length) {
    box.append(el("p", { text: t("facts.notrees") }));
  }
}

const SEASON_DATES = { spring: "04-20", summer: "07-15", autumn: "10-15", winter: "01-15" };

function setTime(years, season) {
  if (years !== undefined) state.years = years;
  if (season !== undefined) state.season = season;
  // this session's own time on the live channel (the planners' shared time is untouched)
  const year = new Date().getUTCFullYear() + state.years;
  sendLive({ type: "set_time", time: { year, date: SEASON_DATES[state.season] } });
  renderTreesText();
  const work = [loadTrees()];
  if (state.mapsOn) {
    work.push(loadMaps());
    const h = state.herePoint;
    if (h) work.push(showHere(h.lon, h.lat, h.label));
  }
  return Promise.all(work);
}

// ------------------------------------------------------------------ maps for the time
/** The chosen time as a date: this year + years, on the season's day. */
function chosenDate() {
  return `${new Date().getUTCFullYear() + state.years}-${SEASON_DATES[state.season]}`;
}

/** The proposal's overlays on the chosen date (GET /api/maps: computed once per
 *  proposal and half-month on the server, then shared by everyone). */
async function loadMaps() {
  const p = state.current;
  if (!p) return;
  state.mapsOn = true;
  const date = chosenDate();
  const ticket = ++state.mapsTicket;
  const when = { years: state.years, season: state.season };
  $("maps-status").textContent = t("maps.loading", { date: dateText(new Date(`${date}T12:00:00Z`)) });
  let doc = null;
  let status = 0;
  try {
    doc = await api(`/api/maps?scenario=${encodeURIComponent(p.scenario ?? p.id)}&date=${date}`);
  } catch (err) {
    status = err.status || 0;
  }
  if (ticket !== state.mapsTicket) return; // a later choice won
  state.maps = doc ? { ...doc, requested: date, ...when } : null;
  $("maps-status").textContent = doc ? "" : t(status === 503 ? "maps.busy" : "maps.error");
  renderMaps();
  drawMapLayer3d();
}

/** Web Mercator tile coordinates (fractional) of a point at zoom z. */
function tileXY(lon, lat, z) {
  const n = 2 ** z;
  const r = (lat * Math.PI) / 180;
  return [((lon + 180) / 360) * n, ((1 - Math.log(Math.tan(r) + 1 / Math.cos(r)) / Math.PI) / 2) * n];
}

/** The overlay as a small 2D map of its tiles (at most 4 tiles across), with a dot at the
 *  chosen address. Works without the 3D view; the legend and caption are its text. */
function drawMosaic(box, layer) {
  const [w, s, e, n] = layer.bounds;
  let z = layer.zoom[1];
  while (z > layer.zoom[0] && Math.floor(tileXY(e, s, z)[0]) - Math.floor(tileXY(w, n, z)[0]) >= 4) z -= 1;
  const [fx0, fy0] = tileXY(w, n, z);
  const [fx1, fy1] = tileXY(e, s, z);
  const sx = fx1 - fx0;
  const sy = fy1 - fy0;
  box.style.aspectRatio = `${sx} / ${sy}`;
  const items = [];
  const pos = (node, x, y) => {
    node.style.left = `${((x - fx0) / sx) * 100}%`;
    node.style.top = `${((y - fy0) / sy) * 100}%`;
  };
  for (let x = Math.floor(fx0); x < fx1; x++) {
    for (let y = Math.floor(fy0); y < fy1; y++) {
      const src = layer.url.replace("{z}", z).replace("{x}", x).replace("{y}", y);
      const img = el("img", { alt: "", src, "data-tile": `${z}/${x}/${y}` });
      pos(img, x, y);
      img.style.width = `${100 / sx}%`;
      img.style.height = `${100 / sy}%`;
      items.push(img);
    }
  }
  const h = state.herePoint;
  if (h) {
    const dot = el("span", { class: "dot" });
    const [x, y] = tileXY(h.lon, h.lat, z);
    pos(dot, x, y);
    items.push(dot);
  }
  box.replaceChildren(...items);
}

/** One legend class in words: "below 9 °C", "9 to 26 °C – no heat stress". */
function legendText(c, unitKey) {
  const fmt = (v) => (unitKey ? t(unitKey, { v: num(v) }) : num(v));
  let text;
  if (c.min === null || c.min === undefined) text = t("maps.below", { v: fmt(c.max) });
  else if (c.max === null || c.max === undefined) text = t("maps.above", { v: fmt(c.min) });
  else text = t("maps.range", { lo: num(c.min), hi: fmt(c.max) });
  const m = /: (.+)$/.exec(c.label || "");
  if (m) {
    const key = `maps.stress.${m[1]}`;
    const stress = t(key);
    if (stress !== key) text += ` – ${stress}`;
  }
  return text;
}

function renderMaps() {
  $("maps-pick").hidden = !state.mapsOn;
  for (const b of document.querySelectorAll("#map-layers button")) b.setAttribute("aria-pressed", String(b.dataset.layer === state.mapLayer));
  const m = state.maps;
  const layer = m && m.layers[state.mapLayer];
  const legendBox = $("map-legend");
  legendBox.replaceChildren();
  if (!layer) {
    $("map-figure").hidden = true;
    return;
  }
  const what = t(`maps.${state.mapLayer}`);
  const date = dateText(new Date(`${m.requested}T12:00:00Z`));
  const when = t({ 0: "view.now", 5: "view.in5", 10: "view.in10", 20: "view.in20" }[m.years]).toLowerCase();
  const season = t(`view.${m.season}`).toLowerCase();
  let caption = t("maps.for", { what, date, when, season });
  if (HEAT_LAYERS.has(state.mapLayer)) caption += ` ${t("maps.heat_note")}`;
  $("map-caption").textContent = caption;
  const box = $("map2d");
  box.setAttribute("aria-label", t("maps.alt", { what, date }));
  box.dataset.date = m.requested;
  drawMosaic(box, layer);
  $("map-figure").hidden = false;
  const unitKey = MAP_UNITS[layer.unit];
  const items = (layer.legend.classes || []).map((c) => el("li", {},
    el("span", { class: "swatch", "aria-hidden": "true", style: `background:${c.color}` }),
    el("span", { text: legendText(c, unitKey) })));
  legendBox.append(
    el("h3", { id: "h-map-legend", text: t("maps.legend", { what }) }),
    el("ul", { class: "legend", id: "map-legend-list", "aria-labelledby": "h-map-legend" }, ...items),
  );
}

/** The chosen map over the 3D view's ground (when the 3D view runs). */
function drawMapLayer3d() {
  const viewer = view.viewer;
  if (!viewer) return;
  const Cesium = window.Cesium;
  if (view.mapLayer) {
    viewer.imageryLayers.remove(view.mapLayer, true);
    view.mapLayer = null;
  }
  const layer = state.maps && state.maps.layers[state.mapLayer];
  if (layer) {
    const provider = new Cesium.UrlTemplateImageryProvider({
      url: layer.url,
      rectangle: Cesium.Rectangle.fromDegrees(...layer.bounds),
      minimumLevel: layer.zoom[0],
      maximumLevel: layer.zoom[1],
    });
    view.mapLayer = viewer.imageryLayers.addImageryProvider(provider);
    view.mapLayer.alpha = 0.75;
  }
  viewer.scene.requestRender();
}

function setMapLayer(name) {
  state.mapLayer = name;
  renderMaps();
  drawMapLayer3d();
}

function setMode(mode) {
  state.mode = mode;
  renderTreesText();
  renderFacts();
  drawScenario();
}

// ------------------------------------------------------------------ what changes here
async function search(q) {
  const box = $("search-results");
  box.replaceChildren();
  if (!q.trim()) return;
  let doc;
  try {
    doc = await api(`/api/hub/search?q=${encodeURIComponent(q)}`);
  } catch (err) {
    box.append(el("p", { class: "error", text: t("error.generic") }));
    return;
  }
  if (!doc.results.length) {
    box.append(el("p", { text: t("here.noresults", { q }) }));
    return;
  }
  const ul = el("ul", { class: "results", "aria-label": t("here.results") });
  for (const r of doc.results) {
    const label = r.name ? `${r.label} (${r.name})` : `${r.label} (${t("here.building", { id: r.building })})`;
    ul.append(el("li", {}, el("button", { type: "button", text: t("here.choose", { label }), onclick: () => showHere(r.lon, r.lat, r.label) })));
  }
  box.append(el("h3", { text: t("here.results") }), ul);
}

async function showHere(lon, lat, label = null) {
  const p = state.current;
  if (!p) return;
  state.hereLabel = label;
  state.herePoint = { lon, lat, label };
  // with the maps shown, the values are those of the chosen time's maps
  const when = state.mapsOn ? `&years=${state.years}&season=${state.season}` : "";
  try {
    state.here = await api(`/api/hub/proposals/${encodeURIComponent(p.id)}/here?lon=${lon}&lat=${lat}&radius=150${when}`);
  } catch (err) {
    state.here = null;
  }
  renderHere();
  markHere();
  if (state.mapsOn) renderMaps(); // the dot on the map
}

function changeText(c) {
  const d = c.detail || {};
  return t(`change.${c.kind}`, { species: d.species || "?", h: d.height_m === undefined || d.height_m === null ? "?" : num(d.height_m, 1) });
}

function renderHere() {
  const box = $("here");
  box.replaceChildren();
  const h = state.here;
  if (!h) return;
  box.append(el("h3", { id: "here-title", text: state.hereLabel || h.place ? t("here.at", { label: state.hereLabel || h.place.label }) : t("here.at_point") }));
  if (h.changes.length) {
    box.append(el("p", { text: t("here.radius", { r: num(h.radius_m) }) }));
    box.append(el("ul", { class: "facts" }, ...h.changes.slice(0, 12).map((c) => el("li", { text: t("here.distance", { what: changeText(c), d: num(c.distance_m) }) }))));
  } else {
    box.append(el("p", { text: t("here.nothing", { r: num(h.radius_m) }) }));
  }
  box.append(el("h3", { text: t("here.effects") }));
  if (h.time) box.append(el("p", { class: "note", "data-here-date": h.time.date, text: t("here.dated", { date: dateText(new Date(`${h.time.date}T12:00:00Z`)) }) }));
  else if (h.effects_status === "computed") box.append(el("p", { class: "note", "data-here-date": "", text: t("here.undated") }));
  const shown = [...INDICATORS, ...DATED_INDICATORS.filter(([key]) => key in h.effects)];
  const dl = el("dl", { class: "effects", id: "here-effects" });
  for (const [key, label, unit] of shown) {
    const v = h.effects[key];
    const fmt = (x) => (x === null || x === undefined ? t("effects.not_computed") : t(unit, { v: num(x, 1) }));
    dl.append(el("dt", { text: t(label) }), el("dd", { "data-indicator": key, text: `${t("chart.before")}: ${fmt(v.before)} · ${t("chart.after")}: ${fmt(v.after)}` }));
  }
  box.append(dl);
  if (h.effects_status !== "computed") {
    box.append(el("p", { class: "note", "data-status": "not-computed", text: t("effects.not_computed_note") }));
  } else {
    for (const [key, label, unit] of shown) {
      const v = h.effects[key];
      if (v.before === null || v.after === null) continue;
      const fig = el("figure", { class: "chart", id: `chart-here-${key}` });
      box.append(fig);
      barChart(fig, t("chart.beforeafter", { what: t(label) }), [
        { label: t("chart.before"), value: v.before, text: t(unit, { v: num(v.before, 1) }), colour: "#6b7a73" },
        { label: t("chart.after"), value: v.after, text: t(unit, { v: num(v.after, 1) }) },
      ]);
    }
  }
}

// ------------------------------------------------------------------ votes
function renderVotes() {
  const v = state.votes;
  $("vote-up").textContent = t("votes.count", { label: t("votes.for"), n: num(v.up) });
  $("vote-down").textContent = t("votes.count", { label: t("votes.against"), n: num(v.down) });
  $("vote-up").setAttribute("aria-pressed", String(v.mine === 1));
  $("vote-down").setAttribute("aria-pressed", String(v.mine === -1));
}

async function vote(which) {
  const p = state.current;
  if (!p) return;
  const status = $("vote-status");
  try {
    await ensureIdentity();
  } catch (err) {
    status.textContent = t("error.nickname");
    $("nickname").focus();
    return;
  }
  const value = state.votes.mine === (which === "up" ? 1 : -1) ? "none" : which;
  try {
    state.votes = await api(`/api/scenarios/${encodeURIComponent(p.id)}/votes`, { method: "POST", body: JSON.stringify({ value }) });
    status.textContent = t("votes.thanks");
  } catch (err) {
    status.textContent = err.status === 429 ? t("error.rate") : t("error.generic");
  }
  renderVotes();
}

// ------------------------------------------------------------------ comments
function randomKey() {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

async function ensureIdentity() {
  const nickname = $("nickname").value.trim().replace(/\s+/g, " ");
  if (nickname.length < 2 || nickname.length > 40) throw new ApiError(422, "schema", "nickname");
  if (state.identity && state.identity.nickname === nickname) return state.identity;
  const saved = state.identity;
  state.identity = null;
  try {
    const doc = await api("/api/hub/identity", { method: "POST", body: JSON.stringify({ nickname }) });
    state.identity = doc;
  } catch (err) {
    state.identity = saved;
    throw err;
  }
  if (!KIOSK) {
    try { localStorage.setItem("greentwin.hub.identity", JSON.stringify(state.identity)); } catch (e) { /* private mode */ }
  }
  return state.identity;
}

async function loadComments() {
  const p = state.current;
  if (!p) return;
  let after = 0;
  for (let page = 0; page < 20; page++) {
    const doc = await api(`/api/scenarios/${encodeURIComponent(p.id)}/comments?after=${after}&limit=500`).catch(() => null);
    if (!doc) break;
    for (const c of doc.comments) state.comments.set(c.id, c);
    if (doc.comments.length < 500) break;
    after = doc.comments[doc.comments.length - 1].id;
  }
  renderComments();
}

function commentItem(c) {
  const li = el("li", { class: c.hidden && c.text === null ? "comment hidden-comment" : "comment", id: `comment-${c.id}`, "data-id": String(c.id) });
  if (c.hidden && c.text === null) {
    li.append(el("p", { class: "body", text: t("comments.hidden", { reason: c.hidden_reason || "" }) }));
    return li;
  }
  const when = new Date(c.created * 1000);
  const who = el("p", { class: "who" });
  const name = el("strong", { text: c.nickname || "" });
  const time = el("time", { datetime: when.toISOString(), text: dateText(when, { dateStyle: "medium", timeStyle: "short" }) });
  who.append(name, " · ", time);
  if (c.verified) who.append(" · ", el("span", { class: "verified", text: t("comments.verified") }));
  if (c.mine) who.append(" ", t("comments.mine"));
  li.append(who, el("p", { class: "body", text: c.text || "" }));
  if (c.hidden) li.append(el("p", { class: "note", text: t("comments.hidden", { reason: c.hidden_reason || "" }) }));
  return li;
}

function renderComments() {
  const ol = $("comments");
  const items = [...state.comments.values()].sort((a, b) => a.id - b.id);
  ol.replaceChildren(...items.map(commentItem));
  $("comments-empty").hidden = items.length > 0;
}

function addComment(c, live) {
  const known = state.comments.get(c.id);
  state.comments.set(c.id, known && known.mine ? { ...c, mine: true } : c);
  if (!known) {
    const item = commentItem(state.comments.get(c.id));
    $("comments").append(item);
    $("comments-empty").hidden = true;
    if (live) announce(t("comments.new", { name: c.nickname || "" }));
  } else {
    renderComments();
  }
}

function updateCounter() {
  const n = $("text").value.length;
  $("counter").textContent = t("comments.counter", { n: num(n), max: num(MAX_CHARS) });
}

async function sendComment(ev) {
  ev.preventDefault();
  const p = state.current;
  const status = $("form-status");
  status.className = "";
  const text = $("text").value;
  if (!p) return;
  if (!text.trim()) {
    status.className = "error";
    status.textContent = t("error.empty");
    $("text").focus();
    return;
  }
  if (text.length > MAX_CHARS) {
    status.className = "error";
    status.textContent = t("error.too_long");
    return;
  }
  try {
    await ensureIdentity();
  } catch (err) {
    status.className = "error";
    status.textContent = err.status === 429 ? t("error.rate") : t("error.nickname");
    $("nickname").focus();
    return;
  }
  state.draftKey = state.draftKey || randomKey(); // kept across retries: no duplicates
  $("send").disabled = true;
  status.textContent = t("comments.sending");
  // a resident code (a citizen token from the planning office) marks the comment verified;
  // it is read from the field for each post and never stored
  const code = $("resident-code").value.trim();
  try {
    const c = await api(`/api/scenarios/${encodeURIComponent(p.id)}/comments`, {
      method: "POST",
      headers: code ? { Authorization: `Bearer ${code}` } : {},
      body: JSON.stringify({ text, client_key: state.draftKey }),
    });
    addComment(c, false);
    state.draftKey = null;
    $("text").value = "";
    updateCounter();
    status.textContent = t("comments.sent");
  } catch (err) {
    status.className = "error";
    if (err.status === 429) status.textContent = t("error.rate");
    else if (err.status === 401 && code) status.textContent = t("error.code");
    else if (err.status === 422 && err.code === "too_large") status.textContent = t("error.too_long");
    else status.textContent = t("error.generic");
  } finally {
    $("send").disabled = false;
  }
}

// ------------------------------------------------------------------ live channel
function connectLive() {
  const proto = window.location.protocol === "https:" ? "wss:" : "ws:";
  let ws;
  try {
    ws = new WebSocket(`${proto}//${window.location.host}/ws`);
  } catch (err) {
    return;
  }
  state.ws = ws;
  ws.addEventListener("open", () => {
    ws.send(JSON.stringify({ type: "hello", protocol: "greentwin/1", role: "viewer" }));
  });
  ws.addEventListener("message", (ev) => {
    let msg;
    try { msg = JSON.parse(ev.data); } catch (e) { return; }
    onLive(msg);
  });
  ws.addEventListener("close", () => {
    if (state.ws !== ws) return;
    state.ws = null;
    state.live = false;
    const wait = Math.min(30, state.wsBackoff);
    state.wsBackoff = Math.min(30, state.wsBackoff * 2);
    window.setTimeout(connectLive, wait * 1000);
  });
}

function sendLive(msg) {
  if (state.ws && state.ws.readyState === WebSocket.OPEN && state.live) state.ws.send(JSON.stringify(msg));
}

function subscribe(id) {
  if (state.subscribed && state.subscribed !== id) sendLive({ type: "unsubscribe", scenario: state.subscribed });
  state.subscribed = id;
  sendLive({ type: "subscribe", scenario: id });
}

function onLive(msg) {
  const cur = state.current;
  switch (msg.type) {
    case "welcome":
      state.live = true;
      state.wsBackoff = 1;
      if (state.subscribed) sendLive({ type: "subscribe", scenario: state.subscribed });
      break;
    case "snapshot":
      if (cur && msg.scenario === cur.id) {
        state.liveReady = true;
        loadComments(); // catch up on anything posted while disconnected
      }
      break;
    case "comment":
      if (cur && msg.scenario === cur.id) addComment(msg.comment, true);
      break;
    case "comment_hidden":
      if (cur && msg.scenario === cur.id) {
        const c = state.comments.get(msg.id);
        if (c) {
          state.comments.set(msg.id, { ...c, hidden: true, hidden_reason: msg.reason, text: null, nickname: null });
          renderComments();
        }
      }
      break;
    case "votes":
      if (cur && msg.scenario === cur.id) {
        state.votes = { ...state.votes, up: msg.up, down: msg.down };
        renderVotes();
      }
      break;
    default:
      break;
  }
}

// ------------------------------------------------------------------ 3D view (CesiumJS)
const view = { viewer: null, loading: null, tiles: {}, trees: [], others: [], marker: null };

function loadCesium() {
  if (window.Cesium) return Promise.resolve(window.Cesium);
  window.CESIUM_BASE_URL = "/cesium/";
  return new Promise((resolve, reject) => {
    const css = el("link", { rel: "stylesheet", href: "/cesium/Widgets/widgets.css" });
    document.head.append(css);
    const s = el("script", { src: "/cesium/Cesium.js" });
    s.addEventListener("load", () => resolve(window.Cesium));
    s.addEventListener("error", () => reject(new Error("CesiumJS could not be loaded")));
    document.head.append(s);
  });
}

function startView3d() {
  if (view.loading) return view.loading.then(() => refreshView());
  $("view3d-status").textContent = t("view.loading");
  view.loading = (async () => {
    const Cesium = await loadCesium();
    const viewer = new Cesium.Viewer("view3d", {
      baseLayer: false, baseLayerPicker: false, geocoder: false, homeButton: false,
      sceneModePicker: false, navigationHelpButton: false, animation: false, timeline: false,
      fullscreenButton: false, infoBox: false, selectionIndicator: false,
      requestRenderMode: true, maximumRenderTimeChange: Infinity,
    });
    viewer.scene.globe.baseColor = Cesium.Color.fromCssColorString("#cfdccf");
    viewer.scene.skyAtmosphere.show = false;
    viewer.scene.splitPosition = state.split;
    const canvas = viewer.scene.canvas;
    canvas.setAttribute("role", "img");
    canvas.setAttribute("aria-label", t("view.alt"));
    canvas.setAttribute("aria-describedby", "facts");
    if (KIOSK) stripExternalLinks(viewer.container);
    const handler = new Cesium.ScreenSpaceEventHandler(canvas);
    handler.setInputAction((ev) => {
      const ray = viewer.camera.getPickRay(ev.position);
      const hit = ray && viewer.scene.globe.pick(ray, viewer.scene);
      if (!hit) return;
      const c = Cesium.Cartographic.fromCartesian(hit);
      showHere(Cesium.Math.toDegrees(c.longitude), Cesium.Math.toDegrees(c.latitude));
    }, Cesium.ScreenSpaceEventType.LEFT_CLICK);
    view.viewer = viewer;
    window.hub.viewer = viewer;
    $("view3d-status").textContent = "";
  })();
  view.loading.catch(() => { $("view3d-status").textContent = t("view.unavailable"); });
  return view.loading.then(() => refreshView());
}

async function refreshView() {
  const viewer = view.viewer;
  const p = state.current;
  if (!viewer || !p) return;
  const Cesium = window.Cesium;
  for (const ts of Object.values(view.tiles)) viewer.scene.primitives.remove(ts);
  view.tiles = {};
  const base = p.layers.baseline_tiles.buildings;
  const own = p.layers.tiles.buildings;
  const load = async (name, url) => {
    try {
      const ts = await Cesium.Cesium3DTileset.fromUrl(url);
      viewer.scene.primitives.add(ts);
      view.tiles[name] = ts;
    } catch (err) {
      console.warn(`tileset ${name}:`, err);
    }
  };
  if (base) await load("before", base.url);
  if (own && (!base || own.url !== base.url)) await load("after", own.url);
  const bbox = p.bbox;
  const [lon, lat] = bbox ? [(bbox[0] + bbox[2]) / 2, (bbox[1] + bbox[3]) / 2] : [13.4806, 52.5163];
  viewer.camera.setView({
    destination: Cesium.Cartesian3.fromDegrees(lon, lat - 0.0035, 320),
    orientation: { heading: 0, pitch: Cesium.Math.toRadians(-40), roll: 0 },
  });
  drawScenario();
  drawMapLayer3d();
}

let discImage = null;
function disc() {
  if (discImage) return discImage;
  const c = document.createElement("canvas");
  c.width = c.height = 64;
  const g = c.getContext("2d");
  g.fillStyle = "#ffffff";
  g.beginPath();
  g.ellipse(32, 32, 31, 31, 0, 0, Math.PI * 2);
  g.fill();
  discImage = c;
  return c;
}

/** Draw the proposal's trees (crown discs sized in metres, coloured by season) and its
 *  other changes; billboards follow the swipe (split) like the tilesets. */
function drawScenario() {
  const viewer = view.viewer;
  const p = state.current;
  if (!viewer || !p) return;
  const Cesium = window.Cesium;
  for (const e of [...view.trees, ...view.others]) viewer.entities.remove(e);
  view.trees = [];
  view.others = [];
  const split = state.mode === "swipe" ? Cesium.SplitDirection.RIGHT : Cesium.SplitDirection.NONE;
  const showProposal = state.mode !== "before";
  if (view.tiles.before) {
    view.tiles.before.show = !(state.mode === "after" && view.tiles.after);
    view.tiles.before.splitDirection = state.mode === "swipe" ? Cesium.SplitDirection.LEFT : Cesium.SplitDirection.NONE;
  }
  if (view.tiles.after) {
    view.tiles.after.show = showProposal;
    view.tiles.after.splitDirection = split;
  }
  if (showProposal && state.trees) {
    for (const tr of state.trees.trees) {
      const [r, g, b] = tr.colour;
      const crownH = Math.max(0.5, tr.crown_height_m);
      const trunkH = Math.max(0.5, tr.height_m - crownH);
      view.trees.push(viewer.entities.add({
        position: Cesium.Cartesian3.fromDegrees(tr.lon, tr.lat, trunkH / 2),
        billboard: { image: disc(), sizeInMeters: true, width: 0.35, height: trunkH, color: Cesium.Color.fromCssColorString("#5a3f24"), splitDirection: split },
      }));
      view.trees.push(viewer.entities.add({
        position: Cesium.Cartesian3.fromDegrees(tr.lon, tr.lat, trunkH + crownH / 2),
        billboard: { image: disc(), sizeInMeters: true, width: tr.crown_diameter_m, height: crownH, color: new Cesium.Color(r, g, b, 0.35 + 0.6 * tr.leaf_fraction), splitDirection: split },
      }));
    }
  }
  if (showProposal) {
    for (const c of p.changes) {
      if (c.kind !== "barrier" && c.kind !== "building_added") continue;
      const h = Number(c.detail.height_m || 3);
      view.others.push(viewer.entities.add({
        position: Cesium.Cartesian3.fromDegrees(c.lon, c.lat, h / 2),
        billboard: { image: disc(), sizeInMeters: true, width: c.kind === "barrier" ? 6 : 14, height: h, color: Cesium.Color.fromCssColorString(c.kind === "barrier" ? "#6b7a73" : "#c9b79c"), splitDirection: split },
      }));
    }
  }
  viewer.scene.splitPosition = state.split;
  viewer.scene.requestRender();
}

function markHere() {
  const viewer = view.viewer;
  const h = state.here;
  if (!viewer || !h) return;
  const Cesium = window.Cesium;
  if (view.marker) viewer.entities.remove(view.marker);
  view.marker = viewer.entities.add({
    position: Cesium.Cartesian3.fromDegrees(h.point.lon, h.point.lat, 2),
    point: { pixelSize: 14, color: Cesium.Color.fromCssColorString("#b3460b"), outlineColor: Cesium.Color.WHITE, outlineWidth: 2 },
  });
  viewer.scene.requestRender();
}

// ------------------------------------------------------------------ kiosk mode
function stripExternalLinks(root) {
  const sweep = () => {
    for (const a of root.querySelectorAll("a[href]")) {
      let url;
      try { url = new URL(a.getAttribute("href"), window.location.href); } catch (e) { url = null; }
      if (!url || url.origin !== window.location.origin) {
        a.removeAttribute("href");
        a.removeAttribute("target");
        a.setAttribute("aria-disabled", "true");
      }
    }
  };
  sweep();
  new MutationObserver(sweep).observe(root, { childList: true, subtree: true });
}

let idleTimer = null;
function kioskActivity() {
  if (idleTimer) window.clearTimeout(idleTimer);
  idleTimer = window.setTimeout(resetKiosk, IDLE_S * 1000);
}

async function resetKiosk() {
  state.identity = null;
  state.draftKey = null;
  for (const id of ["nickname", "resident-code", "text", "q"]) $(id).value = "";
  for (const id of ["form-status", "vote-status"]) $(id).textContent = "";
  $("search-results").replaceChildren();
  state.here = null;
  state.herePoint = null;
  state.mapsOn = false;
  state.maps = null;
  state.mapLayer = "noise_lden";
  state.years = 0;
  state.season = "summer";
  state.mode = "after";
  await setLang(DEFAULT_LANG);
  if (window.location.hash && window.location.hash !== "#/") window.location.hash = "#/";
  else await route();
  window.scrollTo(0, 0);
  announce(t("kiosk.reset"));
  document.body.dataset.resets = String(Number(document.body.dataset.resets || 0) + 1);
  kioskActivity();
}

function setupKiosk() {
  document.body.classList.add("kiosk");
  stripExternalLinks(document.body);
  document.addEventListener("contextmenu", (e) => e.preventDefault());
  document.addEventListener("click", (e) => {
    const a = e.target.closest && e.target.closest("a");
    if (a && a.href && new URL(a.href).origin !== window.location.origin) e.preventDefault();
  }, true);
  document.addEventListener("dragstart", (e) => e.preventDefault());
  document.addEventListener("pointerdown", () => {
    if (!document.fullscreenElement && document.documentElement.requestFullscreen) {
      document.documentElement.requestFullscreen().catch(() => {});
    }
  }, { once: true });
  for (const type of ["pointerdown", "keydown", "wheel", "touchstart", "input"]) {
    document.addEventListener(type, kioskActivity, { passive: true, capture: true });
  }
  kioskActivity();
}

// ------------------------------------------------------------------ routing and wiring
async function route() {
  const m = window.location.hash.match(/^#\/p\/([a-z0-9-]{1,64})$/);
  if (m) {
    await openProposal(m[1]);
  } else {
    if (state.subscribed) sendLive({ type: "unsubscribe", scenario: state.subscribed });
    state.subscribed = null;
    state.current = null;
    document.title = t("meta.title");
    $("view-proposal").hidden = true;
    $("view-list").hidden = false;
    await loadProposals();
    if (document.activeElement && document.activeElement !== document.body) $("list-title").focus();
  }
}

function renderAll() {
  if (state.current) renderProposal();
  else renderList();
  if (view.viewer) view.viewer.scene.canvas.setAttribute("aria-label", t("view.alt"));
}

function wire() {
  for (const b of document.querySelectorAll("button.lang")) b.addEventListener("click", () => setLang(b.dataset.lang));
  $("back").addEventListener("click", () => { window.location.hash = "#/"; });
  for (const b of document.querySelectorAll("#years button")) b.addEventListener("click", () => setTime(Number(b.dataset.years)));
  $("course-load").addEventListener("click", () => loadCourse());
  $("maps-load").addEventListener("click", () => loadMaps());
  for (const b of document.querySelectorAll("#map-layers button")) b.addEventListener("click", () => setMapLayer(b.dataset.layer));
  for (const b of document.querySelectorAll("#seasons button")) b.addEventListener("click", () => setTime(undefined, b.dataset.season));
  for (const b of document.querySelectorAll("#modes button")) b.addEventListener("click", () => setMode(b.dataset.mode));
  $("swipe").addEventListener("input", () => {
    state.split = Number($("swipe").value) / 100;
    $("swipe-line").style.left = `${state.split * 100}%`;
    if (view.viewer) { view.viewer.scene.splitPosition = state.split; view.viewer.scene.requestRender(); }
  });
  $("search-form").addEventListener("submit", (e) => { e.preventDefault(); search($("q").value); });
  $("vote-up").addEventListener("click", () => vote("up"));
  $("vote-down").addEventListener("click", () => vote("down"));
  $("comment-form").addEventListener("submit", sendComment);
  $("text").addEventListener("input", updateCounter);
  window.addEventListener("hashchange", () => route());
}

async function main() {
  state.cache.en = await loadStrings("en");
  state.strings = await loadStrings(DEFAULT_LANG);
  state.lang = DEFAULT_LANG;
  applyStrings();
  if (!KIOSK) {
    try {
      const saved = JSON.parse(localStorage.getItem("greentwin.hub.identity") || "null");
      if (saved && saved.token) {
        state.identity = saved;
        $("nickname").value = saved.nickname;
      }
    } catch (e) { /* no storage */ }
  }
  wire();
  if (KIOSK) setupKiosk();
  connectLive();
  updateCounter();
  await route();
}

window.hub = { state, t, setLang, setTime, reset: resetKiosk, viewer: null, view };
window.hub.ready = main();
