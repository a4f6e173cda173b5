"""Smoke-train a 0.x and a 1.x config side by side and report every difference."""
