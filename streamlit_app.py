"""LFM Entropy Lab: see what entropy regularisation does to a Mixture-of-Experts gate.

Start with `./dashboard.sh` (or `streamlit run streamlit_app.py` inside the project's venv).
"""

import streamlit as st

st.set_page_config(page_title="LFM Entropy Lab", page_icon=":material/hub:", layout="wide")
page = st.navigation(
    [
        st.Page("pages/train.py", title="Train & watch", icon=":material/monitoring:", default=True),
        st.Page("pages/runs.py", title="Runs", icon=":material/folder_open:"),
        st.Page("pages/compare.py", title="Compare", icon=":material/stacked_line_chart:"),
        st.Page("pages/sweep.py", title="Sweep λ", icon=":material/tune:"),
        st.Page("pages/explore.py", title="Explore", icon=":material/troubleshoot:"),
    ]
)
page.run()
