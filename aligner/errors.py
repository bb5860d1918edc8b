"""Errors a user can act on. The CLI prints their message as one line and exits non-zero."""

from __future__ import annotations


class AlignerError(Exception):
    """A problem with the input, the index or the environment, explained for a user."""

    exit_code = 1


class InputError(AlignerError):
    """An input file or record that cannot be read."""

    exit_code = 2


class IndexError_(AlignerError):
    """An index folder that is missing, damaged or made with another encoder."""

    exit_code = 3
