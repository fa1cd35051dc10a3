"""Grading written answers: a local web page over the gradebook, and the scores folded back into results.

``cells`` finds a written answer in a notebook; ``sheets`` exports and imports the CSV sheets
(``hw4 manual export/import``); ``answers`` reads a batch's answers and groups equal ones;
``questions`` splits an answer by the rubric's questions, with each one's prompt and evidence cells;
``rubric_items`` keeps each question's rubric items, their applications and the scores they make
(``rubric_sheets``: the same in CSV); ``similar`` groups near-identical answers; ``evidence_view``
finds the student's own outputs a question refers to; ``regrades`` records regrade requests;
``render`` turns an answer's Markdown and LaTeX into HTML that cannot run script; ``web`` (whole
items) and ``question_web`` (question by question) are the Flask app and ``server`` starts it on
127.0.0.1 behind a token (``hw4 manual serve``); ``totals`` folds entered scores and comments into
``result.json`` and the feedback. Scores are validated and written into the gradebook by ``ledger``
(``validate_score``, ``record_scores``) for the page, the rubric items and the sheets alike.
"""
