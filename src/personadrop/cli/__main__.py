"""`python -m personadrop.cli` runs the command-line tool."""

import sys

from personadrop.cli import main

main(sys.argv[1:])
