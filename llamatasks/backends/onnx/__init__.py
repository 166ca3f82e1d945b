"""Run-time pieces of the ONNX Runtime backend: export manifest, session and decoding loop.

Nothing here imports torch or transformers; onnxruntime and numpy are imported
by the modules that need them, so importing this package stays cheap.
"""
