// greentwin planners' viewer: time drives the maps, and the indicators over the years.
//
// - "Maps follow the time": with the box ticked, the time slider and season picker
//   (event "greentwin:time") switch the overlays (noise with foliage, air, heat and their
//   differences) to those of the date's half-month (also when a planner moves the scenario's
//   shared time: live "time" message): GET /api/maps?scenario=&date=
//   computes them on first request. The overlay list (overlays.js) then draws these
//   instead of the scenario's current versions (its ``source`` hook).
// - "Over the years": GET /api/course draws carbon, canopy cover, L_den and NO2 at the
//   most exposed homes, hours of shade and UTCI on the pavements now and in 5, 10, 20 and
//   30 years, for the scenario beside the baseline.
// Exposes window.greentwin.timeline = {follow, course, date} for tests.

import { drawCourse } from "./course-chart.js";
import { authHeaders } from "./live.js";

const $ = (id) => document.getElementById(id);

async function getJSON(url) {
  const resp = await fetch(url, { headers: authHeaders() });
  const body = await resp.json().catch(() => ({}));
  if (!resp.ok) throw new Error(body?.error?.message || `${resp.status} ${resp.statusText}`);
  return body;
}

export function install(g) {
  const params = new URLSearchParams(window.location.search);
  const scenario = () => g.live?.scenario || params.get("scenario") || "baseline";
  let date = null; // the date the maps follow (null: the scenario's current maps)
  let following = false;
  let timer = null;

  const section = document.createElement("section");
  section.id = "timeline";
  section.setAttribute("aria-labelledby", "h-timeline");
  section.innerHTML = `
    <h2 id="h-timeline">Over the years</h2>
    <div class="row">
      <input type="checkbox" id="maps-follow-time">
      <label for="maps-follow-time">Maps follow the time slider (noise, air and heat on that date)</label>
    </div>
    <p id="timeline-status" class="note" role="status" aria-live="polite"></p>
    <div class="buttons"><button id="course-load" type="button">Show indicators over 30 years</button></div>
    <div id="course-chart"></div>`;
  const before = $("overlays")?.nextSibling ?? null;
  $("panel").insertBefore(section, before);

  const status = (text) => {
    $("timeline-status").textContent = text;
  };

  async function source(sid) {
    if (!following || !date) return getJSON(`/api/layers?scenario=${encodeURIComponent(sid)}`);
    status(`Computing the maps of ${date} (first time for a half-month takes a few seconds)...`);
    const doc = await getJSON(`/api/maps?scenario=${encodeURIComponent(sid)}&date=${date}`);
    status(`Maps of the half-month of ${doc.bucket} shown`);
    return doc;
  }

  async function follow(on, when) {
    following = Boolean(on);
    if (when) date = when;
    $("maps-follow-time").checked = following;
    if (g.overlays) g.overlays.source = following ? source : null;
    if (!following) status("Maps show the scenario's current state");
    return g.overlays?.refresh();
  }

  $("maps-follow-time").addEventListener("change", (ev) => {
    date = date || $("date")?.value || null;
    follow(ev.target.checked).catch((err) => status(err.message));
  });
  document.addEventListener("greentwin:time", (ev) => {
    date = ev.detail?.date ?? date;
    if (!following) return;
    clearTimeout(timer);
    timer = setTimeout(() => g.overlays?.refresh().catch((err) => status(err.message)), 600);
  });

  // A planner moving the scenario's shared time (live "time" message) moves these maps too.
  queueMicrotask(() => {
    g.live?.addEventListener("time", (ev) => {
      date = ev.detail?.time?.date ?? date;
      if (following) g.overlays?.refresh().catch((err) => status(err.message));
    });
  });

  async function course(offsets) {
    const q = offsets ? `&offsets=${offsets.join(",")}` : "";
    status("Computing the indicators over the years (about half a minute the first time)...");
    const doc = await getJSON(`/api/course?scenario=${encodeURIComponent(scenario())}${q}`);
    drawCourse($("course-chart"), doc);
    status(`Indicators for ${doc.course.years.join(", ")}`);
    return doc;
  }
  $("course-load").addEventListener("click", () => course().catch((err) => status(err.message)));

  g.timeline = { follow, course, date: () => date };
}
