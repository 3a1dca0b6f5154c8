"""Building models (IFC): read elements into plain records, write state back (IfcOpenShell)."""
