"""Notebook widgets (ipywidgets): the side-by-side comparison, later the chat."""
