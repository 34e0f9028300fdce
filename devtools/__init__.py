"""Developer tools: the ``piu bench`` benchmarks and the Telegram Bot API emulator.

Layering: this package may import ``api`` and everything below it; ``cli`` imports it to
register the ``piu bench`` commands; it never imports ``cli``.
"""
