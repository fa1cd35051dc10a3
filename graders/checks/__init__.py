"""Check kinds, one module per kind of rule; ``graders.checks.base`` has the interfaces they share.

rules.py: exact values, values within a tolerance, properties (gated against non-answers), all-of;
cases.py: one probe and one judge per case; symbolic.py: sympy answers judged in the checker
process; statistical.py: samplers against their distribution; dataframe.py: tables; figure.py:
what a matplotlib/plotly figure draws. ``isolated.py`` runs a judgement in a limited process.
"""
from graders.checks.base import Check, Rule, ValueRule
from graders.checks.cases import Cases
from graders.checks.dataframe import FrameMatches
from graders.checks.figure import FigureCheck
from graders.checks.rules import AllClose, AllOf, CannotGrade, Exact, Property
from graders.checks.statistical import SamplerFits
from graders.checks.symbolic import Symbolic

__all__ = ["Check", "Rule", "ValueRule", "Exact", "AllClose", "AllOf", "Property", "CannotGrade", "Cases",
           "Symbolic", "SamplerFits", "FrameMatches", "FigureCheck"]
