"""Helpers every stage uses, with no knowledge of Keras: errors and exit codes, file I/O, text clipping, paths, TLS."""
