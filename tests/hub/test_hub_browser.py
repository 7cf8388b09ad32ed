"""The citizens' planning hub in headless Chromium against the real server.

One server and one browser for the module; a proposal in the Berlin test area is
published through the scenario API. Covered: opening a proposal, the time controls
(years and seasons) and the facts they change, "what changes for me here" at a searched
address, a comment posted in one page appearing live in a second page (markup in it
stays inert text), moderation reaching open pages, the kiosk reset after inactivity,
the language switch (texts, number formats, ``<html lang>``) and an axe-core scan of
every view with no serious or critical violation.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from greentwin.server.hub import HubSettings
from gt_hub import ADMIN, HOME, PLANNER, make_app
from gt_testing import CHROMIUM_ARGS, CITYGML, ROOT, ServerThread, chromium_path

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]

AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
PAGE_TIMEOUT = 30_000


class HubServer(ServerThread):
    """The application with the hub on a random loopback port, in its own thread."""

    def __init__(self, data_dir: Path) -> None:
        # generous comment limits: the pages post several comments from one address
        settings = HubSettings(comment_burst=20, address_burst=60)
        super().__init__(
            lambda: make_app(data_dir, settings=settings, citygml=CITYGML), name="hub-test-server"
        )
        self.data_dir = data_dir

    def call(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read() or b"null")


def _publish(srv: HubServer) -> str:
    sid = "green-street"
    lon, lat = HOME
    srv.call("POST", "/api/scenarios", {"name": "Greener Normannenstraße", "id": sid}, PLANNER)
    ops = [
        {
            "op": "plant_tree",
            "species": "tilia-cordata",
            "position": [lon + 0.0002, lat],
            "age_years": 8,
        },
        {
            "op": "plant_tree",
            "species": "acer-platanoides",
            "position": [lon - 0.0002, lat + 0.0001],
            "age_years": 6,
        },
        {
            "op": "plant_tree",
            "species": "tilia-cordata",
            "position": [lon + 0.0004, lat - 0.0001],
            "age_years": 10,
        },
        {"op": "remove_tree", "id": "baseline-tree-17"},
        {"op": "close_road", "id": "road-normannen"},
        {
            "op": "add_barrier",
            "line": [[lon, lat - 0.0003], [lon + 0.0005, lat - 0.0003]],
            "height_m": 3,
        },
    ]
    for op in ops:
        srv.call("POST", f"/api/scenarios/{sid}/edits", {"op": op}, PLANNER)
    srv.call("POST", f"/api/scenarios/{sid}/publish", {}, PLANNER)
    return sid


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubServer]:
    with HubServer(tmp_path_factory.mktemp("hub") / "var") as srv:
        srv.proposal = _publish(srv)  # type: ignore[attr-defined]
        yield srv


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def new_page(browser: Any) -> Iterator[Any]:
    contexts: list[Any] = []
    errors: list[str] = []

    def make(url: str, *, width: int = 1100) -> Any:
        ctx = browser.new_context(viewport={"width": width, "height": 900})
        contexts.append(ctx)
        page = ctx.new_page()
        page.set_default_timeout(PAGE_TIMEOUT)
        page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto(url, wait_until="load")
        page.wait_for_function("window.hub && window.hub.ready")
        page.evaluate("() => window.hub.ready")
        return page

    yield make
    for ctx in contexts:
        ctx.close()
    assert errors == [], errors


def _axe(page: Any, label: str) -> list[dict[str, Any]]:
    """Inject axe-core and fail on serious or critical violations (3D canvas excluded)."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE))
    result = page.evaluate(
        """async () => {
            const r = await axe.run({exclude: [['#view3d']]},
                                    {resultTypes: ['violations'],
                                     runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']}});
            return {passes: r.passes.length,
                    violations: r.violations.map(v => ({id: v.id, impact: v.impact,
                                           nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}))};
        }"""
    )
    assert result["passes"] >= 10, "axe ran no real checks"
    bad = [v for v in result["violations"] if v["impact"] in ("serious", "critical")]
    assert bad == [], f"{label}: {bad}"
    violations: list[dict[str, Any]] = result["violations"]
    return violations


