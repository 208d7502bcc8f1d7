"""DataUploader: get experimental data safely into facility storage and data catalogues."""

__version__ = "0.1.0"
