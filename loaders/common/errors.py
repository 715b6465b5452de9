"""Errors a loader raises to stop with a message the user can act on."""


class LoaderError(Exception):
    """A failure the user must fix (bad credentials, bad config, an API refusing the request).

    The message says what happened and what to do; the CLI prints it without a traceback and exits 2.
    """

    exit_code = 2


class StopWithProgress(LoaderError):
    """A clean stop that keeps what was loaded and the resume point (a daily quota is used up, ...).

    The CLI prints the message and exits 3 so schedulers can tell "try later" from "fix something".
    """

    exit_code = 3
