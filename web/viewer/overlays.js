// greentwin planners' viewer: noise and air overlays with legends, and a probe tool.
//
// Overlay layers come from GET /api/layers (kind "overlay": a versioned XYZ URL template,
// legend, zoom range and bounds). This list is the page's one overlay control: one overlay
// at a time. The live client (live.js) draws the overlays of the scenario it follows and
// swaps their versions on updates; an overlay it does not hold (yet) is drawn here as a
// UrlTemplateImageryProvider layer on the globe. The probe tool asks
// GET /api/probe?scenario=&lon=&lat= for every indicator at a point (value, unit, class;
// baseline and difference for scenarios; on a roof, noise at the building's most exposed
// facade). Exposes window.greentwin.overlays = {show, probe, layers, refresh} for tests.

import { authHeaders } from "./live.js";

const Cesium = window.Cesium;
const $ = (id) => document.getElementById(id);

const NAMES = {
  noise_lden: "Noise L_den (day-evening-night)",
  noise_lnight: "Noise L_night",
  noise_lden_cnossos: "Noise L_den, CNOSSOS-EU (no foliage; END reporting)",
  noise_lnight_cnossos: "Noise L_night, CNOSSOS-EU (no foliage; END reporting)",
  no2: "NO₂ annual mean",
  pm10: "PM10 annual mean",
  shade_hours: "Hours of shade (hot summer day)",
  tmrt: "Mean radiant temperature at 15:00 (hot summer day)",
  utci: "UTCI heat stress at 15:00 (hot summer day)",
};

