"""Core of PIU: settings, domain vocabulary, database models and session handling.

Imports point one way: ``core`` <- ``index`` <- ``matcher`` <- {``bot``, ``api``};
``ingest`` -> {``core``, ``index``}. Nothing here imports the layers above.
"""
