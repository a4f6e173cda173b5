"""Loading .py configs (0.x and 1.x) with _base_ inheritance, for verify; executes config files."""
