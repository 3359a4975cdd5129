"""The dashboard's navigation, declared once for streamlit_app.py and for a page opened without it.

`navigation()` sets the wide layout and declares the pages with their titles and icons;
streamlit_app.py calls it and runs the page it returns.

Why a page may have to call it too: Streamlit still supports its first multipage layout, in which each
script in a `pages/` folder next to the main script is a page, run on its own, and the navigation lists
the file names. Whether an app uses that layout is decided once per server process, when the first
browser session opens (the class attribute `PagesManager.uses_pages_directory` in
streamlit/runtime/pages_manager.py is set from `Path(main_script).parent / "pages"` existing), and only a
call of `st.navigation` switches it off (streamlit/commands/navigation.py). Until then the script runner
starts each run with `_mpa_v1` (streamlit/runtime/scriptrunner/script_runner.py) rather than the main
script. So when a fresh server's first visit is a shared link such as /sweep, Streamlit runs
pages/sweep.py directly: no wide layout, and a navigation of file names. No setting changes this
(Streamlit 1.67), and our pages live in `pages/`, where a reader looks for them.

Hence `through_router()`, the first call of every page: run the old way, a page declares the navigation
itself, which switches the old layout off for good and replaces the file-name navigation in the browser,
runs itself as the router's page, and stops. Run as the router's page, its widgets keep their identity
(Streamlit keys a widget by the page it is on); a rerun through streamlit_app.py would instead drop the
click or widget change that started this run. AppTest, which decides afresh on every run, takes the
same path.
"""

import streamlit as st

PAGES = [  # (script, title, icon), in navigation order; the first is the start page, served at /
    ("pages/train.py", "Train & watch", ":material/monitoring:"),
    ("pages/runs.py", "Runs", ":material/folder_open:"),
    ("pages/compare.py", "Compare", ":material/stacked_line_chart:"),
    ("pages/sweep.py", "Sweep λ", ":material/tune:"),
    ("pages/explore.py", "Explore", ":material/troubleshoot:"),
    ("pages/lessons.py", "Lessons", ":material/school:"),
]


def navigation() -> st.Page:
    """Set the page layout and declare the pages; returns the page this run is for."""
    st.set_page_config(page_title="LFM Entropy Lab", page_icon=":material/hub:", layout="wide")
    return st.navigation([st.Page(script, title=title, icon=icon, default=i == 0)
                          for i, (script, title, icon) in enumerate(PAGES)])


def through_router() -> None:
    """Declare the navigation when Streamlit ran this page as a file of its old pages/ layout."""
    try:
        from streamlit.runtime.pages_manager import PagesManager
    except ImportError:  # a Streamlit without the old layout: every run starts in streamlit_app.py
        return
    if getattr(PagesManager, "uses_pages_directory", False):
        navigation().run()  # this very page (identified by its URL path in both layouts), as the router's
        st.stop()           # ... and not a second time as a file of the old layout
