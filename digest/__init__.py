"""Weekly digests and match alerts: compose what is new, schedule, send exactly once.

- :mod:`digest.compose`: what is new for one subscriber -> DigestContent -> message parts.
- :mod:`digest.schedule`: when each subscriber is due (Europe/Paris), PTB JobQueue wiring.
- :mod:`digest.run`: :class:`~digest.run.DigestRunner` (lease, deliveries, watermarks).
- :mod:`digest.sender`: Sender protocol, TelegramSender (rate-limited), FakeSender.
- :mod:`digest.commands`: ``/digest`` and API functions over a person's subscription.
"""
