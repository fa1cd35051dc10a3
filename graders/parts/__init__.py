"""HW4's checks: one module per part (listed in ``homework.yaml``), each defining ``PART``.

A part module is a table of checks (``base.CheckTable``: id, probes, rule, description, public,
timeout; ``depends`` from the part's ``DEPENDS``) built by ``build_checks(ctx)``, plus the judges
and input builders it needs (``part4`` keeps them in ``part4_judges`` and ``part4_inputs``).
The engine finds them through the homework (``graders.homework``), never by name.
"""
