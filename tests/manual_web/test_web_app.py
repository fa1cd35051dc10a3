"""The grading app through Flask's test client: access, forms, saving, stale writes, groups, escaping."""
from __future__ import annotations

import csv
import json
import re
import sqlite3
from urllib.parse import urljoin, urlsplit

from conftest import PORT, TOKEN, login
from web_kit import GROUP

ITEM = "alpha.written"


def answer_url(sub, item=ITEM):
    return f"/answer?item={item}&sub={sub}"


def post_score(client, sub, score, *, comment="", version=0, action="save", item=ITEM):
    return client.post("/answer", data={"csrf": client.csrf, "item": item, "sub": sub, "score": score,
                                        "comment": comment, "version": version, "action": action})


def manual_rows(batch):
    conn = sqlite3.connect(batch / "gradebook.sqlite")
    conn.row_factory = sqlite3.Row
    return {r["submission_id"]: dict(r) for r in conn.execute("SELECT * FROM manual_scores")}


def log_rows(batch):
    conn = sqlite3.connect(batch / "gradebook.sqlite")
    conn.row_factory = sqlite3.Row
    return [dict(r) for r in conn.execute("SELECT * FROM manual_score_log ORDER BY id")]


# --- access --------------------------------------------------------------------------------------

def test_every_page_is_refused_without_the_token_and_shows_nothing(app):
    c = app.test_client()
    for path in ("/", f"/item/{ITEM}", answer_url("401000001_Ali"), "/history", "/static/app.js",
                 "/static/katex/katex.min.js"):
        r = c.get(path)
        assert r.status_code == 403, path
        assert b"needs the token" in r.data and b"401000001" not in r.data and b"KL" not in r.data
    assert c.get("/?token=wrong").status_code == 403
    r = c.post("/answer", data={"item": ITEM, "sub": "401000001_Ali", "score": "5", "version": "0"})
    assert r.status_code == 403 and manual_rows(app.config["HW4_OUT"]) == {}


def test_the_token_sets_a_strict_httponly_cookie_and_leaves_the_address(app):
    c = app.test_client()
    r = c.get(f"/item/{ITEM}?token={TOKEN}")
    assert r.status_code == 302 and r.headers["Location"] == f"/item/{ITEM}"
    cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert c.get(f"/item/{ITEM}").status_code == 200


def test_other_hosts_and_ports_are_refused_even_with_the_token(app):
    c = app.test_client()
    for host in ("evil.example:5005", "127.0.0.1:6000", "localhost.evil.example:5005", "127.0.0.1"):
        assert c.get(f"/?token={TOKEN}", base_url=f"http://{host}").status_code == 403, host
    assert c.get(f"/?token={TOKEN}", base_url="http://localhost:5005").status_code == 302


def test_forms_need_the_csrf_token_and_refuse_another_origin(client, batch):
    r = client.post("/answer", data={"item": ITEM, "sub": "401000001_Ali", "score": "5", "version": "0"})
    assert r.status_code == 403
    r = client.post("/answer", data={"csrf": client.csrf, "item": ITEM, "sub": "401000001_Ali", "score": "5",
                                     "version": "0"}, headers={"Origin": "http://evil.example"})
    assert r.status_code == 403
    assert manual_rows(batch) == {}


def test_pages_send_a_strict_content_security_policy(client):
    r = client.get(answer_url("401000001_Ali"))
    csp = r.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "default-src 'none'" in csp and "img-src 'self' data:" in csp
    assert r.headers["X-Content-Type-Options"] == "nosniff" and r.headers["Cache-Control"] == "no-store"


# --- pages ---------------------------------------------------------------------------------------

def test_progress_page_lists_the_manual_items_with_counts(client, batch):
    post_score(client, "401000001_Ali", "4")
    page = client.get("/").get_data(as_text=True)
    assert "Written answers: 1 of 12 graded" in page
    assert f'href="/item/{ITEM}"' in page and "beta.written" in page and "TA One" in page


