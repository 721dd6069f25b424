"""Verification: compare a converted variant's outputs with the original's, check by check."""
