"""Errors caused by what a user typed or supplied, reported as one line without a traceback."""


class UserInputError(ValueError):
    """A bad value, file or option; the message names it and says what is accepted."""


class ConfigError(UserInputError):
    """A configuration key holds a value of the wrong type or outside its range."""


class DataError(UserInputError):
    """A corpus or vocabulary file is missing, unreadable or unusable."""


class CheckpointError(UserInputError):
    """A checkpoint is missing, unreadable or does not fit the model it is loaded into."""


class TrainingStopped(Exception):
    """Training ended early on purpose: a signal, or a loss that stopped being finite.

    Attributes:
        exit_code: the process's exit status for this reason.
    """

    exit_code = 1


class TrainingInterrupted(TrainingStopped):
    """SIGINT or SIGTERM arrived; a checkpoint was written first."""

    def __init__(self, message: str, signal_number: int) -> None:
        super().__init__(message)
        self.exit_code = 128 + signal_number  # the shell's convention for "killed by signal"


class TrainingDiverged(TrainingStopped):
    """The training loss or the weights became NaN or infinite."""

    exit_code = 3
