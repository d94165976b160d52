"""Entry point of `python -m project` and the `terrapin` console script."""

import sys

from project.management import main as run


def main() -> None:
    """Run the management command line and exit with its code."""
    sys.exit(run())


if __name__ == "__main__":
    main()
