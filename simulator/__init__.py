"""clustersim: a discrete-event simulator of AI compute clusters (training, serving, failures, cost)."""

__version__ = "0.1.0"
