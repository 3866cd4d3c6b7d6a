"""`python -m scoot` runs the command line."""

from scoot.cli.commands import main

main()
