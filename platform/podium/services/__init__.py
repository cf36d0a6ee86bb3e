"""Local services Podium can run for itself on a single machine (embedded Redis)."""