def test_answer_page_shows_the_answer_rubric_item_and_form(client):
    page = client.get(answer_url("401000005_Reza")).get_data(as_text=True)
    assert '<span class="math-tex">\\sigma(-\\Delta)</span>' in page  # LaTeX left for KaTeX, escaped
    assert "Explain" in page and "Score (0–5)" in page and 'name="version" value="0"' in page
    assert 'data-next="/answer?item=alpha.written&amp;sub=401000006_Leila"' in page
    assert 'data-prev="/answer?item=alpha.written&amp;sub=401000004_Omid"' in page
    assert client.get(answer_url("401000006_Leila")).get_data(as_text=True).count("(not answered)") == 1
    assert client.get(answer_url("nobody")).status_code == 404
    assert client.get(answer_url("401000001_Ali", item="alpha.auto")).status_code == 404  # not a written answer


def test_a_students_html_is_shown_as_text(client):
    page = client.get(answer_url("401000004_Omid")).get_data(as_text=True)
    assert "<script>window" not in page and "<img src=x" not in page
    assert "&lt;script&gt;window.__xss = 1&lt;/script&gt;" in page
    assert "<pre>&lt;script&gt;window.__xss = 1&lt;/script&gt;" in page  # the source, as text too
    assert "&lt;img src=x onerror=&quot;window.__xss = 2&quot;&gt;" in page
    assert 'href="javascript:' not in page
    item_page = client.get(f"/item/{ITEM}").get_data(as_text=True)
    assert "<script>window" not in item_page and "&lt;script&gt;window.__xss = 1&lt;/script&gt;" in item_page


# --- saving ------------------------------------------------------------------------------------

def test_a_score_is_saved_with_who_and_when_and_updates_every_view(client, batch):
    r = post_score(client, "401000001_Ali", "4.5", comment="Good, but name the KL term.")
    assert r.status_code == 302 and r.headers["Location"] == answer_url("401000002_Sara")  # next pending
    row = manual_rows(batch)["401000001_Ali"]
    assert (row["score"], row["kind"], row["grader"], row["comment"]) == (4.5, "manual", "TA One",
                                                                          "Good, but name the KL term.")
    assert row["entered_at"]
    log = log_rows(batch)
    assert [(x["score"], x["previous_score"], x["grader"], x["source"]) for x in log] == [(4.5, None, "TA One", "web")]
    grades = {r["submission_id"]: r for r in csv.DictReader(open(batch / "grades.csv"))}
    assert grades["401000001_Ali"]["alpha"] == "34.5"
    result = json.loads((batch / "401000001_Ali" / "result.json").read_text())
    assert (result["total"], result["manual_pending"]) == (94.5, 5.0)
    item = next(i for i in result["items"] if i["id"] == ITEM)
    assert (item["score"], item["status"], item["comment"]) == (4.5, "manual", "Good, but name the KL term.")
    assert "Good, but name the KL term." in (batch / "401000001_Ali" / "feedback.md").read_text()
    assert json.loads((batch / "manual_scores.json").read_text())[0]["score"] == 4.5


def test_scores_are_validated_as_the_csv_import_validates_them(client, batch):
    for score, message in (("6", "score 6 for alpha.written is outside [0, 5]"),
                           ("abc", "score &#39;abc&#39; is not a number"), ("-1", "outside [0, 5]"),
                           ("nan", "outside [0, 5]"), ("", "Type a score from 0 to 5")):
        r = post_score(client, "401000001_Ali", score)
        assert r.status_code == 400 and message in r.get_data(as_text=True), score
    assert manual_rows(batch) == {} and log_rows(batch) == []


def test_a_stale_write_is_refused_with_the_current_value_shown(client, batch, app):
    assert post_score(client, "401000002_Sara", "3", version=0).status_code == 302
    other = app.test_client()  # a second TA, who loaded the page before the first one saved
    other.csrf = login(other)
    r = post_score(other, "401000002_Sara", "5", comment="perfect", version=0)
    assert r.status_code == 409
    page = r.get_data(as_text=True)
    assert "was changed after you loaded it: TA One set it to 3" in page and "Yours was not saved" in page
    assert 'value="5"' in page and "perfect" in page  # the refused entry stays in the form, on the new version
    version = log_rows(batch)[-1]["id"]
    assert f'name="version" value="{version}"' in page
    assert manual_rows(batch)["401000002_Sara"]["score"] == 3
    assert post_score(other, "401000002_Sara", "5", version=version).status_code == 302  # now deliberate
    assert manual_rows(batch)["401000002_Sara"]["score"] == 5


