"""The one exception type for bad user input."""


class UserInputError(ValueError):
    """A wrong parameter, file, column or value supplied by the user.

    Entry points report it as a single ``error: ...`` line, exit with status 2, and the run
    (if one was started) ends FAILED with the message in its ``failure_reason`` tag.
    """
