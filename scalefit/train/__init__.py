"""The bundled trainer: a small GPT (``model.py``), data sources (``data.py``), the training loop (``trainer.py``,
with its parts: ``config``, ``devices``, ``lr_schedule``, ``forward``, ``checkpoint``, ``resume``, ``run_files``,
``progress``), the run-file writer (``logger.py``), one writer per run file (``runlock.py``), grids of runs
(``sweep.py``) whose workers die with the sweep (``parent_watch.py``), and callbacks that feed the run-file writer
from Hugging Face or Lightning loops (``callbacks.py``).

Only this package imports torch, and only in ``model``, ``trainer`` and the modules of its loop, ``data`` (for
tensors) and ``sweep``'s workers. ``logger``, ``config``, ``runlock`` and ``parent_watch`` need no torch, so any
training loop can write run files.
"""
