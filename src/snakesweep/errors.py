"""Errors a user can cause and fix: they end a job with one clear line, not a traceback."""


class UserError(Exception):
    """A problem in the user's input, files or environment; the message names the file and field."""
