"""Command-line entry points (argument handling only; the logic lives in the package)."""