def _open_proposal(page: Any, sid: str) -> None:
    page.click(f"button[data-open='{sid}']")
    page.wait_for_function("document.querySelector('#p-title').textContent.includes('Normannen')")
    page.wait_for_function("document.querySelector('#facts [data-fact=trees]') !== null")


def test_open_proposal_time_and_here(server: HubServer, new_page: Any) -> None:
    page = new_page(f"{server.url}/hub/")
    _axe(page, "proposal list")
    assert page.locator("#proposals > li").count() == 1
    _open_proposal(page, server.proposal)  # type: ignore[attr-defined]
    summary = page.inner_text("#p-summary")
    assert "3 trees planted" in summary and "1 noise barrier built" in summary
    assert "1 road closed to traffic" in summary
    assert page.locator("#chart-changes svg[role=img] title").count() == 1
    assert "not computed yet" in page.inner_text("#p-effects")

    # time: now / in 20 years, summer / winter change the trees and the key facts
    facts_now = page.inner_text("#facts")
    page.click("#years button[data-years='20']")
    page.wait_for_function("window.hub.state.trees && window.hub.state.trees.years === 20")
    assert page.get_attribute("#years button[data-years='20']", "aria-pressed") == "true"
    facts_20 = page.inner_text("#facts")
    assert facts_20 != facts_now and "in 20 years" in facts_20
    h_now = page.evaluate("() => window.hub.state.trees.trees[0].height_m")
    page.click("#seasons button[data-season='winter']")
    page.wait_for_function("window.hub.state.trees.season === 'winter'")
    facts_winter = page.inner_text("#facts")
    assert "winter" in facts_winter and "Leaves: 0 %" in facts_winter
    page.click("#seasons button[data-season='summer']")
    page.wait_for_function("window.hub.state.trees.season === 'summer'")
    assert "Leaves: 100 %" in page.inner_text("#facts")
    page.click("#years button[data-years='0']")
    page.wait_for_function("window.hub.state.trees.years === 0")
    assert page.evaluate("() => window.hub.state.trees.trees[0].height_m") < h_now
    assert page.locator("#chart-carbon svg").count() == 1

    # what changes for me here: search an address, pick it, read before/after
    page.fill("#q", "Normannenstraße")
    page.click("#search-form button[type=submit]")
    page.wait_for_selector("#search-results li button")
    page.click("#search-results li button >> nth=0")
    page.wait_for_selector("#here-effects")
    here = page.inner_text("#here")
    assert "Normannenstraße" in here
    state = page.evaluate("() => window.hub.state.here")
    if state["effects_status"] == "computed":  # the real numbers, once overlays are wired
        before = state["effects"]["noise_lden_db"]["before"]
        assert before is not None and f"{before:.1f}"[:2] in here
        assert page.locator("#here figure svg").count() >= 1
    else:
        assert "Before: not computed yet" in here and "After: not computed yet" in here
        assert page.locator("#here [data-status=not-computed]").count() == 1
    assert state["changes"], "the search result is near the planted trees"
    assert "a new tree" in here and "m away" in here

    # compare modes
    page.click("#modes button[data-mode='swipe']")
    assert page.is_visible("#swipe") and "Left of the divider" in page.inner_text("#facts")
    page.click("#modes button[data-mode='after']")
    _axe(page, "proposal view")

    # the 3D view comes up (SwiftShader: slow, the page did not wait for it)
    page.wait_for_function("window.hub.viewer !== null", timeout=120_000)
    assert page.get_attribute("#view3d canvas", "aria-describedby") == "facts"
    count = page.evaluate("() => window.hub.view.trees.length")
    assert count == 6  # a trunk and a crown per new tree


