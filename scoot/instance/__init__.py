"""A runtime directory: its location, configuration and secrets."""
