// Scenario editing in the planners' viewer: sign-in, scenario picker and the edit tools.
//
// Sign-in: a planner token typed into the form is kept in sessionStorage (this tab only)
// and sent in the WebSocket `hello` and as `Authorization: Bearer` on the HTTP API; it never
// goes into a URL. Scenarios: pick one (followed live) or branch a new one from the baseline.
// Tools: place a tree, remove a tree, draw a green area, change a road's traffic or close it,
// draw a noise barrier, draw a building volume; undo and redo. Each tool builds one
// greentwin/1 op and sends it as an `edit` frame; the answer (ack or error) is read out in a
// live region. The drawn result appears when the server's `update` swaps the layer in.
//
// For scripted use and tests, `ctx.edit` holds the same functions the tools call:
// signIn(token), newScenario(name), follow(id), placeTree(lon, lat, options), ...

import { TOKEN_KEY, authHeaders } from "./live.js";

const Cesium = window.Cesium;
const $ = (id) => document.getElementById(id);

const SPECIES = [
  ["tilia_cordata", "Small-leaved lime"],
  ["acer_platanoides", "Norway maple"],
  ["betula_pendula", "Silver birch"],
  ["quercus_robur", "Pedunculate oak"],
  ["pinus_sylvestris", "Scots pine"],
  ["sorbus_aucuparia", "Rowan"],
  ["fraxinus_excelsior", "Ash"],
  ["aesculus_hippocastanum", "Horse chestnut"],
];
const COVERS = ["grass", "meadow", "perennials", "shrubs", "woodland", "green_roof", "wetland"];
const CATEGORIES = [
  ["light", "Cars (light)"],
  ["medium", "Vans, buses (medium)"],
  ["heavy", "Lorries (heavy)"],
  ["two_wheeler", "Two-wheelers"],
];
const PERIODS = ["day", "evening", "night"];

const PANEL_HTML = `
<h2 id="h-live">Live scenario</h2>
<form id="signin" class="row" autocomplete="off">
  <label for="signin-token">Planner token</label>
  <input id="signin-token" type="password" autocomplete="off" spellcheck="false">
  <button type="submit">Sign in</button>
  <button type="button" id="signout" hidden>Sign out</button>
</form>
<p id="live-role" class="note">Not connected</p>
<label for="scenario-pick">Scenario</label>
<select id="scenario-pick"><option value="baseline">Baseline</option></select>
<div class="row">
  <label for="scenario-name">New scenario name</label>
  <input id="scenario-name" type="text" maxlength="200" value="My scenario">
  <button type="button" id="scenario-new">New scenario from baseline</button>
</div>
<div class="row check">
  <input id="live-split" type="checkbox">
  <label for="live-split">Split screen: baseline left, scenario right</label>
</div>
<fieldset id="tools" disabled>
  <legend>Edit tools</legend>
  <label for="tool">Tool</label>
  <select id="tool">
    <option value="">(none: clicks identify)</option>
    <option value="tree">Place a tree</option>
    <option value="remove-tree">Remove a tree</option>
    <option value="green">Draw a green area</option>
    <option value="road">Pick a road: change its traffic</option>
    <option value="barrier">Draw a noise barrier</option>
    <option value="building">Draw a building volume</option>
  </select>
  <div id="opts-tree" class="tool-opts" hidden>
    <label for="tree-species">Species</label><select id="tree-species"></select>
    <label for="tree-size-kind">Size given by</label>
    <select id="tree-size-kind"><option value="age">Age (years)</option><option value="nursery">Nursery size (girth cm)</option></select>
    <label for="tree-size">Value</label><input id="tree-size" type="number" min="0" max="300" step="1" value="8">
  </div>
  <div id="opts-remove-tree" class="tool-opts" hidden>
    <label for="remove-id">Tree id (or click a tree)</label><input id="remove-id" type="text">
    <button type="button" id="remove-go">Remove</button>
  </div>
  <div id="opts-green" class="tool-opts" hidden>
    <label for="green-cover">Cover</label><select id="green-cover"></select>
  </div>
  <div id="opts-barrier" class="tool-opts" hidden>
    <label for="barrier-height">Height (m)</label><input id="barrier-height" type="number" min="0.5" max="20" step="0.5" value="3">
    <div class="row check"><input id="barrier-absorptive" type="checkbox"><label for="barrier-absorptive">Absorptive</label></div>
  </div>
  <div id="opts-building" class="tool-opts" hidden>
    <label for="building-height">Height (m)</label><input id="building-height" type="number" min="2" max="300" step="1" value="15">
    <label for="building-use">Use</label>
    <select id="building-use"><option value="residential">Housing</option><option value="mixed">Housing over shops</option><option value="other">Other (no dwellings)</option></select>
    <label for="building-storeys">Storeys (empty: one per 3 m)</label><input id="building-storeys" type="number" min="1" max="100" step="1">
  </div>
  <div id="opts-road" class="tool-opts" hidden>
    <label for="road-id">Road (or click one)</label><select id="road-id"></select>
    <fieldset><legend>Vehicles per hour</legend>
      <table id="road-flows"></table>
    </fieldset>
    <label for="road-speed">Speed (km/h)</label><input id="road-speed" type="number" min="5" max="130" step="5" value="50">
    <button type="button" id="road-apply">Apply traffic</button>
    <button type="button" id="road-close">Close the road</button>
    <button type="button" id="road-open">Reopen</button>
  </div>
  <p id="draw-hint" class="note" hidden>Click to add points; finish with the button or a double click.</p>
  <button type="button" id="draw-finish" hidden>Finish</button>
  <button type="button" id="draw-cancel" hidden>Cancel</button>
  <div class="row">
    <button type="button" id="undo">Undo</button>
    <button type="button" id="redo">Redo</button>
  </div>
</fieldset>
<p id="edit-result" role="status" aria-live="polite"></p>
<fieldset id="exports" disabled>
  <legend>Compare and export</legend>
  <button type="button" id="summary-go">Indicators against the baseline</button>
  <div id="summary-out" aria-live="polite"></div>
  <label for="export-format">Download</label>
  <select id="export-format">
    <option value="zip">Everything (zip)</option>
    <option value="citygml">CityGML 2.0 with vegetation</option>
    <option value="citygml3">CityGML 3.0 with vegetation</option>
    <option value="geotiff">Noise and air maps (GeoTIFF zip)</option>
    <option value="summary_csv">Indicator summary (CSV)</option>
    <option value="summary">Indicator summary (JSON)</option>
    <option value="json">Scenario and edit log (JSON)</option>
  </select>
  <button type="button" id="export-go">Download</button>
</fieldset>
`;

