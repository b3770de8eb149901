"""Engine tests: the AT core driven by the manual-clock harness (no I/O)."""
