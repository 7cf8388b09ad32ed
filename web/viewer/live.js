// greentwin/1 in the planners' viewer: follow a scenario live and swap its layers.
//
// One WebSocket to /ws. `hello` carries the planner token from the sign-in form (kept in
// sessionStorage, never in a URL); without one the page is a viewer (baseline and published
// scenarios only). The client keeps the server's epoch and, per scenario, the last seq it
// applied: an `update` at or below it is a duplicate and is dropped, a gap means subscribe
// again (fresh snapshot). After a dropped connection it says hello with
// `resume: {scenario, epoch, seq}` and the server replays the missed updates.
//
// Layers are swapped by URL (every version has its own immutable URL):
//   geojson  -> a new GeoJsonDataSource is loaded, then the old one is removed;
//   3dtiles  -> the new tileset is added hidden, shown once its first tiles are loaded,
//               then the old one is removed (the old version stays visible until then);
//   overlay  -> a new imagery layer (XYZ template) replaces the old one at its index.
// Split screen: baseline on the left, the scenario on the right (splitDirection).

const Cesium = window.Cesium;
export const TOKEN_KEY = "greentwin.token";
const RETRY_MS = [250, 500, 1000, 2000, 5000];

const GEOJSON_STYLE = {
  trees: { colour: "#2e8b3a" },
  green_areas: { colour: "#55a84a" },
  barriers: { colour: "#6a5acd" },
  buildings: { colour: "#d9822b" },
  roads: { colour: "#444444" },
  road_network: { colour: "#555555" },
};

// `Authorization: Bearer` with the signed-in token (none for an anonymous viewer).
export function authHeaders() {
  const token = window.sessionStorage.getItem(TOKEN_KEY);
  return token ? { Authorization: `Bearer ${token}` } : {};
}

function colour(hex, alpha = 1) {
  return Cesium.Color.fromCssColorString(hex).withAlpha(alpha);
}

// Give the entities of a GeoJSON layer a look that says what they are.
function styleEntities(name, ds) {
  const style = GEOJSON_STYLE[name] ?? { colour: "#3366cc" };
  const now = Cesium.JulianDate.now();
  for (const e of ds.entities.values) {
    const props = e.properties ? e.properties.getValue(now) : {};
    e.gtLayer = name;
    e.gtId = e.id;
    if (e.billboard) {
      e.billboard = undefined;
      e.point = new Cesium.PointGraphics({
        pixelSize: name === "trees" ? 11 : 8,
        color: colour(style.colour),
        outlineColor: Cesium.Color.WHITE,
        outlineWidth: 2,
        disableDepthTestDistance: Number.POSITIVE_INFINITY,
      });
    }
    if (e.polygon) {
      e.polygon.material = colour(style.colour, name === "buildings" ? 0.85 : 0.55);
      e.polygon.outline = false;
      if (name === "buildings" && props.height_m) e.polygon.extrudedHeight = props.height_m;
    }
    if (e.polyline) {
      if (name === "barriers" && props.height_m) {
        const positions = e.polyline.positions.getValue(now);
        e.polyline = undefined;
        e.wall = new Cesium.WallGraphics({
          positions,
          maximumHeights: positions.map(() => props.height_m),
          minimumHeights: positions.map(() => 0),
          material: colour(style.colour, 0.8),
        });
      } else {
        const closed = props.closed === true;
        e.polyline.material = colour(closed ? "#b00020" : style.colour, 0.9);
        e.polyline.width = name === "road_network" ? 6 : 3;
        e.polyline.clampToGround = false;
      }
    }
  }
}

export class LiveClient extends EventTarget {
  constructor(ctx) {
    super();
    this.ctx = ctx;
    this.ws = null;
    this.epoch = null;
    this.role = null;
    this.session = null;
    this.scenario = null; // the followed scenario
    this.seq = new Map(); // scenario -> last applied seq
    this.info = null; // the last snapshot's scenario fields
    this.layers = new Map(); // name -> {info, handle, kind}
    this.baseline = new Map(); // name -> handle shown on the left in split mode
    this.split = false;
    this.overlay = null; // the overlay layer shown (name), none at first
    this.pending = new Map(); // ref -> {resolve, reject}
    this.refs = 0;
    this.attempt = 0;
    this.closed = false;
    this.queue = Promise.resolve(); // layer swaps are applied one message at a time
    this.connected = this.#connect();
  }

  get token() {
    return window.sessionStorage.getItem(TOKEN_KEY);
  }

  emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  // ------------------------------------------------------------------ connection
  #connect() {
    return new Promise((resolve) => {
      const proto = window.location.protocol === "https:" ? "wss:" : "ws:";
      const ws = new WebSocket(`${proto}//${window.location.host}/ws`);
      this.ws = ws;
      this.welcomed = resolve;
      ws.addEventListener("open", () => {
        const hello = { type: "hello", protocol: "greentwin/1" };
        const token = this.token;
        if (token) hello.token = token;
        const seq = this.scenario ? this.seq.get(this.scenario) : undefined;
        if (this.scenario && this.epoch && seq !== undefined) {
          hello.resume = { scenario: this.scenario, epoch: this.epoch, seq };
        }
        ws.send(JSON.stringify(hello));
      });
      ws.addEventListener("message", (ev) => {
        if (typeof ev.data !== "string") return; // glb frames are for engine clients
        let msg;
        try {
          msg = JSON.parse(ev.data);
        } catch {
          return;
        }
        this.#onMessage(msg);
      });
      ws.addEventListener("close", () => {
        this.emit("status", { connected: false });
        for (const [, p] of this.pending) p.reject(new Error("connection lost"));
        this.pending.clear();
        if (this.closed) return;
        const wait = RETRY_MS[Math.min(this.attempt, RETRY_MS.length - 1)];
        this.attempt += 1;
        setTimeout(() => {
          if (!this.closed) this.connected = this.#connect();
        }, wait);
      });
    });
  }

  // Reconnect now (e.g. after signing in: the new token needs a new hello).
  reconnect() {
    if (this.ws && this.ws.readyState <= 1) {
      this.attempt = 0;
      this.ws.close();
    }
  }

  // Drop the connection without forgetting the position (tests use it to check resume).
  dropConnection() {
    this.ws?.close();
  }

  close() {
    this.closed = true;
    this.ws?.close();
  }

  send(msg) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) throw new Error("not connected");
    this.ws.send(JSON.stringify(msg));
  }

  // Send a message with a ref and wait for its ack, snapshot or error.
  request(msg, timeoutMs = 30000) {
    const ref = `v${++this.refs}`;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(ref);
        reject(new Error(`no answer to ${msg.type} within ${timeoutMs / 1000} s`));
      }, timeoutMs);
      this.pending.set(ref, {
        resolve: (m) => (clearTimeout(timer), resolve(m)),
        reject: (e) => (clearTimeout(timer), reject(e)),
      });
      try {
        this.send({ ...msg, ref });
      } catch (err) {
        this.pending.delete(ref);
        clearTimeout(timer);
        reject(err);
      }
    });
  }

  async subscribe(scenario) {
    await this.connected;
    if (this.scenario && this.scenario !== scenario) {
      try {
        this.send({ type: "unsubscribe", scenario: this.scenario });
      } catch {
        /* reconnecting: the new hello has no resume for the old scenario */
      }
      this.seq.delete(this.scenario);
    }
    this.scenario = scenario;
    return this.request({ type: "subscribe", scenario });
  }

  edit(op, baseSeq) {
    const msg = { type: "edit", scenario: this.scenario, op };
    if (baseSeq !== undefined) msg.base_seq = baseSeq;
    return this.request(msg);
  }

  undo() {
    return this.request({ type: "undo", scenario: this.scenario });
  }

  redo() {
    return this.request({ type: "redo", scenario: this.scenario });
  }

  // ------------------------------------------------------------------ messages
  #settle(msg, ok) {
    const p = msg.ref !== undefined ? this.pending.get(msg.ref) : undefined;
    if (!p) return false;
    this.pending.delete(msg.ref);
    if (ok) p.resolve(msg);
    else {
      const err = new Error(`${msg.code}: ${msg.message}`);
      err.code = msg.code;
      p.reject(err);
    }
    return true;
  }

  #onMessage(msg) {
    switch (msg.type) {
      case "welcome":
        this.attempt = 0;
        if (this.epoch && this.epoch !== msg.epoch) this.seq.clear(); // a new store: start over
        this.epoch = msg.epoch;
        this.role = msg.role;
        this.session = msg.session;
        this.emit("status", { connected: true, role: msg.role });
        this.welcomed?.();
        // a plain hello (no resume) forgets subscriptions: subscribe again
        if (this.scenario && !this.seq.has(this.scenario)) {
          const scenario = this.scenario;
          this.request({ type: "subscribe", scenario }).catch((e) => this.emit("error", { message: e.message }));
        }
        break;
      case "snapshot":
        if (msg.scenario !== this.scenario) break;
        this.seq.set(msg.scenario, msg.seq);
        this.info = { id: msg.scenario, name: msg.name, status: msg.status, parent: msg.parent, time: msg.time };
        this.#enqueue(() => this.#applyLayers(msg.layers, true), msg);
        this.#settle(msg, true);
        this.emit("snapshot", msg);
        break;
      case "update": {
        if (msg.scenario !== this.scenario) break;
        const have = this.seq.get(msg.scenario);
        if (have === undefined || msg.seq <= have) break; // duplicate (e.g. after a resume)
        if (msg.seq !== have + 1) {
          this.seq.delete(msg.scenario); // a gap: a fresh snapshot puts us right
          this.request({ type: "subscribe", scenario: msg.scenario }).catch(() => {});
          break;
        }
        this.seq.set(msg.scenario, msg.seq);
        this.#enqueue(() => this.#applyLayers(msg.layers, false), msg);
        this.emit("update", msg);
        break;
      }
      case "ack":
        this.#settle(msg, true);
        this.emit("ack", msg);
        break;
      case "error":
        if (msg.code === "resync" && msg.scenario === this.scenario) {
          this.seq.delete(msg.scenario); // the snapshot that follows replaces everything
        }
        if (!this.#settle(msg, false)) this.emit("error", msg);
        break;
      case "time":
        if (msg.scenario && msg.scenario === this.scenario) this.emit("time", msg);
        break;
      default:
        break; // pong, comment, votes, ...: not for this page
    }
  }

  #enqueue(fn, msg) {
    this.queue = this.queue
      .then(fn)
      .then(() => this.emit("applied", { seq: msg.seq, type: msg.type, layers: Object.keys(msg.layers || {}) }))
      .catch((err) => {
        const text = err?.message ?? String(err);
        console.warn(`could not apply ${msg.type} ${msg.seq}: ${text}`);
        this.emit("error", { code: "layer", message: text });
      });
  }

  // ------------------------------------------------------------------ layers
  async #applyLayers(layers, snapshot) {
    if (snapshot) {
      for (const name of [...this.layers.keys()]) {
        if (!(name in layers)) this.#drop(name);
      }
    }
    await Promise.all(Object.entries(layers).map(([name, info]) => this.#swap(name, info)));
    this.#applySplit();
  }

  // The layer's handle as the base viewer loaded it (same URL: nothing to download).
  #adopt(name, info) {
    const base = this.ctx.state?.layers?.[name];
    const ts = this.ctx.tilesets?.[name];
    if (info.kind === "3dtiles" && base && base.url === info.url && ts) return ts;
    return null;
  }

  async #swap(name, info) {
    const old = this.layers.get(name);
    if (old && old.info.url === info.url) {
      old.info = info;
      return;
    }
    const kind = info.kind ?? "geojson";
    let handle = null;
    const viewer = this.ctx.viewer;
    if (kind === "geojson") {
      // fetched here (not by Cesium) so a draft's layer gets the planner's Authorization header
      const resp = await fetch(info.url, { headers: authHeaders() });
      if (!resp.ok) throw new Error(`${info.url}: ${resp.status} ${resp.statusText}`);
      handle = await Cesium.GeoJsonDataSource.load(await resp.json(), { clampToGround: false });
      styleEntities(name, handle);
      await viewer.dataSources.add(handle);
    } else if (kind === "3dtiles") {
      await Promise.resolve(this.ctx.ready).catch(() => {}); // the base viewer's own tilesets first
      handle = this.#adopt(name, info);
      if (!handle) {
        // a draft's tiles need the planner's token (a Resource's headers reach every tile)
        handle = await Cesium.Cesium3DTileset.fromUrl(new Cesium.Resource({ url: info.url, headers: authHeaders() }));
        handle.gtUrl = info.url;
        handle.show = false;
        viewer.scene.primitives.add(handle);
        await firstTiles(viewer, handle);
        handle.show = true;
        const baseTs = this.ctx.tilesets?.[name];
        if (baseTs && baseTs !== handle && !this.baseline.has(name)) {
          this.baseline.set(name, baseTs); // the baseline version, kept for split screen
        }
        if (this.ctx.tilesets) this.ctx.tilesets[name] = handle;
      }
    } else if (kind === "overlay" || kind === "raster") {
      const template = info.tiles ?? info.url;
      const provider = new Cesium.UrlTemplateImageryProvider({
        url: new Cesium.Resource({ url: template, headers: authHeaders() }),
        maximumLevel: info.max_zoom ?? 19,
        minimumLevel: 0,
        tilingScheme: new Cesium.WebMercatorTilingScheme(),
        hasAlphaChannel: true,
      });
      handle = new Cesium.ImageryLayer(provider, { alpha: 0.7 });
      const index = old?.handle instanceof Cesium.ImageryLayer ? viewer.imageryLayers.indexOf(old.handle) : undefined;
      viewer.imageryLayers.add(handle, index >= 0 ? index + 1 : undefined);
      handle.show = this.overlay === name; // one overlay at a time (showOverlay)
    } else {
      return; // an unknown kind: clients ignore what they do not know
    }
    this.layers.set(name, { info, handle, kind });
    if (old) this.#release(name, old);
    this.emit("layer", { name, info });
  }

  #release(name, old) {
    const viewer = this.ctx.viewer;
    if (old.kind === "geojson") viewer.dataSources.remove(old.handle, true);
    else if (old.kind === "3dtiles") {
      if (this.baseline.get(name) === old.handle) old.handle.show = this.split;
      else if (old.handle !== this.ctx.tilesets?.[name]) viewer.scene.primitives.remove(old.handle);
    } else if (old.info.version === 0 && !this.baseline.has(name)) {
      // the baseline's overlay: kept for the left side of the split screen
      this.baseline.set(name, old.handle);
      old.handle.show = this.split && this.overlay === name;
    } else if (this.baseline.get(name) !== old.handle) viewer.imageryLayers.remove(old.handle, true);
  }

  #drop(name) {
    const old = this.layers.get(name);
    if (!old) return;
    this.layers.delete(name);
    if (old.kind === "3dtiles") {
      const base = this.baseline.get(name);
      if (base) {
        // back to the baseline version
        base.show = true;
        base.splitDirection = Cesium.SplitDirection.NONE;
        if (this.ctx.tilesets) this.ctx.tilesets[name] = base;
        this.baseline.delete(name);
      }
      if (old.handle !== base) this.ctx.viewer.scene.primitives.remove(old.handle);
      return;
    }
    this.#release(name, old);
  }

  // Show one overlay layer (noise_lden, diff_no2, ...) or none (null).
  showOverlay(name) {
    this.overlay = name || null;
    for (const [n, layer] of this.layers) {
      if (layer.kind === "overlay" || layer.kind === "raster") layer.handle.show = n === this.overlay;
    }
    this.#applySplit();
  }

  // The imagery layer that shows an overlay now (null: none, or not one of this client's).
  overlayHandle(name) {
    const layer = this.layers.get(name);
    return layer && (layer.kind === "overlay" || layer.kind === "raster") ? layer.handle : null;
  }

  // ------------------------------------------------------------------ split screen
  // Baseline on the left, this scenario's own layer versions on the right.
  setSplit(on) {
    this.split = on;
    this.#applySplit();
  }

  #applySplit() {
    this.ctx.viewer.scene.requestRender(); // the scene renders on request (app.js)
    const { LEFT, RIGHT, NONE } = Cesium.SplitDirection;
    for (const [name, layer] of this.layers) {
      const base = this.baseline.get(name);
      if (layer.kind === "3dtiles") {
        layer.handle.splitDirection = this.split && base ? RIGHT : NONE;
        if (base) {
          base.show = this.split;
          base.splitDirection = this.split ? LEFT : NONE;
        }
      } else if (layer.kind === "overlay" || layer.kind === "raster") {
        layer.handle.splitDirection = this.split && base ? RIGHT : NONE;
        if (base) {
          base.show = this.split && this.overlay === name;
          base.splitDirection = this.split ? LEFT : NONE;
        }
      }
    }
  }

  // Current layer versions, for tests and the layer list: name -> {url, version, kind}.
  current() {
    return Object.fromEntries([...this.layers].map(([n, l]) => [n, { ...l.info }]));
  }

  // The features of a GeoJSON layer as plain objects {id, properties, lonlat}.
  features(name) {
    const layer = this.layers.get(name);
    if (!layer || layer.kind !== "geojson") return [];
    const now = Cesium.JulianDate.now();
    return layer.handle.entities.values.map((e) => {
      const pos = e.position?.getValue(now);
      let lonlat = null;
      if (pos) {
        const c = Cesium.Cartographic.fromCartesian(pos);
        lonlat = [Cesium.Math.toDegrees(c.longitude), Cesium.Math.toDegrees(c.latitude)];
      }
      return { id: e.id, properties: e.properties ? e.properties.getValue(now) : {}, lonlat };
    });
  }
}

// Wait until a new tileset has drawn its first tiles (or a few seconds: never hang a swap).
function firstTiles(viewer, tileset, timeoutMs = 8000) {
  return new Promise((resolve) => {
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      off();
      clearTimeout(timer);
      resolve();
    };
    const off = tileset.initialTilesLoaded.addEventListener(finish);
    const timer = setTimeout(finish, timeoutMs);
    tileset.show = true; // tiles of a hidden tileset are not requested: show it at 0 alpha
    tileset.style = new Cesium.Cesium3DTileStyle({ color: "color('white', 0.0)" });
    viewer.scene.requestRender();
  }).then(() => {
    tileset.style = undefined;
  });
}

// Install the live client on the viewer context; returns it (also ctx.live).
export function install(ctx) {
  const live = new LiveClient(ctx);
  ctx.live = live;
  return live;
}
