"""`python -m scoot` runs the command line."""

from scoot.cli import main

main()
