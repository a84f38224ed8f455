"""CLI command groups, registered by neurotwin.cli (kept apart so each stays small)."""
