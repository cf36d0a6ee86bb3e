"""Podium: self-hosted platform for ML demo apps (Gradio, Streamlit, Docker, static Spaces)."""

__version__ = "0.1.0"
