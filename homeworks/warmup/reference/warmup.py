"""Reference solution of the warm-up's first notebook (``assignments/warmup.ipynb``)."""
import numpy as np


def softmax(logits, temperature=1.0):
    """The softmax of ``logits / temperature`` (a 1-D numpy array that sums to 1)."""
    z = np.asarray(logits, dtype=np.float64) / temperature
    z = z - z.max()
    e = np.exp(z)
    return e / e.sum()


def entropy(probs):
    """The entropy of a distribution in nats, as a Python float (0 log 0 counts as 0)."""
    p = np.asarray(probs, dtype=np.float64)
    p = p[p > 0]
    return float(-(p * np.log(p)).sum())


def kl_divergence(p, q):
    """KL(p || q) in nats, as a Python float, for distributions with q > 0 where p > 0."""
    p, q = np.asarray(p, dtype=np.float64), np.asarray(q, dtype=np.float64)
    keep = p > 0
    return float((p[keep] * np.log(p[keep] / q[keep])).sum())
