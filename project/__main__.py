"""Entry point of `python -m project` and the `terrapin` console script."""

import os
import signal
import sys

from project.management import main as run


def main() -> None:
    """Run the management command line and exit with its code."""
    try:
        code = run()
        sys.stdout.flush()  # inside the try: a closed pipe surfaces here, not at exit
    except BrokenPipeError:
        # The reader went away (`... | head`): stop quietly, with the status a
        # shell reports for a command killed by SIGPIPE, like other Unix tools.
        # stdout is pointed at /dev/null so the interpreter's final flush is silent.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = 128 + signal.SIGPIPE
    sys.exit(code)


if __name__ == "__main__":
    main()
