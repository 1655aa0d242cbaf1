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


class Terminated(KeyboardInterrupt):
    """SIGTERM (a scheduler's or ``kill``'s stop), raised where the process is, like Ctrl-C: the
    same cleanup runs (a run records its interrupted invocation in run.json; finished cells and
    shards are already on disk), and the exit status is the shell's for SIGTERM (143)."""

    exit_code = 143


def interrupt_status(exc: KeyboardInterrupt) -> int:
    """The exit status of a command stopped by Ctrl-C (130) or SIGTERM (143, ``Terminated``)."""
    return int(getattr(exc, "exit_code", 130))
