"""Converters: Hugging Face folder -> ONNX (``onnx_export``) -> TensorFlow Lite (``tflite``).

Modules here import nothing heavy at import time; torch, onnx and tensorflow are imported inside
the functions that need them.
"""
