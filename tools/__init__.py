"""Developer tools (asset build script); importable so tests can regenerate corpora."""
