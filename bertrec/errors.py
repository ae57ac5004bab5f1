"""The errors a user can fix, which the CLI reports in one line.

Anything else that escapes a command is a bug and keeps its traceback.
"""


class UserError(ValueError):
    """A problem with what the user gave (a file, a value, a model, an argument);
    the message says which and how to fix it."""
