"""The command line: click commands and the views they print."""
