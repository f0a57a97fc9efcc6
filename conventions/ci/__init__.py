"""What CI reads: the report formats of a check (text, json, junit, sarif, github)."""
