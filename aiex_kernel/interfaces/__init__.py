"""Interfaces: parse input, render output; no business logic."""
