"""`python -m personadrop` runs the command-line tool."""

from personadrop.cli import main

main()
