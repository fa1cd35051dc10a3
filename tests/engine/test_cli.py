"""The CLI is thin: every command explains itself, and bad input is a clear message, not a traceback."""
import click
from click.testing import CliRunner

from graders.cli import main


def _commands(group: click.Group, prefix=()):
    for name, cmd in group.commands.items():
        yield prefix + (name,), cmd
        if isinstance(cmd, click.Group):
            yield from _commands(cmd, prefix + (name,))


def test_every_command_has_help_text():
    runner = CliRunner()
    for path, cmd in _commands(main):
        assert cmd.help and len(cmd.help) > 20, f"hw4 {' '.join(path)} has no help text"
        result = runner.invoke(main, [*path, "--help"])
        assert result.exit_code == 0 and "Usage:" in result.output


def test_grade_without_a_hidden_seed_says_how_to_give_one(tmp_path, monkeypatch):
    monkeypatch.delenv("HW4_HIDDEN_SEED", raising=False)
    nb = tmp_path / "x.ipynb"
    nb.write_text("{}")
    result = CliRunner().invoke(main, ["grade", str(nb), "--out", str(tmp_path / "out")])
    assert result.exit_code != 0
    assert "--hidden-seed" in result.output and "--public-only" in result.output


def test_unknown_part_is_named(tmp_path):
    nb = tmp_path / "x.ipynb"
    nb.write_text("{}")
    result = CliRunner().invoke(main, ["grade", str(nb), "--out", str(tmp_path), "--parts", "part9", "--public-only"])
    assert result.exit_code != 0 and "part9" in result.output
