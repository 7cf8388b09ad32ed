// greentwin planners' viewer: CesiumJS served locally, no ion, no internet.
//
// Talks to the server over HTTP only: GET /api/layers (current URL of every layer),
// GET /api/health (demo build state), GET|PUT /api/time (the scenario's display time).
// For tests and scripting it exposes window.greentwin = {viewer, tilesets, ready, pickAt, ...}.

import { authHeaders, install as installLive } from "./live.js";
import { install as installEdit } from "./edit.js";

import { install as installGreen } from "./green.js";
import { install as installOverlays } from "./overlays.js";
import { install as installTimeline } from "./timeline.js";
import { install as installTraffic } from "./traffic.js";

const Cesium = window.Cesium;
const params = new URLSearchParams(window.location.search);
const SCENARIO = params.get("scenario") || "baseline";
const FLY_SECONDS = Number(params.get("fly") ?? 2);

const $ = (id) => document.getElementById(id);

// Semantic surface colours (CityGML boundary surface classes) and the fallback.
const SURFACE_COLOURS = [
  ["RoofSurface", "#b5443a", "Roof"],
  ["WallSurface", "#e8e1d1", "Wall"],
  ["GroundSurface", "#5b5b5b", "Ground"],
  ["ClosureSurface", "#9c9c9c", "Closure"],
  ["OuterCeilingSurface", "#c9c3b4", "Outer ceiling"],
  ["OuterFloorSurface", "#8c8678", "Outer floor"],
  ["Window", "#40668c", "Window"],
  ["Door", "#5a3820", "Door"],
];
const OTHER_COLOUR = "#bdbdb5";
// Sequential ramp (ColorBrewer YlOrRd, 5 classes) for numeric attributes.
const RAMP = ["#ffffb2", "#fecc5c", "#fd8d3c", "#f03b20", "#bd0026"];
const NO_DATA = "#9e9e9e";

const state = {
  layers: {}, // name -> {url, kind, version}
  time: null, // {year, date}
  mode: "surface",
  compare: false,
  split: 0.5,
  stats: {}, // numeric property -> {min, max}
};

const tilesets = {}; // layer name -> Cesium3DTileset (and "compare" for the right side)

function setStatus(text) {
  $("status").textContent = text;
}

function busy(text) {
  const el = $("busy");
  if (text) {
    $("busy-text").textContent = text;
    el.hidden = false;
  } else {
    el.hidden = true;
  }
}

