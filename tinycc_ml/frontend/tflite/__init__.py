"""TFLite frontend: int8 .tflite flatbuffers -> tinyc IR (see importer)."""

from .importer import HANDLERS, TfliteImport, import_tflite, import_tflite_file, is_tflite, load_tflite

__all__ = ["HANDLERS", "TfliteImport", "import_tflite", "import_tflite_file", "is_tflite", "load_tflite"]
