"""keras-matrix: a Docker-based environment matrix tester for Keras stacks."""

__version__ = "0.1.0"
