"""Settings split by environment: base, dev (the embedded default), test, prod."""