def test_comment_appears_live_and_stays_inert(server: HubServer, new_page: Any) -> None:
    sid = server.proposal  # type: ignore[attr-defined]
    url = f"{server.url}/hub/?no3d=1#/p/{sid}"
    a = new_page(url)
    b = new_page(url)
    for page in (a, b):
        page.wait_for_function("window.hub.state.liveReady === true")
    evil = '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2"> Trees please!'
    a.fill("#nickname", "Maija")
    a.fill("#text", evil)
    assert "of 2,000 characters" in a.inner_text("#counter")
    a.click("#send")
    a.wait_for_function("document.querySelector('#form-status').textContent.includes('published')")
    b.wait_for_function(
        "[...document.querySelectorAll('#comments li')].some(li => li.textContent.includes('Trees please'))",
        timeout=10_000,
    )
    item = b.locator("#comments li", has_text="Trees please")
    assert "<script>window.__pwned=1</script>" in item.inner_text()
    assert "Maija" in item.inner_text()
    assert b.locator("#comments img").count() == 0 and b.locator("#comments script").count() == 0
    for page in (a, b):
        assert page.evaluate("() => window.__pwned") is None
    assert a.input_value("#text") == ""

    # a vote in one page updates the counts in the other
    a.click("#vote-up")
    b.wait_for_function("document.querySelector('#vote-up').textContent.includes('(1)')")
    # the voter's own page marks its vote when its POST is answered, which may come after
    # the broadcast reached the other page: wait for it (bounded), don't sample it
    a.wait_for_function(
        "document.querySelector('#vote-up').getAttribute('aria-pressed') === 'true'",
        timeout=10_000,
    )

    # an admin hides it: the open page shows the reason, never the text again
    cid = int(item.get_attribute("data-id") or 0)
    server.call("POST", f"/api/scenarios/{sid}/comments/{cid}/hide", {"reason": "spam test"}, ADMIN)
    b.wait_for_function(
        f"document.querySelector('#comment-{cid}').textContent.includes('spam test')"
    )
    assert "Trees please" not in b.inner_text(f"#comment-{cid}")
    b.reload(wait_until="load")
    b.wait_for_function("window.hub && window.hub.state.comments.size > 0")
    assert "Hidden by moderator: spam test" in b.inner_text(f"#comment-{cid}")
    assert "Trees please" not in b.inner_text("#comments")
    _axe(b, "proposal with comments")


def test_kiosk_resets_after_inactivity(server: HubServer, new_page: Any) -> None:
    sid = server.proposal  # type: ignore[attr-defined]
    page = new_page(f"{server.url}/hub/?kiosk=1&idle=4&no3d=1")
    assert page.evaluate("() => document.body.classList.contains('kiosk')")
    _open_proposal(page, sid)
    page.click("button.lang[data-lang='fi']")
    page.wait_for_function("document.documentElement.lang === 'fi'")
    page.fill("#nickname", "Kioski")
    page.fill("#text", "kesken")
    # large touch targets, no links out, no context menu
    heights = page.evaluate(
        "() => [...document.querySelectorAll('button, input, textarea')]"
        ".filter(e => e.offsetParent !== null).map(e => e.getBoundingClientRect().height)"
    )
    assert heights and min(heights) >= 48
    assert page.evaluate(
        "() => [...document.querySelectorAll('a[href]')].every(a => new URL(a.href).origin === location.origin)"
    )
    prevented = page.evaluate(
        "() => !document.body.dispatchEvent(new MouseEvent('contextmenu', {bubbles: true, cancelable: true}))"
    )
    assert prevented
    assert page.evaluate("() => document.body.dataset.resets") is None  # activity kept it
    page.wait_for_function("document.body.dataset.resets === '1'", timeout=15_000)
    assert page.evaluate("() => location.hash") in ("", "#/")
    assert page.is_visible("#view-list") and not page.is_visible("#view-proposal")
    assert page.get_attribute("html", "lang") == "en"
    assert page.input_value("#nickname") == "" and page.input_value("#text") == ""
    assert page.inner_text("#list-title") == "Proposals"
    _axe(page, "kiosk list")


