"""Dashboard-side helpers for LFM Entropy Lab: chart builders (ui.charts) used by the Streamlit pages."""
