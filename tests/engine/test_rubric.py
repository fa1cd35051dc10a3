from pathlib import Path

import pytest
import yaml

from graders.homework import active as active_homework
from graders.rubric import Item, RubricError, load_rubric, score_item
from graders.results import CheckResult


def test_project_rubric_adds_up_to_35_plus_65():
    r = load_rubric()
    assert r.total == 100
    assert sum(p.points for p in r.parts.values() if p.group == "theory") == 35
    assert sum(p.points for p in r.parts.values() if p.group == "practical") == 65
    assert {p: r.parts[p].points for p in ("part1", "part2", "part3", "part4")} == \
        {"part1": 20, "part2": 10, "part3": 20, "part4": 15}


def _write(tmp_path: Path, mutate) -> Path:
    raw = yaml.safe_load(active_homework().rubric.read_text())
    mutate(raw)
    path = tmp_path / "rubric.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_a_part_whose_items_do_not_add_up_is_refused_by_name(tmp_path):
    def bump(raw):
        raw["parts"]["part2"]["items"][0]["points"] += 1
    with pytest.raises(RubricError, match="part 'part2' is worth 10 points but its items add up to 11"):
        load_rubric(_write(tmp_path, bump))


def test_wrong_group_total_is_refused(tmp_path):
    def shift(raw):
        raw["parts"]["part4"]["points"] = 16
        raw["parts"]["part4"]["items"][0]["points"] += 1
    with pytest.raises(RubricError, match="practical parts add up to 66"):
        load_rubric(_write(tmp_path, shift))


def test_unknown_check_is_refused_by_name(tmp_path):
    def add(raw):
        raw["parts"]["part4"]["items"][0]["checks"] = {"part4.no_such_check": 1}
    r = load_rubric(_write(tmp_path, add))
    with pytest.raises(RubricError, match="names check 'part4.no_such_check'"):
        r.validate_checks(r.check_ids() - {"part4.no_such_check"})


def test_invalid_yaml_is_a_clear_error(tmp_path):
    path = tmp_path / "rubric.yaml"
    path.write_text("parts: [unclosed")
    with pytest.raises(RubricError, match="not valid YAML"):
        load_rubric(path)


def test_partial_credit_is_the_weighted_fraction_of_passed_checks():
    item = Item("x", "p", "x", 3.0, {"a": 2, "b": 1})
    res = {"a": CheckResult("a", True, "passed"), "b": CheckResult("b", False, "failed", "wrong")}
    scored = score_item(item, res)
    assert scored.score == pytest.approx(2.0) and scored.status == "partial"
    assert score_item(item, {}).status == "error"


def test_public_only_scores_on_public_checks():
    item = Item("x", "p", "x", 4.0, {"a": 1, "h": 1})
    res = {"a": CheckResult("a", True, "passed", public=True), "h": CheckResult("h", False, "failed", public=False)}
    assert score_item(item, res, public_only=True).score == 4.0
    assert score_item(item, res).score == 2.0


def test_manual_items_are_pending_until_scored():
    item = Item("w", "p", "w", 2.0, manual=True)
    assert score_item(item, {}).status == "manual-pending"
    assert score_item(item, {}, manual_score=1.5).score == 1.5
