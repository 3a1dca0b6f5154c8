"""Photo checks on numpy images returning plain result objects (pure library)."""