function option(value, text) {
  const o = document.createElement("option");
  o.value = value;
  o.textContent = text;
  return o;
}

function lonLatOf(cartesian) {
  const c = Cesium.Cartographic.fromCartesian(cartesian);
  return [
    Number(Cesium.Math.toDegrees(c.longitude).toFixed(7)),
    Number(Cesium.Math.toDegrees(c.latitude).toFixed(7)),
  ];
}

// The ground point under a window position (scene depth where available, else the ellipsoid).
function pickGround(viewer, position) {
  let cart;
  if (viewer.scene.pickPositionSupported) cart = viewer.scene.pickPosition(position);
  if (!Cesium.defined(cart)) cart = viewer.camera.pickEllipsoid(position, viewer.scene.globe.ellipsoid);
  return Cesium.defined(cart) ? lonLatOf(cart) : null;
}

export class Editor {
  constructor(ctx) {
    this.ctx = ctx;
    this.live = ctx.live;
    this.tool = "";
    this.points = [];
    this.sketch = null;
    this.scenarios = [];
  }

  say(text, isError = false) {
    const el = $("edit-result");
    el.textContent = text;
    el.dataset.kind = isError ? "error" : "ok";
  }

  headers() {
    return { "Content-Type": "application/json", ...authHeaders() };
  }

  // ------------------------------------------------------------------ session
  async signIn(token) {
    window.sessionStorage.setItem(TOKEN_KEY, token);
    this.live.reconnect();
    await new Promise((resolve) => {
      const on = (ev) => {
        if (ev.detail.connected) {
          this.live.removeEventListener("status", on);
          resolve();
        }
      };
      this.live.addEventListener("status", on);
    });
    await this.refreshScenarios();
    return this.live.role;
  }

  signOut() {
    window.sessionStorage.removeItem(TOKEN_KEY);
    this.live.reconnect();
  }

  async refreshScenarios() {
    const resp = await fetch("/api/scenarios", { headers: this.headers() });
    if (!resp.ok) return;
    const doc = await resp.json();
    this.scenarios = doc.scenarios;
    const sel = $("scenario-pick");
    const keep = this.live.scenario ?? sel.value;
    sel.innerHTML = "";
    for (const s of doc.scenarios) {
      sel.appendChild(option(s.id, s.id === "baseline" ? "Baseline" : `${s.name} (${s.status})`));
    }
    if ([...sel.options].some((o) => o.value === keep)) sel.value = keep;
  }

