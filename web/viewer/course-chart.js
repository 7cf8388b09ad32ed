// greentwin: the indicators over the years as small line charts (SVG, no library).
//
// drawCourse(container, doc) draws GET /api/course's answer: one small chart per series
// (carbon, canopy, L_den and NO2 at the most exposed homes, hours of shade and UTCI on
// the pavements), the scenario as a solid line and the baseline as a dashed one, with the
// values in a table beside each chart for screen readers. Shared by the planners' viewer
// and the citizens' hub.

const W = 220;
const H = 90;
const PAD = { l: 34, r: 8, t: 8, b: 18 };

function escapeHTML(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

const fmt = (v) => (typeof v === "number" && Number.isFinite(v) ? v.toLocaleString("en", { maximumFractionDigits: 2 }) : "–");

function path(xs, ys, x, y) {
  let d = "";
  xs.forEach((xv, i) => {
    if (ys[i] == null) return;
    d += `${d ? "L" : "M"}${x(xv).toFixed(1)},${y(ys[i]).toFixed(1)}`;
  });
  return d;
}

/** One series as an SVG chart: x = years, y = values (scenario solid, baseline dashed). */
export function seriesSVG(years, ours, theirs, label) {
  const all = [...ours, ...(theirs ?? [])].filter((v) => typeof v === "number");
  let lo = Math.min(...all);
  let hi = Math.max(...all);
  if (!all.length) lo = hi = 0;
  if (hi - lo < 1e-9) {
    lo -= 1;
    hi += 1;
  }
  const x0 = years[0];
  const x1 = years[years.length - 1] === x0 ? x0 + 1 : years[years.length - 1];
  const x = (v) => PAD.l + ((v - x0) / (x1 - x0)) * (W - PAD.l - PAD.r);
  const y = (v) => H - PAD.b - ((v - lo) / (hi - lo)) * (H - PAD.t - PAD.b);
  const ticks = years.map((yr) => `<text x="${x(yr).toFixed(1)}" y="${H - 4}" text-anchor="middle">${yr}</text>`).join("");
  const base = theirs ? `<path class="baseline" d="${path(years, theirs, x, y)}" fill="none" stroke="#888" stroke-dasharray="4 3"/>` : "";
  const dots = years
    .map((yr, i) => (ours[i] == null ? "" : `<circle cx="${x(yr).toFixed(1)}" cy="${y(ours[i]).toFixed(1)}" r="2.5"/>`))
    .join("");
  return (
    `<svg viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${escapeHTML(label)}" class="course-svg">` +
    `<text x="2" y="${PAD.t + 6}">${fmt(hi)}</text><text x="2" y="${H - PAD.b}">${fmt(lo)}</text>` +
    `<line x1="${PAD.l}" y1="${H - PAD.b}" x2="${W - PAD.r}" y2="${H - PAD.b}" stroke="#bbb"/>` +
    `${base}<path class="scenario" d="${path(years, ours, x, y)}" fill="none" stroke="#1b7837" stroke-width="2"/>${dots}${ticks}</svg>`
  );
}

/** Draw a course answer ({course, baseline}) into ``container``.
 *
 * ``text`` (optional) localises: text(key, fallback) for the keys ``<series name>``,
 * ``scenario``, ``baseline``, ``value`` and ``legend``. */
export function drawCourse(container, doc, text = (_key, fallback) => fallback) {
  const c = doc.course;
  const b = doc.baseline && doc.baseline !== c && doc.scenario !== "baseline" ? doc.baseline : null;
  const parts = Object.entries(c.series).map(([name, s]) => {
    const theirs = b?.series?.[name]?.values ?? null;
    const head = c.years.map((yr) => `<th scope="col">${yr}</th>`).join("");
    const row = (vals) => vals.map((v) => `<td>${fmt(v)}</td>`).join("");
    const table =
      `<table class="course-table"><thead><tr><th scope="col"></th>${head}</tr></thead><tbody>` +
      `<tr><th scope="row">${escapeHTML(b ? text("scenario", "Scenario") : text("value", "Value"))}</th>${row(s.values)}</tr>` +
      (theirs ? `<tr><th scope="row">${escapeHTML(text("baseline", "Baseline"))}</th>${row(theirs)}</tr>` : "") +
      `</tbody></table>`;
    const title = `${text(name, s.label)} (${s.unit})`;
    return `<figure class="course" data-series="${escapeHTML(name)}"><figcaption>${escapeHTML(title)}</figcaption>${seriesSVG(c.years, s.values, theirs, title)}${table}</figure>`;
  });
  const m = c.method ?? {};
  const note = [m.date, m.homes ? `Homes: ${m.homes}.` : "", m.places ? `Places: ${m.places}.` : ""].filter(Boolean).join(" ");
  container.innerHTML =
    (b ? `<p class="note">${escapeHTML(text("legend", "Solid: this scenario; dashed: the baseline."))}</p>` : "") +
    parts.join("") +
    `<p class="note">${escapeHTML(note)}</p>`;
}
