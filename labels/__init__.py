"""Identity codes and labels: a pure library (no Flask, no database)."""
