"""The application layer: command line, run files, progress, and every file write."""
