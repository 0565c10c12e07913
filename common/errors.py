"""The one exception type for bad user input, and one-line messages for errors from libraries."""

import re
from urllib.parse import urlsplit, urlunsplit


class UserInputError(ValueError):
    """A wrong parameter, file, column or value supplied by the user.

    Entry points report it as a single ``error: ...`` line, exit with status 2, and the run
    (if one was started) ends FAILED with the message in its ``failure_reason`` tag. The message
    is kept to one line whatever it quotes: a newline or other control character (a column
    named ``"a\\nb"``) is written as its escape (``a\\nb``).
    """

    def __init__(self, message: object = "", *args: object):
        super().__init__(printable(str(message)), *args)


def printable(text: str) -> str:
    """``text`` with every non-printable character (newline, tab, NUL...) as its escape."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class WorkerError(RuntimeError):
    """Work done elsewhere failed (a Spark task, a distributed-training worker, a serving
    endpoint's rollout); the message is that failure, in one line.

    Entry points report it as one ``error: ...`` line and exit with status 1 (not 2: the input
    may be fine), and the run ends FAILED with the message as its ``failure_reason``.
    """


class CheckFailed(RuntimeError):  # noqa: N818 (what happened, as WorkerError says who)
    """A check the user asked to fail on found a problem (``monitor -P fail_on_drift=true``):
    what it found was logged, and the run ends FAILED so a scheduled job alerts.

    Entry points report it as one ``error: ...`` line and exit with status 1, the message as the
    run's ``failure_reason``.
    """


def one_line(exc: BaseException, *, last: bool = False, limit: int = 300) -> str:
    """One line of ``exc``'s message for an ``error:`` line: the first (or ``last``) non-empty
    one, cut to ``limit`` characters; the exception's type name when it says nothing.

    Libraries' messages may span many lines (pyarrow's schema dump, MLflow repeating the input);
    an entry point's error must stay one line.
    """
    lines = str(exc).strip().splitlines()
    line = (lines[-1] if last else lines[0])[:limit] if lines else ""
    return line or type(exc).__name__


def access_refused(exc: BaseException, *, server: str, who: str | None) -> str | None:
    """One line for a tracking server's HTTP 401/403 anywhere in ``exc``'s chain, else None.

    MLflow raises these deep in its REST client with the server's whole answer; a user needs the
    server, the status and what to do about it. ``who`` names the credentials the client presented
    ("user 'alice'"; None: none); the password is never part of the line.
    """
    while exc is not None:
        status_of = getattr(exc, "get_http_status_code", None)  # MlflowException, RestException
        status = status_of() if callable(status_of) else None
        if status in (401, 403):
            break
        exc = exc.__cause__ or exc.__context__
    else:
        return None
    endpoint = re.search(r"endpoint (/\S+)", str(exc))
    where = f" ({endpoint.group(1)})" if endpoint else ""
    server = _without_userinfo(server)
    if status == 403:
        return (
            f"{server}: 403 Forbidden{where}: {who or 'anonymous'} lacks permission for this; "
            "ask the server's admin to grant it (or use an experiment or model you own)"
        )
    if who is None:
        return (
            f"{server}: 401 Unauthorized{where}: no credentials; set MLFLOW_TRACKING_USERNAME "
            "and MLFLOW_TRACKING_PASSWORD (or MLFLOW_TRACKING_TOKEN), or put them in "
            "~/.mlflow/credentials"
        )
    return (
        f"{server}: 401 Unauthorized{where}: the server refused {who}; check "
        "MLFLOW_TRACKING_USERNAME/PASSWORD, MLFLOW_TRACKING_TOKEN or ~/.mlflow/credentials"
    )


def _without_userinfo(uri: str) -> str:
    """``uri`` without ``user:password@``, so an error line never repeats a password."""
    parts = urlsplit(uri)
    if "@" not in parts.netloc:
        return uri
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
