"""The ground floor every package stands on: typed errors, image decoding, atomic writes,
onnxruntime sessions and the one error guard of every entry point. Imports nothing above it."""

__version__ = "0.1.0"
