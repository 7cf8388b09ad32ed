// greentwin planners' viewer: the green layer over time.
//
// - Time: the year slider and date field of app.js (event "greentwin:time") plus a season
//   picker here switch the vegetation layer to the tileset of that date's half-month
//   (GET /api/vegetation?scenario=&date= builds it on demand and returns its URL).
// - Clicking a tree shows its species, age, size, leaf phase and services
//   (GET /api/green/trees?row=&scenario=&date=).
// - Services panel: totals for the visible area, a drawn polygon, or the whole district
//   (POST /api/green/area).
// Exposes window.greentwin.green = {setDate, pickTree, totals, current} for tests.

import { authHeaders } from "./live.js";

const Cesium = window.Cesium;
const $ = (id) => document.getElementById(id);

const SEASONS = [
  ["", "Keep the date"],
  ["01-15", "Winter (15 January)"],
  ["04-23", "Spring (23 April)"],
  ["07-08", "Summer (8 July)"],
  ["10-15", "Autumn (15 October)"],
];

const SERVICE_ROWS = [
  ["carbon_kg", "Carbon stored", "kg C", 1],
  ["co2_kg", "CO₂ equivalent", "kg", 1],
  ["sequestration_kg_per_year", "Sequestration", "kg C / year", 2],
  ["co2_sequestration_kg_per_year", "CO₂ sequestration", "kg / year", 2],
  ["leaf_area_m2", "Leaf area", "m²", 1],
  ["pm10_removal_g_per_year", "PM10 removal", "g / year", 1],
  ["pm25_removal_g_per_year", "PM2.5 removal", "g / year", 1],
  ["canopy_m2", "Crown projection", "m²", 1],
];