  async newScenario(name) {
    const resp = await fetch("/api/scenarios", {
      method: "POST",
      headers: this.headers(),
      body: JSON.stringify({ name, parent: "baseline" }),
    });
    const doc = await resp.json().catch(() => ({}));
    if (!resp.ok) throw new Error(doc?.error?.message || resp.statusText);
    await this.refreshScenarios();
    await this.follow(doc.id);
    return doc.id;
  }

  async follow(id) {
    const snap = await this.live.subscribe(id);
    $("scenario-pick").value = id;
    const url = new URL(window.location.href);
    url.searchParams.set("live", id);
    window.history.replaceState(null, "", url);
    this.updateTools();
    this.say(`Following ${snap.name} at step ${snap.seq}`);
    return snap;
  }

  updateTools() {
    const s = this.live.info;
    const planner = this.live.role && ["planner", "admin"].includes(this.live.role);
    const editable = planner && s && s.status === "draft";
    $("tools").disabled = !editable;
    $("exports").disabled = !s || this.live.scenario === "baseline" || !(planner || s.status === "published");
    $("live-role").textContent = this.live.role
      ? `Signed in as ${this.live.role}${s ? `; ${s.name} is ${s.status}${editable ? "" : " (read-only)"}` : ""}`
      : "Not connected";
  }

  // ------------------------------------------------------------------ sending edits
  async send(op) {
    if (!this.live.scenario || this.live.scenario === "baseline") {
      const err = "The baseline is read-only: create or pick a scenario first.";
      this.say(err, true);
      throw new Error(err);
    }
    try {
      const ack = await this.live.edit(op);
      this.say(`${op.op.replaceAll("_", " ")}: saved as step ${ack.seq}`);
      return ack;
    } catch (err) {
      this.say(`${op.op.replaceAll("_", " ")} refused: ${err.message}`, true);
      throw err;
    }
  }

  placeTree(lon, lat, { species, age_years, nursery_size_cm, id } = {}) {
    const op = { op: "plant_tree", species: species ?? $("tree-species").value, position: [lon, lat] };
    if (id) op.id = id;
    if (age_years === undefined && nursery_size_cm === undefined) {
      const v = Number($("tree-size").value);
      if ($("tree-size-kind").value === "age") op.age_years = v;
      else op.nursery_size_cm = v;
    } else if (age_years !== undefined) op.age_years = age_years;
    else op.nursery_size_cm = nursery_size_cm;
    return this.send(op);
  }

  removeTree(id) {
    return this.send({ op: "remove_tree", id });
  }

  /** The id of a picked tree: vegetation tiles carry the tree's row, the green API its id. */
  async treeIdOf(feature) {
    const direct = feature.getProperty("id");
    if (direct !== undefined && direct !== null) return String(direct);
    const row = feature.getProperty("tree");
    if (row === undefined || row === null) return null;
    const scenario = encodeURIComponent(this.live.scenario || "baseline");
    const resp = await fetch(`/api/green/trees?row=${Number(row)}&scenario=${scenario}`);
    if (!resp.ok) return null;
    const doc = await resp.json();
    return doc?.tree?.id ?? null;
  }

  greenArea(polygon, cover) {
    return this.send({ op: "set_green_area", polygon, cover: cover ?? $("green-cover").value });
  }

  barrier(line, height_m, absorptive) {
    return this.send({
      op: "add_barrier",
      line,
      height_m: height_m ?? Number($("barrier-height").value),
      absorptive: absorptive ?? $("barrier-absorptive").checked,
    });
  }

  building(footprint, height_m, { use, storeys } = {}) {
    const op = { op: "add_building", footprint, height_m: height_m ?? Number($("building-height").value) };
    op.use = use ?? $("building-use").value;
    const n = storeys ?? Number($("building-storeys").value);
    if (Number.isInteger(n) && n > 0) op.storeys = n;
    return this.send(op);
  }

  roadTraffic(id, { flows, speed_kmh } = {}) {
    const op = { op: "set_road_traffic", id };
    op.flows = flows ?? this.readFlows();
    const speed = speed_kmh ?? Number($("road-speed").value);
    if (Number.isFinite(speed) && speed > 0) op.speed_kmh = speed;
    return this.send(op);
  }

  closeRoad(id, closed = true) {
    return this.send({ op: "close_road", id, closed });
  }

