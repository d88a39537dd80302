"""Implementation of bayescale. Nothing here is public API: import from ``bayescale``."""
