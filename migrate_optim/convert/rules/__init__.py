"""The conversion rules, one module per rule, each with a stable id and a docstring citing the spec."""
