"""report: stub, replaced below."""
