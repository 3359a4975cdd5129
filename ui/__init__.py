"""Dashboard-side helpers for LFM Entropy Lab: the Streamlit pages' chart builders (ui.run_charts,
ui.lab_charts, ui.explore_charts, in the style of ui.chart_style), the live view and the settings form."""
