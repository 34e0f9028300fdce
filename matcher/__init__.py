"""Matching: scope extraction, territories, hybrid ranking of solutions and peers."""