  async undo() {
    try {
      const ack = await this.live.undo();
      this.say(`Undone (step ${ack.seq})`);
    } catch (err) {
      this.say(`Undo refused: ${err.message}`, true);
    }
  }

  async redo() {
    try {
      const ack = await this.live.redo();
      this.say(`Redone (step ${ack.seq})`);
    } catch (err) {
      this.say(`Redo refused: ${err.message}`, true);
    }
  }

  // ------------------------------------------------------------------ exports
  async exportScenario(format, query = {}) {
    const id = this.live.scenario;
    const params = new URLSearchParams({ format, ...query });
    const resp = await fetch(`/api/scenarios/${encodeURIComponent(id)}/export?${params}`, { headers: authHeaders() });
    if (!resp.ok) {
      const doc = await resp.json().catch(() => ({}));
      throw new Error(doc?.error?.message || resp.statusText);
    }
    return resp;
  }

  async download(choice) {
    const format = choice === "citygml3" ? "citygml" : choice;
    const query = choice === "citygml3" ? { version: "3.0" } : {};
    this.say(`Preparing ${choice} export...`);
    try {
      const resp = await this.exportScenario(format, query);
      const name = /filename="([^"]+)"/.exec(resp.headers.get("Content-Disposition") || "")?.[1] || `${format}.bin`;
      const url = URL.createObjectURL(await resp.blob());
      const a = document.createElement("a");
      a.href = url;
      a.download = name;
      document.body.appendChild(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10000);
      this.say(`Downloaded ${name}`);
      return name;
    } catch (err) {
      this.say(`Export failed: ${err.message}`, true);
      throw err;
    }
  }

  /** Fetch the indicator summary and show the main changes as a table. */
  async summary() {
    const resp = await this.exportScenario("summary", { years: "0,30" });
    const doc = await resp.json();
    const fmt = (v, digits = 0) => (v === null || v === undefined ? "-" : Number(v).toLocaleString("en", { maximumFractionDigits: digits }));
    const signed = (v, digits = 0) => (v > 0 ? "+" : "") + fmt(v, digits);
    const loud = (block) => block.slice(3).reduce((a, b) => a + b, 0); // classes >= 65 dB(A)
    const lden = doc.noise.lden.dwellings;
    const nightLoud = (block) => block.slice(2).reduce((a, b) => a + b, 0); // >= 55 dB(A)
    const lnight = doc.noise.lnight.dwellings;
    const dates = Object.keys(doc.green);
    const now = doc.green[dates[0]];
    const later = doc.green[dates[dates.length - 1]];
    const rows = [
      ["Dwellings, L_den 65 dB(A) or more", loud(lden.baseline), loud(lden.scenario), 0],
      ["Dwellings, L_night 55 dB(A) or more", nightLoud(lnight.baseline), nightLoud(lnight.scenario), 0],
      ["NO2 mean at homes (ug/m3)", doc.air.no2.dwelling_weighted_mean.baseline, doc.air.no2.dwelling_weighted_mean.scenario, 1],
      ["PM10 mean at homes (ug/m3)", doc.air.pm10.dwelling_weighted_mean.baseline, doc.air.pm10.dwelling_weighted_mean.scenario, 1],
      ["Trees", now.trees.baseline, now.trees.scenario, 0],
      [`Canopy cover ${dates[0].slice(0, 4)} (m2)`, now.canopy_cover_m2.baseline, now.canopy_cover_m2.scenario, 0],
      [`Carbon stored ${dates[dates.length - 1].slice(0, 4)} (t)`, later.carbon_kg.baseline / 1000, later.carbon_kg.scenario / 1000, 1],
      ["Dwellings", doc.buildings.dwellings.baseline, doc.buildings.dwellings.scenario, 0],
    ];
    const table = document.createElement("table");
    table.id = "summary-table";
    table.innerHTML =
      `<caption></caption><tr><th scope="col">Indicator</th><th scope="col">Baseline</th><th scope="col">Scenario</th><th scope="col">Change</th></tr>` +
      rows
        .map(([label, b, sc, d]) => `<tr><th scope="row">${label}</th><td>${fmt(b, d)}</td><td>${fmt(sc, d)}</td><td>${b === null || sc === null ? "-" : signed(sc - b, d)}</td></tr>`)
        .join("");
    // the name is a planner's text: set as text, never as markup
    table.caption.textContent = `${doc.scenario.name} against the baseline (step ${doc.scenario.seq})`;
    $("summary-out").replaceChildren(table);
    return doc;
  }

  // ------------------------------------------------------------------ roads
  roads() {
    return this.live.features("road_network").filter((f) => f.id);
  }

  fillRoads() {
    const sel = $("road-id");
    const keep = sel.value;
    sel.innerHTML = "";
    for (const r of this.roads()) sel.appendChild(option(r.id, r.properties?.name ? `${r.properties.name} (${r.id})` : r.id));
    if ([...sel.options].some((o) => o.value === keep)) sel.value = keep;
    this.showRoad(sel.value);
  }

  showRoad(id) {
    const road = this.roads().find((r) => r.id === id);
    const flows = road?.properties?.flows ?? {};
    const table = $("road-flows");
    const head = `<tr><th></th>${PERIODS.map((p) => `<th scope="col">${p}</th>`).join("")}</tr>`;
    const rows = CATEGORIES.map(
      ([cat, label]) =>
        `<tr><th scope="row">${label}</th>${PERIODS.map(
          (p) =>
            `<td><input type="number" min="0" max="20000" step="1" aria-label="${label}, ${p}" data-period="${p}" data-cat="${cat}" value="${Math.round(flows?.[p]?.[cat] ?? 0)}"></td>`,
        ).join("")}</tr>`,
    ).join("");
    table.innerHTML = head + rows;
    if (road?.properties?.speed_kmh) $("road-speed").value = road.properties.speed_kmh;
  }

  readFlows() {
    const flows = {};
    for (const input of $("road-flows").querySelectorAll("input")) {
      const v = Number(input.value);
      if (!Number.isFinite(v) || v < 0) continue;
      (flows[input.dataset.period] ??= {})[input.dataset.cat] = v;
    }
    return flows;
  }

  // ------------------------------------------------------------------ drawing
  setTool(tool) {
    this.cancelDrawing();
    this.tool = tool;
    for (const el of document.querySelectorAll(".tool-opts")) el.hidden = el.id !== `opts-${tool}`;
    const drawing = ["green", "barrier", "building"].includes(tool);
    for (const id of ["draw-hint", "draw-finish", "draw-cancel"]) $(id).hidden = !drawing;
    if (tool === "road") this.fillRoads();
    this.ctx.editing = tool !== "";
  }

  cancelDrawing() {
    this.points = [];
    if (this.sketch) this.ctx.viewer.entities.remove(this.sketch);
    this.sketch = null;
  }

  addPoint(lonlat) {
    this.points.push(lonlat);
    const viewer = this.ctx.viewer;
    if (!this.sketch) {
      this.sketch = viewer.entities.add({
        polyline: {
          positions: new Cesium.CallbackProperty(
            () => Cesium.Cartesian3.fromDegreesArray(this.points.flat().concat(this.tool === "barrier" ? [] : this.points[0] ?? [])),
            false,
          ),
          width: 3,
          material: Cesium.Color.ORANGE,
        },
      });
    }
  }

  async finishDrawing() {
    const pts = this.points.slice();
    const tool = this.tool;
    this.cancelDrawing();
    try {
      if (tool === "barrier") {
        if (pts.length < 2) throw new Error("a barrier needs at least 2 points");
        await this.barrier(pts);
      } else if (tool === "green" || tool === "building") {
        if (pts.length < 3) throw new Error("an area needs at least 3 points");
        await (tool === "green" ? this.greenArea(pts) : this.building(pts));
      }
    } catch (err) {
      this.say(err.message, true);
    }
  }

  async onClick(position) {
    const viewer = this.ctx.viewer;
    const tool = this.tool;
    if (tool === "tree") {
      const p = pickGround(viewer, position);
      if (p) await this.placeTree(p[0], p[1]).catch(() => {});
    } else if (tool === "remove-tree") {
      const picked = viewer.scene.pick(position);
      let id = null;
      if (picked?.id instanceof Cesium.Entity && picked.id.gtLayer === "trees") id = picked.id.id;
      else if (picked instanceof Cesium.Cesium3DTileFeature) id = await this.treeIdOf(picked);
      if (id) await this.removeTree(String(id)).catch(() => {});
      else this.say("No tree with an id there: type its id instead", true);
    } else if (tool === "road") {
      const picked = viewer.scene.pick(position);
      if (picked?.id instanceof Cesium.Entity && picked.id.gtLayer === "road_network") {
        $("road-id").value = picked.id.id;
        this.showRoad(picked.id.id);
        this.say(`Road ${picked.id.id} selected: change its traffic and apply`);
      }
    } else if (["green", "barrier", "building"].includes(tool)) {
      const p = pickGround(viewer, position);
      if (p) this.addPoint(p);
    }
  }

  // ------------------------------------------------------------------ wiring
  wire() {
    for (const [key, name] of SPECIES) $("tree-species").appendChild(option(key, name));
    for (const c of COVERS) $("green-cover").appendChild(option(c, c.replace("_", " ")));
    $("signin").addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const token = $("signin-token").value.trim();
      $("signin-token").value = "";
      if (!token) return;
      await this.signIn(token);
      $("signout").hidden = false;
    });
    $("signout").addEventListener("click", () => {
      this.signOut();
      $("signout").hidden = true;
    });
    $("scenario-pick").addEventListener("change", (ev) => this.follow(ev.target.value).catch((e) => this.say(e.message, true)));
    $("scenario-new").addEventListener("click", () =>
      this.newScenario($("scenario-name").value.trim() || "Scenario").catch((e) => this.say(e.message, true)),
    );
    $("live-split").addEventListener("change", (ev) => this.live.setSplit(ev.target.checked));
    $("tool").addEventListener("change", (ev) => this.setTool(ev.target.value));
    $("tree-size-kind").addEventListener("change", (ev) => {
      const age = ev.target.value === "age";
      $("tree-size").min = age ? "0" : "4";
      $("tree-size").max = age ? "300" : "100";
      $("tree-size").value = age ? "8" : "18";
    });
    $("remove-go").addEventListener("click", () => {
      const id = $("remove-id").value.trim();
      if (id) this.removeTree(id).catch(() => {});
    });
    $("road-id").addEventListener("change", (ev) => this.showRoad(ev.target.value));
    $("road-apply").addEventListener("click", () => this.roadTraffic($("road-id").value).catch(() => {}));
    $("road-close").addEventListener("click", () => this.closeRoad($("road-id").value, true).catch(() => {}));
    $("road-open").addEventListener("click", () => this.closeRoad($("road-id").value, false).catch(() => {}));
    $("draw-finish").addEventListener("click", () => this.finishDrawing());
    $("draw-cancel").addEventListener("click", () => this.cancelDrawing());
    $("summary-go").addEventListener("click", () => this.summary().catch((e) => this.say(`Summary failed: ${e.message}`, true)));
    $("export-go").addEventListener("click", () => this.download($("export-format").value).catch(() => {}));
    $("undo").addEventListener("click", () => this.undo());
    $("redo").addEventListener("click", () => this.redo());

    const handler = new Cesium.ScreenSpaceEventHandler(this.ctx.viewer.scene.canvas);
    handler.setInputAction((m) => {
      if (this.tool) this.onClick(m.position);
    }, Cesium.ScreenSpaceEventType.LEFT_CLICK);
    handler.setInputAction(() => {
      if (["green", "barrier", "building"].includes(this.tool)) this.finishDrawing();
    }, Cesium.ScreenSpaceEventType.LEFT_DOUBLE_CLICK);

    this.live.addEventListener("status", () => this.updateTools());
    this.live.addEventListener("snapshot", () => this.updateTools());
    this.live.addEventListener("layer", (ev) => {
      if (ev.detail.name === "road_network" && this.tool === "road") this.fillRoads();
    });
    this.live.addEventListener("update", (ev) => {
      const u = ev.detail;
      const what = u.changes.map((c) => `${c.op.replaceAll("_", " ")}${c.undone ? " (undone)" : ""}${c.error ? ` failed: ${c.error}` : ""}`);
      $("live-role").textContent = `Step ${u.seq} by ${u.author}: ${what.join(", ")}`;
    });
    this.live.addEventListener("error", (ev) => this.say(`Server: ${ev.detail.message}`, true));
  }
}

export function install(ctx) {
  const panel = document.getElementById("panel");
  const section = document.createElement("section");
  section.setAttribute("aria-labelledby", "h-live");
  section.id = "live";
  section.innerHTML = PANEL_HTML;
  panel.insertBefore(section, panel.querySelector("header").nextSibling);
  const editor = new Editor(ctx);
  editor.wire();
  ctx.edit = editor;
  const start = new URLSearchParams(window.location.search).get("live") || "baseline";
  const begin = async () => {
    await ctx.live.connected;
    await editor.refreshScenarios();
    if (ctx.live.token) $("signout").hidden = false;
    await editor.follow(start).catch(async (err) => {
      editor.say(`${start}: ${err.message}`, true);
      if (start !== "baseline") await editor.follow("baseline");
    });
  };
  ctx.liveReady = begin();
  return editor;
}