async function getJSON(url, init) {
  const resp = await fetch(url, init);
  const body = await resp.json().catch(() => ({}));
  if (!resp.ok) {
    const msg = body?.error?.message || resp.statusText;
    throw new Error(`${url}: ${resp.status} ${msg}`);
  }
  return body;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
// The scene renders on request (requestRenderMode): ask for the frame that is awaited.
const nextFrame = (viewer) =>
  new Promise((resolve) => {
    const off = viewer.scene.postRender.addEventListener(() => {
      off();
      resolve();
    });
    viewer.scene.requestRender();
  });

// ------------------------------------------------------------------ viewer
function createViewer() {
  const imagery = Cesium.TileMapServiceImageryProvider.fromUrl(
    Cesium.buildModuleUrl("Assets/Textures/NaturalEarthII"),
  );
  const viewer = new Cesium.Viewer("cesium", {
    baseLayer: Cesium.ImageryLayer.fromProviderAsync(imagery),
    baseLayerPicker: false,
    geocoder: false,
    homeButton: false,
    sceneModePicker: false,
    navigationHelpButton: false,
    animation: false,
    timeline: false,
    fullscreenButton: false,
    infoBox: false,
    selectionIndicator: false,
    // Render only when something changes (camera, tiles, imagery, clock, or an explicit
    // requestRender): a render loop that draws every frame keeps the page busy for ever,
    // so a headless `chromium --screenshot` of the viewer never finished.
    requestRenderMode: true,
    maximumRenderTimeChange: Infinity,
  });
  viewer.scene.globe.enableLighting = true;
  viewer.clock.shouldAnimate = false;
  viewer.scene.splitPosition = state.split;
  wireRenderRequests(viewer);
  return viewer;
}

// Changes that Cesium does not notice by itself ask for a frame here: layers added or
// removed by any module, and every control in the panel (style, split, overlays, ...).
function wireRenderRequests(viewer) {
  const again = () => viewer.scene.requestRender();
  viewer.scene.primitives.primitiveAdded.addEventListener(again);
  viewer.scene.primitives.primitiveRemoved.addEventListener(again);
  viewer.imageryLayers.layerAdded.addEventListener(again);
  viewer.imageryLayers.layerRemoved.addEventListener(again);
  viewer.imageryLayers.layerShownOrHidden.addEventListener(again);
  viewer.dataSources.dataSourceAdded.addEventListener(again);
  viewer.dataSources.dataSourceRemoved.addEventListener(again);
  for (const type of ["input", "change", "click", "keydown"]) $("panel").addEventListener(type, again);
}

// ------------------------------------------------------------------ styles
function numericThresholds(prop) {
  const s = state.stats[prop];
  const min = s ? s.min : 0;
  const max = s && s.max > s.min ? s.max : min + 40;
  const step = (max - min) / RAMP.length;
  return RAMP.map((c, i) => [min + i * step, c]);
}

function styleFor(mode) {
  if (mode === "surface") {
    const conditions = SURFACE_COLOURS.map(([cls, hex]) => [
      `\${surface_type} === '${cls}'`,
      `color('${hex}')`,
    ]);
    conditions.push(["true", `color('${OTHER_COLOUR}')`]);
    return new Cesium.Cesium3DTileStyle({ color: { conditions } });
  }
  if (mode.startsWith("attr:")) {
    const prop = mode.slice(5);
    const v = `\${${prop}}`;
    const conditions = [[`${v} === undefined || ${v} === null`, `color('${NO_DATA}')`]];
    const steps = numericThresholds(prop);
    for (let i = steps.length - 1; i > 0; i--) {
      conditions.push([`Number(${v}) >= ${steps[i][0]}`, `color('${steps[i][1]}')`]);
    }
    conditions.push(["true", `color('${steps[0][1]}')`]);
    return new Cesium.Cesium3DTileStyle({ color: { conditions } });
  }
  return new Cesium.Cesium3DTileStyle({ color: "color('#e6e4dc')" });
}

function labelFor(mode) {
  return mode === "surface" ? "surface" : "object";
}

function applyStyle(tileset, mode) {
  const label = labelFor(mode);
  if (tileset.featureIdLabel !== label) tileset.featureIdLabel = label;
  tileset.style = styleFor(mode);
  window.greentwin?.viewer.scene.requestRender();
}

function legendHTML(mode) {
  if (mode === "surface") {
    const items = SURFACE_COLOURS.slice(0, 4)
      .concat([["", OTHER_COLOUR, "Other / unclassified"]])
      .map(([, hex, name]) => `<li><span class="swatch" style="background:${hex}"></span>${name}</li>`)
      .join("");
    return `<ul>${items}</ul>`;
  }
  if (mode.startsWith("attr:")) {
    const prop = mode.slice(5);
    const steps = numericThresholds(prop);
    const items = steps
      .map(([lo, hex], i) => {
        const hi = i + 1 < steps.length ? steps[i + 1][0] : null;
        const range = hi === null ? `≥ ${lo.toFixed(1)}` : `${lo.toFixed(1)} – ${hi.toFixed(1)}`;
        return `<li><span class="swatch" style="background:${hex}"></span>${range}</li>`;
      })
      .join("");
    return `<p class="note">${prop}</p><ul>${items}<li><span class="swatch" style="background:${NO_DATA}"></span>no value</li></ul>`;
  }
  return `<ul><li><span class="swatch" style="background:#e6e4dc"></span>Building</li></ul>`;
}

// Walk the loaded tiles and collect min/max of every numeric property (object features).
function collectStats(tileset) {
  if (tileset.featureIdLabel !== "object") return;
  const stack = [tileset.root];
  while (stack.length) {
    const tile = stack.pop();
    stack.push(...tile.children);
    if (!tile.contentReady || !tile.content) continue;
    const content = tile.content;
    for (let i = 0; i < content.featuresLength; i++) {
      const f = content.getFeature(i);
      for (const id of f.getPropertyIds()) {
        const v = f.getProperty(id);
        if (typeof v !== "number" || !Number.isFinite(v)) continue;
        const s = (state.stats[id] ??= { min: v, max: v });
        s.min = Math.min(s.min, v);
        s.max = Math.max(s.max, v);
      }
    }
  }
}

function refreshAttributeOptions() {
  for (const sel of [$("style-mode"), $("compare-style")]) {
    const have = new Set([...sel.options].map((o) => o.value));
    for (const prop of Object.keys(state.stats).sort()) {
      if (["lod", "object"].includes(prop) || have.has(`attr:${prop}`)) continue;
      const opt = document.createElement("option");
      opt.value = `attr:${prop}`;
      opt.textContent = `Attribute: ${prop}`;
      sel.insertBefore(opt, sel.querySelector('option[value="plain"]'));
    }
  }
}

async function setMode(viewer, mode) {
  state.mode = mode;
  const ts = tilesets.buildings;
  if (!ts) return;
  if (mode.startsWith("attr:")) {
    // Stats come from object features; make sure they are the active set first.
    if (ts.featureIdLabel !== "object") {
      ts.featureIdLabel = "object";
      await nextFrame(viewer);
    }
    collectStats(ts);
    refreshAttributeOptions();
  }
  applyStyle(ts, mode);
  $("legend-buildings").innerHTML = legendHTML(mode);
  setStatus(`Buildings coloured by ${$("style-mode").selectedOptions[0]?.textContent ?? mode}`);
}

// ------------------------------------------------------------------ picking
function featureProps(feature) {
  const out = {};
  for (const id of feature.getPropertyIds()) {
    const v = feature.getProperty(id);
    out[id] = typeof v === "bigint" ? v.toString() : v;
  }
  return out;
}

function layerOf(tileset) {
  for (const [name, ts] of Object.entries(tilesets)) if (ts === tileset) return name;
  return null;
}

// Pick the building under a window position. In surface mode the rendered feature-id set
// is "surface"; the building's own row lives in the "object" set, so switch it for one
// frame to read the building's attributes, then switch back.
async function pickAt(x, y) {
  const viewer = window.greentwin.viewer;
  const pos = new Cesium.Cartesian2(x, y);
  let picked = viewer.scene.pick(pos);
  if (!(picked instanceof Cesium.Cesium3DTileFeature)) return null;
  const tileset = picked.tileset;
  let surface = null;
  if (tileset.featureIdLabel === "surface") {
    surface = featureProps(picked);
    tileset.featureIdLabel = "object";
    await nextFrame(viewer);
    await nextFrame(viewer);
    picked = viewer.scene.pick(pos);
    tileset.featureIdLabel = "surface";
    if (!(picked instanceof Cesium.Cesium3DTileFeature)) return { layer: layerOf(tileset), id: null, properties: {}, surface };
  }
  const properties = featureProps(picked);
  return { layer: layerOf(tileset), id: properties.id ?? null, properties, surface };
}

function escapeHTML(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

function showPick(result) {
  const info = $("info");
  if (!result) {
    info.innerHTML = '<p class="note">No building there.</p>';
    setStatus("No building at that point");
    return;
  }
  const rows = Object.entries(result.properties)
    .map(([k, v]) => `<tr><th scope="row">${escapeHTML(k)}</th><td>${escapeHTML(v ?? "")}</td></tr>`)
    .join("");
  const surf = result.surface
    ? `<p class="note">Surface: ${escapeHTML(result.surface.surface_type || "unclassified")} ${escapeHTML(result.surface.surface_id || "")}</p>`
    : "";
  info.innerHTML = `<p><strong>${escapeHTML(result.id ?? "(no id)")}</strong> <span class="note">(${escapeHTML(result.layer ?? "")})</span></p>${surf}<table><caption class="note">Attributes</caption>${rows}</table>`;
  setStatus(`Selected ${result.id ?? "a feature"}`);
}

// ------------------------------------------------------------------ layers
// Legend of the 3D layers besides the buildings (those have their own colour section).
const LAYER_LEGENDS = {
  vegetation: ["#3f8f3f", "Trees and shrubs (crown colour follows the date)"],
};

function renderLayerList(viewer) {
  const list = $("layer-list");
  list.innerHTML = "";
  const names = Object.keys(state.layers).filter((n) => state.layers[n].kind !== "overlay"); // overlays.js lists those
  if (!names.length) {
    list.innerHTML = '<li class="note">No layers published yet.</li>';
    return;
  }
  for (const name of names) {
    const li = document.createElement("li");
    const id = `layer-${name}`;
    li.innerHTML = `<input type="checkbox" id="${id}" checked><label for="${id}">${escapeHTML(name)}</label>`;
    // A legend says what the layer's colours mean; it does not repeat the layer's name.
    const legend = LAYER_LEGENDS[name];
    if (legend) {
      li.insertAdjacentHTML(
        "beforeend",
        `<div class="legend"><ul><li><span class="swatch" style="background:${legend[0]}"></span>${escapeHTML(legend[1])}</li></ul></div>`,
      );
    }
    li.querySelector("input").addEventListener("change", (ev) => {
      const ts = tilesets[name];
      if (ts) ts.show = ev.target.checked;
      if (name === "buildings" && tilesets.compare) tilesets.compare.show = ev.target.checked && state.compare;
      setStatus(`${name} ${ev.target.checked ? "shown" : "hidden"}`);
    });
    list.appendChild(li);
  }
  const src = $("compare-source");
  src.innerHTML = "";
  for (const [name, layer] of Object.entries(state.layers)) {
    if (layer.kind !== "3dtiles") continue;
    const opt = document.createElement("option");
    opt.value = layer.url;
    opt.textContent = `${name} (version ${layer.version.slice(0, 8)})`;
    src.appendChild(opt);
  }
}

async function waitForLayers() {
  for (;;) {
    const doc = await getJSON(`/api/layers?scenario=${encodeURIComponent(SCENARIO)}`, { headers: authHeaders() });
    if (doc.layers.buildings) return doc;
    const health = await getJSON("/api/health");
    const demo = health.demo;
    if (demo.state === "failed") throw new Error(`The district could not be built: ${demo.message}`);
    if (demo.state === "off" && !Object.keys(doc.layers).length) {
      throw new Error(`Scenario ${SCENARIO} has no layers yet (start with "greentwin demo").`);
    }
    busy(`Building the district… ${demo.message || ""}`);
    setStatus("Building the district (first start converts the CityGML)…");
    await sleep(1500);
  }
}

async function tilesLoaded(viewer, tileset, timeoutMs = 120000) {
  const t0 = performance.now();
  while (!tileset.tilesLoaded) {
    if (performance.now() - t0 > timeoutMs) throw new Error("tiles did not finish loading");
    await nextFrame(viewer);
  }
}

// The globe's imagery is only the backdrop: wait for it a little, never fail on it.
async function globeLoaded(viewer, timeoutMs = 20000) {
  const t0 = performance.now();
  while (!viewer.scene.globe.tilesLoaded && performance.now() - t0 < timeoutMs) await sleep(100);
}

async function loadTileset(viewer, name, url, options = {}) {
  const ts = await Cesium.Cesium3DTileset.fromUrl(new Cesium.Resource({ url, headers: authHeaders() }), options);
  viewer.scene.primitives.add(ts);
  tilesets[name] = ts;
  ts.tileFailed.addEventListener((err) => {
    console.error(`tile failed in ${name}: ${err.url}: ${err.message}`);
    setStatus(`A ${name} tile failed to load`);
  });
  return ts;
}

// ------------------------------------------------------------------ compare
function setSplit(viewer, fraction) {
  state.split = Math.min(0.95, Math.max(0.05, fraction));
  viewer.scene.splitPosition = state.split;
  viewer.scene.requestRender();
  const el = $("splitter");
  el.style.left = `${state.split * 100}%`;
  el.setAttribute("aria-valuenow", String(Math.round(state.split * 100)));
}

async function setCompare(viewer, on) {
  state.compare = on;
  $("compare-options").disabled = !on;
  $("splitter").hidden = !on;
  $("compare-labels").hidden = !on;
  const left = tilesets.buildings;
  if (!left) return;
  if (!on) {
    left.splitDirection = Cesium.SplitDirection.NONE;
    if (tilesets.compare) tilesets.compare.show = false;
    setStatus("Split screen off");
    return;
  }
  await updateCompare(viewer);
  left.splitDirection = Cesium.SplitDirection.LEFT;
  setSplit(viewer, state.split);
  setStatus("Split screen on: drag the divider or focus it and use the arrow keys");
}

async function updateCompare(viewer) {
  const url = $("compare-source").value;
  const mode = $("compare-style").value;
  let right = tilesets.compare;
  if (!right || right.__url !== url) {
    if (right) viewer.scene.primitives.remove(right);
    right = await loadTileset(viewer, "compare", url, { featureIdLabel: labelFor(mode) });
    right.__url = url;
  }
  right.splitDirection = Cesium.SplitDirection.RIGHT;
  right.show = state.compare && $("layer-buildings")?.checked !== false;
  applyStyle(right, mode);
  $("compare-label-left").textContent = $("style-mode").selectedOptions[0]?.textContent ?? "";
  $("compare-label-right").textContent = `${$("compare-source").selectedOptions[0]?.textContent ?? ""}: ${$("compare-style").selectedOptions[0]?.textContent ?? ""}`;
}

function wireSplitter(viewer) {
  const el = $("splitter");
  const map = $("map");
  let dragging = false;
  el.addEventListener("pointerdown", (ev) => {
    dragging = true;
    el.setPointerCapture(ev.pointerId);
  });
  el.addEventListener("pointermove", (ev) => {
    if (!dragging) return;
    const rect = map.getBoundingClientRect();
    setSplit(viewer, (ev.clientX - rect.left) / rect.width);
  });
  el.addEventListener("pointerup", () => {
    dragging = false;
  });
  el.addEventListener("keydown", (ev) => {
    const step = ev.shiftKey ? 0.1 : 0.02;
    if (ev.key === "ArrowLeft") setSplit(viewer, state.split - step);
    else if (ev.key === "ArrowRight") setSplit(viewer, state.split + step);
    else if (ev.key === "Home") setSplit(viewer, 0.05);
    else if (ev.key === "End") setSplit(viewer, 0.95);
    else return;
    ev.preventDefault();
  });
}

// ------------------------------------------------------------------ time
let timeTimer = null;

function applyTime(viewer, time, { save }) {
  state.time = time;
  $("year").value = String(time.year);
  $("year-out").textContent = String(time.year);
  $("date").value = time.date;
  viewer.clock.currentTime = Cesium.JulianDate.fromIso8601(`${time.date}T12:00:00Z`);
  document.dispatchEvent(new CustomEvent("greentwin:time", { detail: time }));
  if (!save) return;
  clearTimeout(timeTimer);
  const auth = authHeaders();
  if (!auth.Authorization) {
    // the served time is shared by every viewer: only a planner changes it
    setStatus(`Time set to ${time.date} in this view (sign in as a planner to change it for everyone)`);
    return;
  }
  timeTimer = setTimeout(async () => {
    try {
      const doc = await getJSON(`/api/time?scenario=${encodeURIComponent(SCENARIO)}`, {
        method: "PUT",
        headers: { "Content-Type": "application/json", ...auth },
        body: JSON.stringify(time),
      });
      setStatus(`Time set to ${doc.time.date}`);
    } catch (err) {
      setStatus(`Could not save the time: ${err.message}`);
    }
  }, 300);
}

function wireTime(viewer) {
  $("year").addEventListener("input", (ev) => {
    const year = Number(ev.target.value);
    let [, mm, dd] = (state.time?.date ?? `${year}-06-21`).split("-");
    if (mm === "02" && dd === "29" && !(year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0))) dd = "28";
    applyTime(viewer, { year, date: `${year}-${mm}-${dd}` }, { save: true });
  });
  $("date").addEventListener("change", (ev) => {
    const date = ev.target.value;
    if (!/^\d{4}-\d{2}-\d{2}$/.test(date)) return;
    applyTime(viewer, { year: Number(date.slice(0, 4)), date }, { save: true });
  });
}

// ------------------------------------------------------------------ start
async function flyHome(viewer) {
  const ts = tilesets.buildings;
  if (!ts) return;
  await viewer.flyTo(ts, {
    duration: FLY_SECONDS,
    offset: new Cesium.HeadingPitchRange(Cesium.Math.toRadians(20), Cesium.Math.toRadians(-35), ts.boundingSphere.radius * 2.6),
  });
}

async function main(viewer) {
  busy("Loading the district…");
  setStatus("Loading the district…");
  const doc = await waitForLayers();
  state.layers = doc.layers;
  renderLayerList(viewer);
  applyTime(viewer, doc.time, { save: false });
  const buildings = await loadTileset(viewer, "buildings", doc.layers.buildings.url, {
    featureIdLabel: labelFor(state.mode),
  });
  applyStyle(buildings, state.mode);
  $("legend-buildings").innerHTML = legendHTML(state.mode);
  for (const [name, layer] of Object.entries(doc.layers)) {
    if (name !== "buildings" && layer.kind === "3dtiles") await loadTileset(viewer, name, layer.url);
  }
  busy(null);
  setStatus("Flying to the district…");
  await flyHome(viewer);
  await tilesLoaded(viewer, buildings);
  await globeLoaded(viewer);
  setStatus(`District loaded: ${Object.keys(doc.layers).join(", ")}`);
  return { layers: doc.layers, time: doc.time };
}

const viewer = createViewer();
wireSplitter(viewer);
wireTime(viewer);
$("style-mode").addEventListener("change", (ev) => {
  setMode(viewer, ev.target.value).then(() => state.compare && updateCompare(viewer));
});
$("compare").addEventListener("change", (ev) => setCompare(viewer, ev.target.checked));
$("compare-source").addEventListener("change", () => updateCompare(viewer));
$("compare-style").addEventListener("change", () => updateCompare(viewer));
$("fly-home").addEventListener("click", () => flyHome(viewer));
$("pick-centre").addEventListener("click", async () => {
  const canvas = viewer.scene.canvas;
  showPick(await pickAt(canvas.clientWidth / 2, canvas.clientHeight / 2));
});
viewer.screenSpaceEventHandler.setInputAction(async (movement) => {
  showPick(await pickAt(movement.position.x, movement.position.y));
}, Cesium.ScreenSpaceEventType.LEFT_CLICK);

const ready = main(viewer).catch((err) => {
  busy(null);
  setStatus(err.message);
  $("info").innerHTML = `<p role="alert">${escapeHTML(err.message)}</p>`;
  throw err;
});

window.greentwin = { viewer, tilesets, ready, pickAt, state, setMode: (m) => setMode(viewer, m), setCompare: (on) => setCompare(viewer, on) };
installGreen(window.greentwin); // vegetation per date, tree info, area services
installOverlays(window.greentwin); // noise and air overlays, legends, probe
installTimeline(window.greentwin); // maps on the slider's date, indicators over the years
installLive(window.greentwin); // greentwin/1: follow a scenario live
installTraffic(window.greentwin); // road network: flow as width, change as colour, popup
installEdit(window.greentwin); // sign-in, scenario picker, edit tools
