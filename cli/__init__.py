"""The ``piu`` command line: thin commands over the services."""
