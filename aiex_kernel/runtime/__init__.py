"""Boundary layer: every process, file, network and cluster interaction lives here."""
