"""Real-browser test of the live grid (ui.live_charts) in headless Chromium.

While a run trains, each chart keeps its Vega view and takes new data in place (the SVG stays, its line
moves); a chart below the fold is drawn when it is scrolled into view and not before; once the run has
ended, the page draws the charts with Streamlit's own st.vega_lite_chart. The server and page are
tests/conftest.py's fixtures.
"""

from support import wait_for

MARK = "g.role-mark path"
SMALL = "num_samples=400&token_dim=16&channel_dim=16&expert_dim=16&adapt_dim=8"


def test_live_charts_take_new_data_in_place_and_draw_when_seen(dashboard, browser_page):
    (url, _), page = dashboard, browser_page
    page.set_viewport_size({"width": 1500, "height": 900})  # the lower charts start below the fold
    page.goto(f"{url}/?num_epochs=500&{SMALL}")
    page.wait_for_selector('[data-testid="stSidebar"]', timeout=60_000)
    main = page.get_by_test_id("stMainBlockContainer")
    main.get_by_role("button", name="Start").click()

    plots = page.locator('[data-testid="lfmLiveChart"]')  # Playwright's selectors pierce the shadow root
    wait_for(lambda: plots.count() >= 6 and plots.nth(0).locator(MARK).count() > 0, 60, "the live grid")
    assert page.locator('[data-testid="stVegaLiteChart"]').count() == 0

    # 1. the loss chart moves with training, drawn into the same SVG each time
    loss = plots.nth(0)
    svg = loss.locator("svg.marks").element_handle()
    line = lambda: loss.locator(MARK).first.get_attribute("d")  # noqa: E731
    before = line()
    wait_for(lambda: line() != before, 30, "the loss line to move")
    assert svg.evaluate("node => node.isConnected"), "the loss chart was drawn anew, not updated"
    assert int(loss.get_attribute("data-draws")) >= 2

    # 2. the last chart is below the fold: no view until it is scrolled to, then drawn
    last = plots.nth(plots.count() - 1)
    assert last.get_attribute("data-draws") is None and last.locator("svg.marks").count() == 0
    last.scroll_into_view_if_needed()
    wait_for(lambda: last.locator(MARK).count() > 0, 30, "the scrolled-to chart")

    # 3. an ended run is drawn by Streamlit's own charts
    main.get_by_role("button", name="Stop").click()
    wait_for(lambda: page.locator('[data-testid="stVegaLiteChart"] ' + MARK).count() > 0, 30,
             "Streamlit's charts for the stopped run")
    assert plots.count() == 0
    assert page.locator('[data-testid="stException"]').count() == 0


# Streamlit's component frame calls the grid's module with each new data, and calls the cleanup of a call
# that a newer one overtook before it ran, possibly after the newer call: once, that left two grids in one
# page, the live one pushed out of view below the old one. The module alone, in a blank page:
LOAD_MODULE = """async (source) => {
  const url = URL.createObjectURL(new Blob([source], {type: "text/javascript"}));
  window.render = (await import(url)).default;
  window.grid = (title) => new TextEncoder().encode(JSON.stringify(
    {loader: "none.js", config: {}, rows: [{two: false, cells: [{slot: "a", title: title, note: "no chart"}]}]}));
}"""


def test_a_call_overtaken_by_a_newer_one_leaves_one_grid(browser_page):
    from ui.live_charts import HERE

    page = browser_page
    page.set_content('<div id="host"></div>')
    page.evaluate(LOAD_MODULE, (HERE / "live_charts.js").read_text())
    grids = lambda: page.evaluate(  # noqa: E731
        "() => [...document.querySelectorAll('#host > .grid')].map((g) => g.querySelector('h3').textContent)")

    # the overtaken call's cleanup comes after the newer call: the newer call's grid stays
    page.evaluate("""() => { const host = document.getElementById('host');
        const first = render({data: grid('first'), parentElement: host});
        window.second = render({data: grid('second'), parentElement: host});
        first(); }""")
    page.wait_for_timeout(1500)  # past the module's RELEASE_WAIT_MS
    assert grids() == ["second"]

    # a cleanup before the newer call: the grid waits for it rather than being taken down and built again
    page.evaluate("""() => { const host = document.getElementById('host');
        second(); window.third = render({data: grid('third'), parentElement: host}); }""")
    page.wait_for_timeout(1500)
    assert grids() == ["third"]

    # the component leaves the page: its grid goes
    page.evaluate("() => third()")
    page.wait_for_timeout(1500)
    assert grids() == []