def test_saving_what_is_already_recorded_changes_nothing(client, batch):
    post_score(client, "401000001_Ali", "4")
    post_score(client, "401000001_Ali", "4", version=0)  # a stale page, but the same value
    assert len(log_rows(batch)) == 1


def test_clearing_a_score_makes_the_answer_pending_again(client, batch):
    post_score(client, "401000001_Ali", "4")
    version = log_rows(batch)[-1]["id"]
    assert post_score(client, "401000001_Ali", "", version=version, action="clear").status_code == 302
    assert manual_rows(batch) == {}
    assert [x["score"] for x in log_rows(batch)] == [4, None]
    result = json.loads((batch / "401000001_Ali" / "result.json").read_text())
    item = next(i for i in result["items"] if i["id"] == ITEM)
    assert (item["status"], item["score"], result["total"]) == ("manual-pending", 0.0, 90.0)


def test_the_last_pending_answer_leads_back_to_the_item(client):
    for sub in ("401000001_Ali", "401000002_Sara", "401000003_Mina", "401000004_Omid", "401000005_Reza"):
        post_score(client, sub, "1")
    r = post_score(client, "401000006_Leila", "0")
    assert r.headers["Location"] == f"/item/{ITEM}"
    assert "Every answer of alpha.written has a score." in client.get(f"/item/{ITEM}").get_data(as_text=True)


# --- groups, bank, history ---------------------------------------------------------------------

def test_equal_answers_form_a_group_that_is_scored_at_once(client, batch):
    page = client.get(f"/item/{ITEM}").get_data(as_text=True)
    assert "Group 1: 3 answers, 0 graded" in page
    versions = json.dumps({s: 0 for s in GROUP})
    r = client.post("/group", data={"csrf": client.csrf, "item": ITEM, "versions": versions, "score": "5",
                                    "comment": "Exactly."})
    assert r.status_code == 302
    rows = manual_rows(batch)
    assert {s: (rows[s]["score"], rows[s]["comment"]) for s in rows} == {s: (5.0, "Exactly.") for s in GROUP}
    assert "Group 1: 3 answers, 3 graded — all 5" in client.get(f"/item/{ITEM}").get_data(as_text=True)
    grades = {r["submission_id"]: r for r in csv.DictReader(open(batch / "grades.csv"))}
    assert all(grades[s]["alpha"] == "35" for s in GROUP)


def test_a_group_score_skips_members_changed_meanwhile_and_says_so(client, batch):
    post_score(client, "401000002_Sara", "2", comment="adjusted")  # after the group page was loaded
    versions = json.dumps({s: 0 for s in GROUP})
    r = client.post("/group", data={"csrf": client.csrf, "item": ITEM, "versions": versions, "score": "5"},
                    follow_redirects=True)
    page = r.get_data(as_text=True)
    assert "2 saved, 0 already so, 1 refused" in page
    assert "401000002_Sara / alpha.written was changed after you loaded it: TA One set it to 2" in page
    rows = manual_rows(batch)
    assert (rows["401000001_Ali"]["score"], rows["401000002_Sara"]["score"], rows["401000003_Mina"]["score"]) == (5, 2, 5)


def test_group_forms_are_checked(client, batch):
    for versions in ("not json", json.dumps({"someone_else": 0}), json.dumps({"401000001_Ali": "x"}), "{}"):
        r = client.post("/group", data={"csrf": client.csrf, "item": ITEM, "versions": versions, "score": "5"})
        assert r.status_code == 400, versions
    r = client.post("/group", data={"csrf": client.csrf, "item": ITEM, "versions": json.dumps({GROUP[0]: 0}),
                                    "score": "7"}, follow_redirects=True)
    assert "Not saved: score 7 for alpha.written is outside [0, 5]." in r.get_data(as_text=True)
    assert manual_rows(batch) == {}


def test_comment_bank_holds_added_and_used_comments(client):
    r = client.post("/bank", data={"csrf": client.csrf, "item": ITEM, "text": "Missing the KL term."})
    assert r.status_code == 302
    post_score(client, "401000001_Ali", "3", comment="Say why it is non-negative.")
    page = client.get(answer_url("401000002_Sara")).get_data(as_text=True)
    assert page.index("Missing the KL term.") < page.index("Say why it is non-negative.")
    assert '<select id="bank"' in page


