"""Conversation flows: each module installs its steps, commands and choices on the engine."""
