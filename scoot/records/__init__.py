"""What scoot writes down: audit, sessions, run records, retention, durable files."""
