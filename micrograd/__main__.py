"""`python -m micrograd ...` is the `micrograd` command."""
import sys

from micrograd.cli import main

if __name__ == "__main__":
    sys.exit(main())
