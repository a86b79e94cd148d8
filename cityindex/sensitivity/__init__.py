"""Sensitivity and uncertainty analyses, one module per method."""
