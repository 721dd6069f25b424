"""External tools as objects that can find themselves, report a version and say how to install."""
