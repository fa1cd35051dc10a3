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


def test_grade_without_a_secret_says_how_to_give_one(tmp_path, monkeypatch):
    monkeypatch.delenv("HW4_SECRET", raising=False)
    nb = tmp_path / "x.ipynb"
    nb.write_text("{}")
    result = CliRunner().invoke(main, ["grade", str(nb), "--out", str(tmp_path / "out")])
    assert result.exit_code != 0
    assert "--secret-file" in result.output and "hw4 secret new" in result.output and "--public-only" in result.output


def test_unknown_part_is_named(tmp_path):
    nb = tmp_path / "x.ipynb"
    nb.write_text("{}")
    result = CliRunner().invoke(main, ["grade", str(nb), "--out", str(tmp_path), "--parts", "part9", "--public-only"])
    assert result.exit_code != 0 and "part9" in result.output


def test_dataset_override_reaches_the_kernel_folder(tmp_path):
    from graders.workspace import prepare_workdir

    real = tmp_path / "real.jsonl"
    real.write_text('{"question": "q", "answer_matching_behavior": " (A)", "answer_not_matching_behavior": " (B)"}\n')
    work = prepare_workdir(["data/sycophancy_on_nlp_survey.jsonl", "data/api_results.json"], tmp_path,
                           {"data/sycophancy_on_nlp_survey.jsonl": real})
    assert (work / "data" / "sycophancy_on_nlp_survey.jsonl").read_text() == real.read_text()
    assert (work / "data" / "api_results.json").stat().st_size > 1000  # the others are the shipped files


def test_missing_dataset_is_a_clear_error(tmp_path):
    result = CliRunner().invoke(main, ["grade", str(tmp_path), "--out", str(tmp_path / "o"), "--public-only",
                                       "--dataset", str(tmp_path / "nope.jsonl")])
    assert result.exit_code != 0 and "nope.jsonl" in result.output


def test_a_dataset_is_named_by_the_homeworks_spec(tmp_path):
    """--dataset [NAME=]FILE: NAME is one of homework.yaml's datasets (HW4 has one, so it may be left out)."""
    from graders.cli import _dataset_overrides

    real = tmp_path / "real.jsonl"
    real.write_text("{}\n")
    assert _dataset_overrides((str(real),)) == {"data/sycophancy_on_nlp_survey.jsonl": real}
    assert _dataset_overrides((f"sycophancy={real}",)) == {"data/sycophancy_on_nlp_survey.jsonl": real}
    result = CliRunner().invoke(main, ["grade", str(tmp_path), "--out", str(tmp_path / "o"), "--public-only",
                                       "--dataset", f"squad={real}"])
    assert result.exit_code == 2 and "this homework's: sycophancy" in result.output
