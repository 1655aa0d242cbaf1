"""User-facing errors: one line, no traceback, non-zero exit (see bench.cli)."""


class BenchError(Exception):
    """An error caused by the user's input (file, key, model, data); printed as one line."""

    exit_code = 1


class ValidationError(BenchError):
    """A suite, card or submission failed validation (exit code 2)."""

    exit_code = 2

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))