function escapeHTML(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

async function getJSON(url, init = {}) {
  // a draft's green layer needs the planner's token
  const resp = await fetch(url, { ...init, headers: { ...(init.headers ?? {}), ...authHeaders() } });
  const body = await resp.json().catch(() => ({}));
  if (!resp.ok) throw new Error(body?.error?.message || `${resp.status} ${resp.statusText}`);
  return body;
}

const fmt = (v, digits = 1) => (typeof v === "number" && Number.isFinite(v) ? v.toLocaleString("en", { maximumFractionDigits: digits }) : "–");

function panelHTML() {
  const seasons = SEASONS.map(([v, label]) => `<option value="${v}">${label}</option>`).join("");
  return `
    <h2 id="h-green">Green layer</h2>
    <div class="row">
      <label for="season">Season</label>
      <select id="season">${seasons}</select>
    </div>
    <p id="green-status" class="note" role="status" aria-live="polite"></p>
    <div id="tree-info" aria-live="polite"><p class="note">Click a tree to see its species, size and services.</p></div>
    <h3 id="h-services">Services of an area</h3>
    <div class="buttons" role="group" aria-labelledby="h-services">
      <button id="svc-visible" type="button">Visible area</button>
      <button id="svc-district" type="button">Whole district</button>
      <button id="svc-draw" type="button" aria-pressed="false">Draw a polygon</button>
      <button id="svc-finish" type="button" disabled>Finish polygon</button>
    </div>
    <p class="note" id="svc-help">Drawing: click points on the map, then press Enter or “Finish polygon”; Escape cancels.</p>
    <div id="svc-result" aria-live="polite"></div>`;
}

function servicesTable(values, caption) {
  const rows = SERVICE_ROWS.map(
    ([k, label, unit, d]) => `<tr><th scope="row">${label}</th><td>${fmt(values[k], d)} ${unit}</td></tr>`,
  ).join("");
  return `<table><caption class="note">${escapeHTML(caption)}</caption>${rows}</table>`;
}

export function install(g) {
  const viewer = g.viewer;
  const params = new URLSearchParams(window.location.search);
  const scenario = params.get("scenario") || "baseline";
  const section = document.createElement("section");
  section.setAttribute("aria-labelledby", "h-green");
  section.id = "green";
  section.innerHTML = panelHTML();
  const info = $("info")?.closest("section");
  $("panel").insertBefore(section, info ?? null);

  const status = (text) => {
    $("green-status").textContent = text;
  };
  const current = { url: null, bucket: null, date: null };
  let swap = Promise.resolve();
  let timer = null;

  // ---------------------------------------------------------------- vegetation per date
  async function tilesLoaded(ts, timeoutMs = 60000) {
    const t0 = performance.now();
    while (!ts.tilesLoaded && performance.now() - t0 < timeoutMs) {
      await new Promise((r) => requestAnimationFrame(r));
    }
  }

  async function loadDate(date) {
    const doc = await getJSON(`/api/vegetation?scenario=${encodeURIComponent(scenario)}&date=${date}`);
    current.date = date;
    if (doc.url === current.url) {
      status(`Trees drawn for ${doc.bucket} (half-month of ${date})`);
      return doc;
    }
    status(`Loading the trees of ${doc.bucket}…`);
    const ts = await Cesium.Cesium3DTileset.fromUrl(new Cesium.Resource({ url: doc.url, headers: authHeaders() }));
    const old = g.tilesets.vegetation;
    ts.show = old ? old.show : $("layer-vegetation")?.checked !== false;
    viewer.scene.primitives.add(ts);
    await tilesLoaded(ts);
    g.tilesets.vegetation = ts;
    if (old) viewer.scene.primitives.remove(old);
    current.url = doc.url;
    current.bucket = doc.bucket;
    status(`Trees drawn for ${doc.bucket} (half-month of ${date})`);
    return doc;
  }

  // Serialised: a later date waits for the earlier swap, so layers never race.
  function setDate(date) {
    swap = swap.catch(() => {}).then(() => loadDate(date));
    swap.catch((err) => status(`Trees could not be drawn: ${err.message}`));
    return swap;
  }

  document.addEventListener("greentwin:time", (ev) => {
    clearTimeout(timer);
    const date = ev.detail.date;
    timer = setTimeout(() => g.ready.then(() => setDate(date)).catch(() => {}), 400);
  });

  $("season").addEventListener("change", (ev) => {
    const mmdd = ev.target.value;
    if (!mmdd) return;
    const year = Number($("year").value) || new Date().getFullYear();
    const input = $("date");
    input.value = `${year}-${mmdd}`;
    input.dispatchEvent(new Event("change"));
  });

  // ---------------------------------------------------------------- tree picking
  function treeRow(picked) {
    if (!(picked instanceof Cesium.Cesium3DTileFeature)) return null;
    if (picked.tileset !== g.tilesets.vegetation) return null;
    const row = picked.getProperty("tree");
    return typeof row === "number" || typeof row === "bigint" ? Number(row) : null;
  }

  async function showTree(row) {
    const date = current.date || g.state.time?.date;
    const doc = await getJSON(`/api/green/trees?row=${row}&scenario=${encodeURIComponent(scenario)}&date=${date}`);
    const t = doc.tree;
    const s = t.state;
    const name = t.common_name ? `${t.scientific_name} (${t.common_name})` : t.scientific_name;
    const dims = [
      ["Species", escapeHTML(name)],
      ["Age", `${fmt(s.age_years, 0)} years`],
      ["Height", `${fmt(s.height_m, 1)} m`],
      ["Crown diameter", `${fmt(s.crown_diameter_m, 1)} m`],
      ["Stem diameter (dbh)", `${fmt(s.dbh_cm, 1)} cm`],
      ["Leaf phase", escapeHTML(String(s.leaf_phase).replace("_", " "))],
    ]
      .map(([k, v]) => `<tr><th scope="row">${k}</th><td>${v}</td></tr>`)
      .join("");
    $("tree-info").innerHTML =
      `<p><strong class="tree-species">${escapeHTML(name)}</strong> <span class="note">${escapeHTML(t.id)}, ${escapeHTML(doc.date)}</span></p>` +
      `<table><caption class="note">State</caption>${dims}</table>` +
      servicesTable(t.services, "Ecosystem services");
    status(`Selected tree ${t.id}: ${name}`);
    return doc;
  }

  async function pickTree(x, y) {
    const row = treeRow(viewer.scene.pick(new Cesium.Cartesian2(x, y)));
    if (row === null) return null;
    return showTree(row);
  }

  // ---------------------------------------------------------------- area services
  async function totals(polygon, label) {
    const date = current.date || g.state.time?.date;
    $("svc-result").innerHTML = '<p class="note">Summing…</p>';
    const doc = await getJSON("/api/green/area", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ scenario, date, polygon }),
    });
    const t = doc.totals;
    const cover = t.canopy_cover_fraction == null ? "" : `, canopy cover ${fmt(100 * t.canopy_cover_fraction, 0)} %`;
    $("svc-result").innerHTML =
      `<p><strong>${escapeHTML(label)}</strong>: ${t.trees} trees${cover}</p>` + servicesTable(t, `Totals on ${doc.date}`);
    status(`${label}: ${t.trees} trees`);
    return doc;
  }

  function visiblePolygon() {
    const rect = viewer.camera.computeViewRectangle(viewer.scene.globe.ellipsoid);
    if (!rect) return null;
    const d = Cesium.Math.toDegrees;
    const [w, s, e, n] = [d(rect.west), d(rect.south), d(rect.east), d(rect.north)];
    return [[w, s], [e, s], [e, n], [w, n]];
  }

  const drawing = { points: [], entity: null };
  function clearDrawing() {
    if (drawing.entity) viewer.entities.remove(drawing.entity);
    drawing.entity = null;
    drawing.points = [];
    $("svc-finish").disabled = true;
    $("svc-draw").setAttribute("aria-pressed", "false");
    if (g.tool === "draw") g.tool = null;
  }
  function redraw() {
    if (drawing.entity) viewer.entities.remove(drawing.entity);
    const pos = drawing.points.map(([lon, lat]) => Cesium.Cartesian3.fromDegrees(lon, lat));
    if (pos.length < 2) return;
    drawing.entity = viewer.entities.add({
      polyline: { positions: [...pos, pos[0]], width: 3, material: Cesium.Color.YELLOW, clampToGround: false },
    });
  }
  async function finishDrawing() {
    if (drawing.points.length < 3) {
      status("A polygon needs at least 3 points");
      return null;
    }
    const polygon = drawing.points.slice();
    clearDrawing();
    return totals(polygon, "Drawn polygon");
  }

  $("svc-visible").addEventListener("click", () => {
    const poly = visiblePolygon();
    if (!poly) return status("The view shows no ground");
    totals(poly, "Visible area").catch((err) => status(err.message));
  });
  $("svc-district").addEventListener("click", () => totals(null, "Whole district").catch((err) => status(err.message)));
  $("svc-draw").addEventListener("click", () => {
    clearDrawing();
    g.tool = "draw";
    $("svc-draw").setAttribute("aria-pressed", "true");
    status("Drawing: click points on the map; Enter finishes, Escape cancels");
  });
  $("svc-finish").addEventListener("click", () => finishDrawing().catch((err) => status(err.message)));
  document.addEventListener("keydown", (ev) => {
    if (g.tool !== "draw") return;
    if (ev.key === "Enter") {
      ev.preventDefault();
      finishDrawing().catch((err) => status(err.message));
    } else if (ev.key === "Escape") {
      clearDrawing();
      status("Drawing cancelled");
    }
  });

  const handler = new Cesium.ScreenSpaceEventHandler(viewer.scene.canvas);
  handler.setInputAction((movement) => {
    if (g.tool === "draw") {
      const cart = viewer.camera.pickEllipsoid(movement.position, viewer.scene.globe.ellipsoid);
      if (!cart) return;
      const c = Cesium.Cartographic.fromCartesian(cart);
      drawing.points.push([Cesium.Math.toDegrees(c.longitude), Cesium.Math.toDegrees(c.latitude)]);
      $("svc-finish").disabled = drawing.points.length < 3;
      redraw();
      status(`${drawing.points.length} point(s)`);
      return;
    }
    if (g.tool) return;
    pickTree(movement.position.x, movement.position.y).catch((err) => status(err.message));
  }, Cesium.ScreenSpaceEventType.LEFT_CLICK);

  g.green = { setDate, pickTree, showTree, totals, visiblePolygon, current };
}
