"""The house itself: command line, shared helpers, locks, packaging, import direction."""
