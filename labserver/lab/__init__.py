"""Helpers the notebooks and tests use to run the lab's processes."""
