"""Similarity of submissions across a class (``hw4 similarity OUT``; a section of ``hw4 report``).

Per part and per graded function or written answer, every pair of students is scored on the
work that is their own — winnowed fingerprints of normalised code tokens (MOSS's method) and
word shingles of written answers — and the pairs above a threshold are listed for a person to
look at, with the shared passages side by side. See ``analysis`` for the steps.
"""
from graders.similarity.analysis import Analysis, Pair, Settings, SimilarityError, analyse

__all__ = ["Analysis", "Pair", "Settings", "SimilarityError", "analyse"]
