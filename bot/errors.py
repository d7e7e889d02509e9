"""Errors meant for the user: the CLI prints their message, never a traceback."""


class BotError(Exception):
    """A problem the user can fix: bad input, a missing file, an unknown model."""