def test_language_switch(server: HubServer, new_page: Any) -> None:
    sid = server.proposal  # type: ignore[attr-defined]
    # a Finnish title and summary; the other languages fall back to the scenario's name
    fi = {"title": "Vihreämpi Normannenkatu", "summary": "Puita, meluseinä ja suljettu katu."}
    server.call("PUT", f"/api/scenarios/{sid}/titles", {"titles": {"fi": fi}}, PLANNER)
    page = new_page(f"{server.url}/hub/?no3d=1")
    _open_proposal(page, sid)
    page.click("#years button[data-years='10']")
    page.wait_for_function("window.hub.state.trees.years === 10")
    expected = {
        "en": ("What changes", "In 10 years", "."),
        "fi": ("Mikä muuttuu", "10 vuoden päästä", ","),
        "et": ("Mis muutub", "10 aasta pärast", ","),
    }
    texts = {}
    for lang, (heading, button, decimal) in expected.items():
        page.click(f"button.lang[data-lang='{lang}']")
        page.wait_for_function(f"document.documentElement.lang === '{lang}'")
        assert page.inner_text("#h-summary") == heading
        assert page.inner_text("#years button[data-years='10']") == button
        assert page.get_attribute(f"button.lang[data-lang='{lang}']", "aria-pressed") == "true"
        title = fi["title"] if lang == "fi" else "Greener Normannenstraße"
        assert page.inner_text("#p-title") == title and page.title().startswith(title)
        assert page.is_visible("#p-lead") == (lang == "fi")
        if lang == "fi":
            assert page.inner_text("#p-lead") == fi["summary"]
        facts = page.inner_text("#facts [data-fact=trees]")
        texts[lang] = facts
        assert f"9{decimal}" in facts or any(f"{d}{decimal}" in facts for d in "0123456789")
        other = "," if decimal == "." else "."
        assert not any(f"{d}{other}{e}" in facts for d in "0123456789" for e in "0123456789")
        # dates per locale in the page meta line
        meta = page.inner_text("#p-meta")
        month = page.evaluate(
            f"() => new Intl.DateTimeFormat('{ {'en': 'en-GB', 'fi': 'fi-FI', 'et': 'et-EE'}[lang] }',"
            " {month: 'long'}).format(new Date())"
        )
        assert month in meta
        _axe(page, f"proposal in {lang}")
    assert len(set(texts.values())) == 3
    # the list shows the title of the language too
    page.goto(f"{server.url}/hub/?no3d=1&lang=fi#/")
    page.wait_for_function("window.hub && window.hub.ready")
    page.evaluate("() => window.hub.ready")
    page.wait_for_selector(f"#proposals h2:text-is('{fi['title']}')")
    assert fi["summary"] in page.inner_text("#proposals")
    server.call("PUT", f"/api/scenarios/{sid}/titles", {"titles": {}}, PLANNER)
    # every string of the UI is translated: same keys in the three files
    keys = {
        lang: set(json.loads((ROOT / "web" / "hub" / "i18n" / f"{lang}.json").read_text()))
        for lang in expected
    }
    assert keys["en"] == keys["fi"] == keys["et"]


def test_empty_list_follows_the_language(tmp_path: Path, browser: Any, new_page: Any) -> None:
    """With nothing published, the list's note is translated like every other text."""
    strings = {
        lang: json.loads((ROOT / "web" / "hub" / "i18n" / f"{lang}.json").read_text())
        for lang in ("en", "fi", "et")
    }
    with HubServer(tmp_path / "var") as empty:
        page = new_page(f"{empty.url}/hub/?no3d=1")
        page.wait_for_function(
            "document.querySelector('#list-status').textContent === "
            + json.dumps(strings["en"]["list.empty"])
        )
        for lang in ("fi", "et", "en"):
            page.click(f"button.lang[data-lang='{lang}']")
            page.wait_for_function(f"document.documentElement.lang === '{lang}'")
            assert page.inner_text("#list-status") == strings[lang]["list.empty"]
        page.close()  # its live connection too, so the server can stop


