"""HW4's checks: one module per part (listed in ``homework.yaml``), each defining ``PART``.

A part module is a table of checks (``graders.part.CheckTable``: id, probes, rule, description, public,
timeout; ``depends`` from the part's ``DEPENDS``) built by ``build_checks(ctx)``, plus the judges
and input builders it needs (``part3_judges``/``part3_inputs``, ``part4_judges``/``part4_sampling_judges``/
``part4_inputs``, ``theory_answers``/``theory_numeric``).
The engine finds them through the homework (``graders.homework``), never by name.
"""