function escapeHTML(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

const FROM_LEGEND = {}; // name -> the indicator its legend names (for names not above)

function label(name) {
  const base = name.startsWith("diff_") ? name.slice(5) : name;
  const text = NAMES[base] ?? FROM_LEGEND[base] ?? FROM_LEGEND[name] ?? base;
  return name === base ? text : `${text}: difference to the baseline`;
}

function legendHTML(legend) {
  if (!legend?.classes) return "";
  const items = legend.classes
    .map((c) => `<li><span class="swatch" style="background:${escapeHTML(c.color)}"></span>${escapeHTML(c.label)}</li>`)
    .join("");
  const note = legend.note ? `<p class="note">${escapeHTML(legend.note)}</p>` : "";
  return `<p class="note">${escapeHTML(legend.indicator)} (${escapeHTML(legend.unit)})</p><ul>${items}</ul>${note}`;
}

export function install(g) {
  const viewer = g.viewer;
  const params = new URLSearchParams(window.location.search);
  const scenario = params.get("scenario") || "baseline";
  const layers = {}; // name -> {entry, imagery}
  let opacity = 0.7;
  let current = null; // the overlay shown (name), none at first

  const section = document.createElement("section");
  section.id = "overlays";
  section.setAttribute("aria-labelledby", "h-overlays");
  section.innerHTML = `
    <h2 id="h-overlays">Noise, air and heat</h2>
    <ul id="overlay-list" class="layers"><li class="note">No overlays published yet.</li></ul>
    <div class="row">
      <label for="overlay-opacity">Overlay opacity <output id="overlay-opacity-out" for="overlay-opacity">70 %</output></label>
      <input id="overlay-opacity" type="range" min="0" max="100" step="5" value="70">
    </div>
    <div class="buttons">
      <button id="probe-tool" type="button" aria-pressed="false">Probe: click the map</button>
      <button id="probe-centre" type="button">Probe the view centre</button>
    </div>
    <div id="probe-result" aria-live="polite"></div>`;
  const after = $("green") ?? $("info")?.closest("section");
  $("panel").insertBefore(section, after ?? null);

  // The live client's imagery layer for an overlay, when it holds that one.
  // (none while the maps follow a date: timeline.js sets g.overlays.source)
  const liveHandle = (name) => (g.overlays?.source ? null : (g.live?.overlayHandle?.(name) ?? null));

  function ownImagery(item) {
    if (!item.imagery) {
      const e = item.entry;
      const [w, s, ea, n] = e.bounds;
      const provider = new Cesium.UrlTemplateImageryProvider({
        url: e.url,
        rectangle: Cesium.Rectangle.fromDegrees(w, s, ea, n),
        minimumLevel: e.zoom[0],
        maximumLevel: e.zoom[1],
        tileWidth: 256,
        tileHeight: 256,
        credit: "greentwin",
      });
      item.imagery = viewer.imageryLayers.addImageryProvider(provider);
    }
    return item.imagery;
  }

  // Draw the chosen overlay (through the live client when it holds it) and nothing else.
  function draw() {
    const live = current ? liveHandle(current) : null;
    for (const [n, item] of Object.entries(layers)) {
      const own = n === current && !live;
      const imagery = own ? ownImagery(item) : item.imagery;
      if (imagery) {
        imagery.alpha = opacity;
        imagery.show = own;
      }
      const box = $(`overlay-${n}`);
      if (box) box.checked = n === current;
      const legend = $(`overlay-legend-${n}`);
      if (legend) legend.hidden = n !== current;
    }
    if (g.live?.showOverlay && (live || g.live.overlay)) g.live.showOverlay(live ? current : null);
    if (live) live.alpha = opacity;
    viewer.scene.requestRender();
  }

  function show(name, on) {
    if (!layers[name]) return false;
    if (on) current = name;
    else if (current === name) current = null;
    draw();
    $("status").textContent = `${label(name)} ${on ? "shown" : "hidden"}`;
    return true;
  }

  function render(doc) {
    const list = $("overlay-list");
    const names = Object.keys(doc.layers ?? {}).filter((n) => doc.layers[n].kind === "overlay");
    if (!names.length) return;
    const note = $("overlay-note"); // "appear once published" (index.html): they are now
    if (note) note.hidden = true;
    list.innerHTML = "";
    for (const [name, item] of Object.entries(layers)) {
      if (names.includes(name) && item.entry.url === doc.layers[name].url) continue;
      if (item.imagery) viewer.imageryLayers.remove(item.imagery, true);
      if (names.includes(name)) item.imagery = null;
      else delete layers[name];
    }
    if (current && !names.includes(current)) current = null;
    for (const name of names) {
      const entry = doc.layers[name];
      if (entry.legend?.indicator && !name.startsWith("diff_")) FROM_LEGEND[name] = entry.legend.indicator;
    }
    for (const name of names) {
      const entry = doc.layers[name];
      layers[name] = { entry, imagery: layers[name]?.imagery ?? null };
      const li = document.createElement("li");
      li.innerHTML =
        `<input type="checkbox" id="overlay-${name}"><label for="overlay-${name}">${escapeHTML(label(name))}</label>` +
        `<div class="legend" id="overlay-legend-${name}" hidden aria-label="Legend: ${escapeHTML(label(name))}">${legendHTML(entry.legend)}</div>`;
      li.querySelector("input").addEventListener("change", (ev) => show(name, ev.target.checked));
      list.appendChild(li);
    }
    draw();
  }

  $("overlay-opacity").addEventListener("input", (ev) => {
    opacity = Number(ev.target.value) / 100;
    $("overlay-opacity-out").textContent = `${ev.target.value} %`;
    draw();
  });

  async function probe(lon, lat) {
    const q = `scenario=${encodeURIComponent(scenario)}&lon=${lon.toFixed(7)}&lat=${lat.toFixed(7)}`;
    const resp = await fetch(`/api/probe?${q}`);
    const doc = await resp.json();
    if (!resp.ok) throw new Error(doc?.error?.message || resp.statusText);
    const diffCols = doc.scenario !== doc.baseline;
    const rows = Object.entries(doc.values)
      .map(([name, v]) => {
        let value = v.value == null ? "no data" : `${v.value} ${escapeHTML(v.unit)}`;
        // on a roof: the building's most exposed facade (the END's rule), said so
        if (v.value != null && v.facade) value += ` <span class="note">(most exposed facade of ${escapeHTML(v.facade.building)})</span>`;
        const cls = v.class
          ? `<span class="swatch" style="background:${escapeHTML(v.class.color)}"></span>${escapeHTML(v.class.label)}`
          : "";
        const diff = diffCols
          ? `<td>${v.baseline ?? "–"}</td><td>${v.difference == null ? "–" : (v.difference > 0 ? "+" : "") + v.difference}</td>`
          : "";
        return `<tr><th scope="row">${escapeHTML(label(name))}</th><td class="probe-value">${value}</td><td>${cls}</td>${diff}</tr>`;
      })
      .join("");
    const head = `<tr><th scope="col">Indicator</th><th scope="col">Value</th><th scope="col">Class</th>${diffCols ? '<th scope="col">Baseline</th><th scope="col">Difference</th>' : ""}</tr>`;
    $("probe-result").innerHTML = doc.inside
      ? `<table><caption class="note">At ${lat.toFixed(5)}° N, ${lon.toFixed(5)}° E</caption>${head}${rows}</table>`
      : '<p class="note">No map values at that point (outside the computed area).</p>';
    $("status").textContent = doc.inside ? "Probe values shown" : "No map values at that point";
    return doc;
  }

  function groundAt(x, y) {
    const cart = viewer.camera.pickEllipsoid(new Cesium.Cartesian2(x, y), viewer.scene.globe.ellipsoid);
    if (!cart) return null;
    const c = Cesium.Cartographic.fromCartesian(cart);
    return [Cesium.Math.toDegrees(c.longitude), Cesium.Math.toDegrees(c.latitude)];
  }

  function setTool(on) {
    g.tool = on ? "probe" : g.tool === "probe" ? null : g.tool;
    $("probe-tool").setAttribute("aria-pressed", on ? "true" : "false");
    $("status").textContent = on ? "Probe: click a point on the map" : "Probe off";
  }
  $("probe-tool").addEventListener("click", () => setTool(g.tool !== "probe"));
  $("probe-centre").addEventListener("click", () => {
    const c = viewer.scene.canvas;
    const p = groundAt(c.clientWidth / 2, c.clientHeight / 2);
    if (p) probe(...p).catch((err) => ($("status").textContent = err.message));
  });
  const handler = new Cesium.ScreenSpaceEventHandler(viewer.scene.canvas);
  handler.setInputAction((movement) => {
    if (g.tool !== "probe") return;
    const p = groundAt(movement.position.x, movement.position.y);
    if (p) probe(...p).catch((err) => ($("status").textContent = err.message));
  }, Cesium.ScreenSpaceEventType.LEFT_CLICK);

  // GET /api/layers of a scenario (a draft's needs the planner's token).
  async function layersOf(sid) {
    const resp = await fetch(`/api/layers?scenario=${encodeURIComponent(sid)}`, { headers: authHeaders() });
    const doc = await resp.json();
    if (!resp.ok) throw new Error(doc?.error?.message || resp.statusText);
    return doc;
  }

  async function refresh() {
    const sid = g.live?.scenario || scenario;
    if (g.overlays?.source) {
      // the maps of a date (timeline.js: GET /api/maps), drawn in place of the current ones
      const dated = await g.overlays.source(sid);
      render(dated);
      return dated;
    }
    // the page's scenario's overlays with their legends, and those of the scenario the
    // live client follows where it holds overlays that list lacks (a draft's: the token)
    const doc = await layersOf(scenario);
    const held = g.live ? Object.entries(g.live.current()).filter(([, i]) => i.kind === "overlay") : [];
    if (sid !== scenario && held.some(([n]) => !(n in doc.layers))) {
      const more = await layersOf(sid);
      doc.layers = { ...doc.layers, ...more.layers };
    }
    render(doc);
    return doc;
  }
  let again = null; // one refresh for a burst of live layer swaps
  const refreshSoon = () => {
    clearTimeout(again);
    again = setTimeout(() => refresh().catch(() => {}), 100);
  };
  g.ready.then(refresh).catch(() => {});
  // A live update (another module) can announce new layer versions with this event.
  document.addEventListener("greentwin:layers", refreshSoon);
  // The live client (installed after this module) swaps overlay versions as they come.
  queueMicrotask(() => {
    g.live?.addEventListener("layer", (ev) => {
      if (ev.detail.info.kind === "overlay") refreshSoon();
      else if (current) draw();
    });
    g.live?.addEventListener("snapshot", refreshSoon);
  });

  g.overlays = { show, probe, refresh, layers, setTool };
}
