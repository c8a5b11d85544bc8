"""Errors a user can act on.  The CLI prints their message on one line and exits 2."""

from __future__ import annotations


class CalmlineError(Exception):
    """Base for every error caused by input, configuration or the environment.

    The message must make sense on its own to the person at the keyboard: what is
    wrong, with which file or setting, and (when there is one) what to do.
    """

    exit_code = 2
