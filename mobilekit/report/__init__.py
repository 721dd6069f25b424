"""The build report's pieces (charts)."""
