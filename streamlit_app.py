"""LFM Entropy Lab: see what entropy regularisation does to a Mixture-of-Experts gate.

Start with `./dashboard.sh` (or `streamlit run streamlit_app.py` inside the project's venv).
"""

import streamlit as st

# The pages live in app_pages/, not pages/: Streamlit treats a folder named pages/ as its older
# multipage layout and, on a freshly started server, serves a direct link to /sweep from that folder
# without this router (no wide layout, file-name navigation).

st.set_page_config(page_title="LFM Entropy Lab", page_icon=":material/hub:", layout="wide")
page = st.navigation(
    [
        st.Page("app_pages/train.py", title="Train & watch", icon=":material/monitoring:", default=True),
        st.Page("app_pages/runs.py", title="Runs", icon=":material/folder_open:"),
        st.Page("app_pages/compare.py", title="Compare", icon=":material/stacked_line_chart:"),
        st.Page("app_pages/sweep.py", title="Sweep λ", icon=":material/tune:"),
        st.Page("app_pages/explore.py", title="Explore", icon=":material/troubleshoot:"),
        st.Page("app_pages/lessons.py", title="Lessons", icon=":material/school:"),
    ]
)
page.run()
