"""Helpers of ``benchmarks/run.py``, the one benchmark runner for the CPU speed issue.

``workloads`` defines what is measured (models, data, bands) for every framework alike;
``worker`` runs one framework's workloads in a child process through one of the runner
modules (``axonal_runner``, ``keras_runner``, ``torch_runner``, ``jax_scan_runner``), which share
one small interface; ``launcher`` starts those children and ``report`` prints the tables.
"""
