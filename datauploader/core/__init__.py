"""The engine and its parts. Nothing in here imports Qt."""
