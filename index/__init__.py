"""Embeddings and vector indexes: derived, rebuildable artefacts built from the database."""
