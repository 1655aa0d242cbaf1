"""The ``bench`` command line. Every user error is one line on stderr and a non-zero exit;
tracebacks are for bugs only (set BENCH_DEBUG=1 to see them for user errors too).
Subcommands live in bench/commands/, one module each."""

from __future__ import annotations

import argparse
import os
import signal
import sys

from bench.commands import register_all
from bench.errors import BenchError, Terminated, ValidationError, interrupt_status


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bench", description="Adversarial-robustness benchmark harness.")
    register_all(p.add_subparsers(dest="command", required=True, metavar="COMMAND"))
    return p


def _quiet_broken_pipe() -> int:
    """The reader of our output went away (``bench ls models | head -1``): say nothing more.

    stdout is pointed at /dev/null so the interpreter's final flush cannot raise again; the exit
    status is the shell's for a process ended by SIGPIPE (141), so a pipeline under ``pipefail``
    still sees that the output was cut."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    return 141


def _raise_terminated(signum: int, frame: object) -> None:
    raise Terminated()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    previous = signal.signal(signal.SIGTERM, _raise_terminated)  # killed like Ctrl-C: cleanup runs, run.json records it
    try:
        code = int(args.func(args))
        sys.stdout.flush()  # a closed pipe shows here, inside the handler, not at exit
        return code
    except BrokenPipeError:
        return _quiet_broken_pipe()
    except KeyboardInterrupt as exc:
        print("interrupted", file=sys.stderr)
        return interrupt_status(exc)
    except ValidationError as exc:
        for line in exc.problems:
            print(line, file=sys.stderr)
        return exc.exit_code
    except BenchError as exc:
        if os.environ.get("BENCH_DEBUG"):
            raise
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    finally:
        signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
