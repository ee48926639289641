"""Errors caused by what a user typed or supplied, reported as one line without a traceback."""


class UserInputError(ValueError):
    """A bad value, file or option; the message names it and says what is accepted."""


class ConfigError(UserInputError):
    """A configuration key holds a value of the wrong type or outside its range."""


class DataError(UserInputError):
    """A corpus or vocabulary file is missing, unreadable or unusable."""


class CheckpointError(UserInputError):
    """A checkpoint is missing, unreadable or does not fit the model it is loaded into."""
