"""The one exception type for bad user input."""


class UserInputError(ValueError):
    """A wrong parameter, file, column or value supplied by the user.

    Entry points report it as a single ``error: ...`` line, exit with status 2, and the run
    (if one was started) ends FAILED with the message in its ``failure_reason`` tag.
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
