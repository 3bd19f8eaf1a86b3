"""Library halves of CLI commands that build tables (kept out of cli.py to keep it thin)."""
