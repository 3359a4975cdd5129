"""LFM Entropy Lab: see what entropy regularisation does to a Mixture-of-Experts gate.

Start with `./dashboard.sh`, `lfm dashboard` (installed with pip), or `streamlit run streamlit_app.py` inside
the project's venv. The pages are in pages/; their titles, icons and order in ui/routing.py.
"""

from ui.routing import navigation

navigation().run()