def browser_target(location: str, base: str = f"http://127.0.0.1:{PORT}/item/{ITEM}") -> tuple[str, str]:
    """(scheme, host) a browser goes to on a redirect to ``location``, reading it as the URL standard says."""
    url = re.sub("[\t\n\r]", "", location).strip("".join(map(chr, range(0x21))))
    parts = urlsplit(urljoin(base, url))
    if parts.scheme in ("http", "https"):  # special schemes: "\\" is "/"
        parts = urlsplit(urljoin(base, url.replace("\\", "/")))
    return parts.scheme, parts.netloc


def test_the_bank_form_leads_back_only_to_a_page_of_this_server(client):
    def back(target):
        r = client.post("/bank", data={"csrf": client.csrf, "item": ITEM, "text": "Name the KL term.", "back": target})
        assert r.status_code == 302, repr(target)
        return r.headers["Location"]

    here = ("http", f"127.0.0.1:{PORT}")
    assert browser_target("/\t/evil.example/x") != here and browser_target("/\\evil.example") != here  # the check's check
    for evil in ("/\t/evil.example/x", "/\n/evil.example/x", "/\r/evil.example/x", "\t//evil.example/x",
                 "//evil.example/x", "///evil.example/x", " //evil.example/x", "\x00//evil.example/x",
                 "\x1f\x0b //evil.example/x", "//evil.example/x \x00", "/\\evil.example/x", "\\\\evil.example/x",
                 "\\/evil.example/x", "/\t\\evil.example/x", "\\\t\\evil.example/x", "https:evil.example/x",
                 "https://evil.example/x", "HTTPS:/evil.example/x", "http:/\\evil.example/x", "\thttps://evil.example",
                 "javascript:alert(1)", "java\tscript:alert(1)", "data:text/html,x", "evil.example/x",
                 "//127.0.0.1@evil.example/x", "/\u3000/evil.example", "/\x7f", ""):
        location = back(evil)
        assert location == f"/item/{ITEM}", repr(evil)
        assert browser_target(location) == here, repr(evil)
    legit = answer_url("401000002_Sara")
    assert back(legit) == legit
    assert back(" \x01" + legit + "\x1f ") == legit  # what a browser would strip anyway
    assert back("/%09/evil.example/x") == "/%09/evil.example/x"  # a path here (the browser does not decode it)


def test_history_page_is_the_audit_trail(client):
    post_score(client, "401000001_Ali", "3")
    post_score(client, "401000001_Ali", "4", version=1, comment="on second reading")
    page = client.get("/history").get_data(as_text=True)
    assert page.count("TA One") >= 3 and "on second reading" in page
    assert page.index("on second reading") < page.index("<td>—</td><td>3</td>")  # newest first


def test_hostile_submission_ids_are_escaped_and_round_trip(tmp_path):
    from batch.batch_kit import write_fake_batch
    from graders.refresh import rebuild
    from graders.manual.web import create_app

    from conftest import PORT, LocalClient

    odd = "401000009_<b>x<b>&a=1#?%2F é"  # any bytes but "/" can name a folder
    out = write_fake_batch(tmp_path / "out", {odd: set(), "401000001_Ali": set()}, notebooks_root=tmp_path / "nbs")
    rebuild(out)
    app = create_app(out, grader="TA <i>One</i>", token=TOKEN, port=PORT)
    app.test_client_class = LocalClient
    c = app.test_client()
    c.csrf = login(c)
    page = c.get("/answer", query_string={"item": ITEM, "sub": odd}).get_data(as_text=True)
    assert "<b>x" not in page and "&lt;b&gt;x&lt;b&gt;&amp;a=1#?%2F é" in page
    assert "TA &lt;i&gt;One&lt;/i&gt;" in page
    r = post_score(c, odd, "2")
    assert r.status_code == 302 and manual_rows(out)[odd]["score"] == 2
    assert "<b>x" not in c.get(f"/item/{ITEM}").get_data(as_text=True)
    data = json.loads((out / odd / "result.json").read_text())
    assert data["total"] == 2
