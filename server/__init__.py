"""kvcal's front ends: the ``kvcal`` command line and the language server."""

#: the one place the version is written (pyproject.toml reads it from here); importing
#: importlib.metadata to ask the installed distribution costs the server's start ~40 ms
__version__ = "0.1.0"
