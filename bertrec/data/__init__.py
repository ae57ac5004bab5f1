"""Data: the built-in generator, CSV reading, example preparation."""
