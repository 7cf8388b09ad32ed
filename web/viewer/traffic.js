// Traffic in the planners' viewer: the road network with the assigned traffic.
//
// The live client loads the scenario's `road_network` GeoJSON layer; this module restyles
// it: line width = day flow (all vehicles per hour), colour = change against the
// baseline (blue less, red more, grey unchanged, dark red dashed = closed), with a
// legend, and a click on a road shows its flow, speed and travel time before and after
// (properties written by the server: flow_day, flow_day_baseline, change_pct, and
// time_*_s / speed_*_kmh where traffic was re-assigned).

const Cesium = window.Cesium;

const $ = (id) => document.getElementById(id);

// Diverging colours for the change in per cent (ColorBrewer RdBu, 5 classes).
export const CHANGE_CLASSES = [
  { upTo: -25, colour: "#0571b0", label: "more than 25 % less" },
  { upTo: -5, colour: "#92c5de", label: "5-25 % less" },
  { upTo: 5, colour: "#9e9e9e", label: "within 5 %" },
  { upTo: 25, colour: "#f4a582", label: "5-25 % more" },
  { upTo: Infinity, colour: "#ca0020", label: "more than 25 % more" },
];
export const CLOSED_COLOUR = "#5a0010";

// Line width in pixels for a day flow in vehicles per hour (area-true: width ~ sqrt).
export function widthFor(flow) {
  const f = Math.max(0, Number(flow) || 0);
  return Math.min(18, 2 + 12 * Math.sqrt(f / 1500));
}

export function colourFor(changePct, closed) {
  if (closed) return CLOSED_COLOUR;
  if (changePct === null || changePct === undefined) return CHANGE_CLASSES[2].colour;
  return CHANGE_CLASSES.find((c) => changePct <= c.upTo).colour;
}

function escapeHTML(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

const fmt = (v, unit, digits = 0) =>
  v === null || v === undefined ? "–" : `${Number(v).toFixed(digits)} ${unit}`;

// The popup rows of a road's properties (before / after).
export function popupHTML(id, p) {
  const closed = p.closed === true;
  const after = closed ? 0 : p.flow_day;
  const before = p.flow_day_baseline ?? p.flow_day;
  const change = p.change_pct === null || p.change_pct === undefined ? "new road" : `${p.change_pct > 0 ? "+" : ""}${p.change_pct} %`;
  const time = (s) => (s ? `${(s / 60).toFixed(1)} min` : "–");
  return `<p><strong>${escapeHTML(p.name || id)}</strong>${closed ? " <em>(closed)</em>" : ""}</p>
    <table class="traffic-popup"><thead><tr><th></th><th scope="col">Before</th><th scope="col">After</th></tr></thead>
    <tbody>
    <tr><th scope="row">Flow (day)</th><td>${fmt(before, "veh/h")}</td><td>${fmt(after, "veh/h")}</td></tr>
    <tr><th scope="row">Speed</th><td>${fmt(p.speed_before_kmh ?? p.speed_kmh, "km/h")}</td><td>${closed ? "–" : fmt(p.speed_after_kmh ?? p.speed_kmh, "km/h")}</td></tr>
    <tr><th scope="row">Travel time</th><td>${time(p.time_before_s)}</td><td>${closed ? "–" : time(p.time_after_s)}</td></tr>
    </tbody></table><p class="note">Change: ${escapeHTML(change)}</p>`;
}

function legendHTML() {
  const items = CHANGE_CLASSES.map(
    (c) => `<li><span class="swatch" style="background:${c.colour}"></span>${escapeHTML(c.label)}</li>`,
  ).join("");
  return `<div class="legend"><p class="note">Colour: change of the day flow against the baseline</p><ul>${items}
    <li><span class="swatch" style="background:${CLOSED_COLOUR}"></span>closed</li></ul>
    <p class="note">Width: vehicles per hour by day (thin 0, wide 1500 and more)</p></div>`;
}

function restyle(ds) {
  const now = Cesium.JulianDate.now();
  for (const e of ds.entities.values) {
    if (!e.polyline) continue;
    const p = e.properties ? e.properties.getValue(now) : {};
    const closed = p.closed === true;
    e.polyline.width = closed ? 3 : widthFor(p.flow_day);
    const colour = Cesium.Color.fromCssColorString(colourFor(p.change_pct, closed));
    e.polyline.material = closed
      ? new Cesium.PolylineDashMaterialProperty({ color: colour })
      : colour.withAlpha(0.9);
  }
  window.greentwin?.viewer?.scene.requestRender();
}

export function install(g) {
  const section = document.createElement("section");
  section.id = "traffic";
  section.setAttribute("aria-labelledby", "h-traffic");
  section.innerHTML = `<h2 id="h-traffic">Traffic</h2>${legendHTML()}
    <div id="traffic-info" aria-live="polite"><p class="note">Click a road for its traffic before and after.</p></div>`;
  const after = $("info")?.closest("section");
  $("panel")?.insertBefore(section, after ?? null);

  const styleLayer = () => {
    const layer = g.live?.layers?.get("road_network");
    if (layer && layer.kind === "geojson") restyle(layer.handle);
  };
  g.live?.addEventListener("layer", (ev) => {
    if (ev.detail?.name === "road_network") styleLayer();
  });
  styleLayer();

  const handler = new Cesium.ScreenSpaceEventHandler(g.viewer.scene.canvas);
  handler.setInputAction((movement) => {
    const picked = g.viewer.scene.pick(movement.position);
    const entity = picked?.id;
    if (!(entity instanceof Cesium.Entity) || entity.gtLayer !== "road_network") return;
    const p = entity.properties.getValue(Cesium.JulianDate.now());
    $("traffic-info").innerHTML = popupHTML(entity.id, p);
  }, Cesium.ScreenSpaceEventType.LEFT_CLICK);
  g.traffic = { restyle: styleLayer, widthFor, colourFor, popupHTML };
  return g.traffic;
}
