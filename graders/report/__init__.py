"""Views of results: per-student feedback (Markdown/HTML); class reports and CI output build on it."""
from graders.report.feedback import to_html, to_markdown, write_feedback

__all__ = ["to_markdown", "to_html", "write_feedback"]
