"""Check kinds. See ``graders.checks.base`` for the interfaces they share."""
from graders.checks.base import Check, Rule, ValueRule
from graders.checks.dataframe import FrameMatches
from graders.checks.figure import FigureCheck
from graders.checks.rules import AllClose, CannotGrade, Exact, Property
from graders.checks.statistical import SamplerFits
from graders.checks.symbolic import Symbolic

__all__ = ["Check", "Rule", "ValueRule", "Exact", "AllClose", "Property", "CannotGrade", "Symbolic",
           "SamplerFits", "FrameMatches", "FigureCheck"]
