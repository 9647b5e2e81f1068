"""Layer families. Each module defines its classes and lists them in ``LAYERS``."""
