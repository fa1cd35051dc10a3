"""Grading written answers: a local web page over the gradebook, and the scores folded back into results.

``totals`` folds entered scores and comments into ``result.json`` and the feedback; ``answers``
reads the students' answer cells and groups equal answers; ``render`` turns an answer's Markdown
and LaTeX into HTML that cannot run script; ``web`` is the Flask app and ``server`` starts it on
127.0.0.1 behind a token (``hw4 manual serve``). Scores are validated and written by the gradebook
(``validate_score``, ``record_scores``), as for the CSV import.
"""
