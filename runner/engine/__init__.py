"""The container engine: the Engine protocol the run needs, and its Docker adapter (the CLI for builds,
the SDK for the rest)."""
