"""The bundled trainer: a small GPT (``model.py``), data sources (``data.py``), the training loop
(``trainer.py``), the run-file writer (``logger.py``), grids of runs (``sweep.py``) and callbacks that feed the
run-file writer from Hugging Face or Lightning loops (``callbacks.py``).

Only this package imports torch, and only in ``model``, ``trainer``, ``data`` (for tensors) and ``sweep``'s
workers. ``logger`` needs nothing beyond the standard library, so any training loop can write run files.
"""