def test_a_resident_code_marks_the_comment_verified(server: HubServer, new_page: Any) -> None:
    page = new_page(f"{server.url}/hub/?no3d=1")
    _open_proposal(page, server.proposal)  # type: ignore[attr-defined]
    page.fill("#nickname", "Liisa")
    page.fill("#text", "Checked by the office")
    page.fill("#resident-code", "tok-citizen")  # an unknown code: 401 (tests/hub/test_hub_api)
    page.click("#send")
    item = page.locator("#comments li", has_text="Checked by the office")
    item.wait_for()
    assert "verified resident" in item.inner_text()
    assert page.input_value("#text") == ""
    _axe(page, "comment form with the resident code")


def test_maps_follow_the_chosen_time(server: HubServer, new_page: Any) -> None:
    """'In 20 years' shows that date's overlay (tiles of its own computation) with its
    legend, and the before/after at an address follows the same date."""
    import datetime as dt

    sid = server.proposal  # type: ignore[attr-defined]
    year = dt.datetime.now(dt.UTC).year
    page = new_page(f"{server.url}/hub/?no3d=1")
    _open_proposal(page, sid)
    assert not page.is_visible("#map-figure")
    page.click("#maps-load")
    page.wait_for_function("window.hub.state.maps !== null", timeout=120_000)
    now = page.evaluate("() => window.hub.state.maps")
    assert now["requested"] == f"{year}-07-15" and now["bucket"] == f"{year}-07-08"
    page.click("#years button[data-years='20']")
    page.wait_for_function(
        f"window.hub.state.maps && window.hub.state.maps.requested === '{year + 20}-07-15'",
        timeout=120_000,
    )
    later = page.evaluate("() => window.hub.state.maps")
    assert later["key"] != now["key"]
    # the map is drawn from the dated overlay's tiles, which load
    srcs = page.eval_on_selector_all("#map2d img", "els => els.map(e => e.getAttribute('src'))")
    assert srcs and all(s.startswith(f"/timemaps/{sid}/{later['key']}/noise_lden/") for s in srcs)
    page.wait_for_function(
        "[...document.querySelectorAll('#map2d img')].every(i => i.complete && i.naturalWidth > 0)"
    )
    caption = page.inner_text("#map-caption")
    assert "Road noise (with trees)" in caption and "in 20 years" in caption
    assert str(year + 20) in caption
    legend = page.inner_text("#map-legend")
    assert "Legend: Road noise (with trees)" in legend and "75 to 80 dB" in legend
    assert page.locator("#map-legend li .swatch").count() >= 5
    # the heat map's legend in the UTCI heat-stress classes, with the design-day note
    page.click("#map-layers button[data-layer='utci']")
    assert page.get_attribute("#map-layers button[data-layer='utci']", "aria-pressed") == "true"
    assert "/utci/" in (page.get_attribute("#map2d img >> nth=0", "src") or "")
    assert "strong heat stress" in page.inner_text("#map-legend")
    assert "hot, clear summer day" in page.inner_text("#map-caption")
    # what changes for me here: the values of the same date, heat included
    page.fill("#q", "Normannenstraße")
    page.click("#search-form button[type=submit]")
    page.wait_for_selector("#search-results li button")
    page.click("#search-results li button >> nth=0")
    page.wait_for_function("window.hub.state.here && window.hub.state.here.time", timeout=60_000)
    here = page.evaluate("() => window.hub.state.here")
    assert here["time"] == {"years": 20, "season": "summer", "date": f"{year + 20}-07-15"}
    assert here["effects_status"] == "computed"
    text = page.inner_text("#here")
    assert "Felt heat at 3 pm" in text and "Hours of shade" in text
    assert page.locator(f"#here [data-here-date='{year + 20}-07-15']").count() == 1
    # "now" again: the values at the address follow the buttons
    page.click("#years button[data-years='0']")
    page.wait_for_function(
        "window.hub.state.here && window.hub.state.here.time.years === 0", timeout=60_000
    )
    assert page.locator("#map2d .dot").count() == 1
    _axe(page, "maps for the chosen time")
    page.click("button.lang[data-lang='fi']")
    page.wait_for_function("document.documentElement.lang === 'fi'")
    assert "Selite: Koettu lämpö klo 15" in page.inner_text("#map-legend")
    assert "voimakas lämpöstressi" in page.inner_text("#map-legend")
    _axe(page, "maps for the chosen time in fi")
