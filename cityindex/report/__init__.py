"""Altair chart builders and the self-contained HTML page."""
