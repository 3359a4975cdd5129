"""Real-browser test of direct links: each page opened by its URL on a freshly started server.

A shared link is often the first thing a fresh server sees (a teacher starts the dashboard, students
open the link they were sent). Streamlit decides on that first visit whether the app uses its older
pages/ folder layout, so each page gets its own fresh server here (ui/routing.py says why it matters).
The page must come through streamlit_app.py's router: its navigation lists the five titles (not the
file names), the page shows its own title, and the layout is wide (set by the router only).
"""

from pathlib import Path

import pytest

from support import wait_for
from ui.routing import PAGES as ROUTES

# (URL path, the page's title) as ui/routing.py declares them; the default page is served at /
PAGES = [("" if i == 0 else Path(script).stem, title) for i, (script, title, _) in enumerate(ROUTES)]
TITLES = [title for _, title in PAGES]
WIDE_PX = 1000  # the main column at a 1500 px viewport: ~1400 px wide, ~730 px when centered


def navigation_titles(page) -> list[str]:
    """The labels of the sidebar navigation's links, in order (without their icons' ligature names)."""
    links = page.locator('[data-testid="stSidebarNav"] [data-testid="stSidebarNavLink"]')
    texts = links.evaluate_all("""links => links.map(link => {
        const copy = link.cloneNode(true);
        copy.querySelectorAll('[data-testid="stIconMaterial"]').forEach(icon => icon.remove());
        return copy.textContent;
    })""")
    return [" ".join(text.split()) for text in texts]


@pytest.mark.parametrize("path, title", PAGES, ids=[title for _, title in PAGES])
def test_a_direct_link_on_a_fresh_server_goes_through_the_router(dashboard, browser_page, path, title):
    (url, _), page = dashboard, browser_page
    page.goto(f"{url}/{path}")
    main = page.get_by_test_id("stMainBlockContainer")
    heading = main.locator("h1").first
    wait_for(lambda: heading.count() and title in heading.inner_text(), 60, f"the {title!r} page's title")
    wait_for(lambda: navigation_titles(page) == TITLES, 30,
             f"the navigation to list {TITLES} (it lists {navigation_titles(page)})")
    assert main.bounding_box()["width"] > WIDE_PX, "the page is not in the router's wide layout"
    assert page.locator('[data-testid="stException"]').count() == 0
