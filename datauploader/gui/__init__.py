"""The desktop application (PyQt5): the only package that imports Qt."""
