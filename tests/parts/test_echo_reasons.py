"""What a notebook can make its hidden checks say (Parts 3 and 4, each graded once per session).

Each "echo" notebook is the solved notebook whose functions with hidden checks return wrong values
built from their own arguments, in every channel a reason could repeat: strings carrying the
prompt and the arguments in backticks, single, double and “curly” quotes; numbers equal to the
arguments; dict keys; exceptions (of a class named after an input) whose message carries the
arguments; objects of a class named after the prompt. For every hidden check, the reason a student
reads — and the feedback rendered from it — carries no hidden input, no number with three
decimals, no "another type" and no "…" glued to a word, and is the check's own sentence (not the
generic reason ``Check.result`` falls back on when a reason repeats kernel text). (What realistic
mistakes are told, public and hidden, is tested with them: ``REASONS`` in test_part3_grading.py and
test_part4_grading.py.)
"""
from __future__ import annotations

import html
import re

import pytest

from graders.homework import assets_dir
from graders.reasons import texts_in
from graders.report.feedback import to_html, to_markdown
from helpers import grade, plan_for, with_cell

pytestmark = pytest.mark.skipif(not (assets_dir() / "models" / "MANIFEST.json").exists(),
                                reason="the shipped models are not built yet")

ECHO = {
    "part3": r'''
class _Named:
    """An object of a class named after a text (the class name is the text itself)."""


def _named(text):
    return type(str(text), (_Named,), {})()


def _quoted(i, text):
    return ["`{}`", "'{}'", '"{}"', "“{}”"][i % 4].format(text)


def beam_search_decoder(model, tokenizer, text, k, max_length):
    # the issue's attack: hypotheses in backticks carrying the hidden arguments, scores equal to an argument
    return [(_quoted(i, f"HIDDEN prompt={text} k={k} max_length={max_length}"), float(max_length)) for i in range(k)]


def calculate_hamming_penalty(sequence, all_sequences, diversity_factor):
    return float(diversity_factor)


def enhanced_beam_search_decoder(model, tokenizer, text, k, max_length, n_gram_block_size, diversity_factor):
    if diversity_factor:
        return {f"`{text}` k={k} max_length={max_length}": diversity_factor}
    return [(_named(text), float(n_gram_block_size))] * k


def calculate_bleu_score(predictions, references):
    raise type(str(predictions[0]), (Exception,), {})(f"“{predictions}” '{references}'")


def translate_seq2seq(model, tokenizer, sentences, max_new_tokens=48):
    return [f"“{s}” {max_new_tokens}" for s in sentences]


def translate_decoder_only(model, tokenizer, sentences, max_new_tokens=48):
    return [_named(s) for s in sentences]


def get_attention_weights(text, model, tokenizer):
    return _named(text)


def plot_attention_heatmap(attentions, layer, head, x_labels, y_labels, title=""):
    fig, ax = plt.subplots()
    ax.imshow(attentions[0, 0, 0].numpy())
    ax.set_xticks(range(len(x_labels)), labels=[f"'{x}' {layer}" for x in x_labels])
    ax.set_yticks(range(len(y_labels)), labels=[f'"{y}" {head}' for y in y_labels])
    ax.set_title(f"`{title}`")
    return fig
''',
    "part4": r'''
class _Named:
    """An object of a class named after a text (the class name is the text itself)."""


def get_log_prob(logits, token_id):
    return float(int(token_id)) + float(logits.numel())


def greedy_search(model, tokenizer, input_ids, length):
    prompt = tokenizer.decode(input_ids[0], skip_special_tokens=True)
    graph = nx.DiGraph()
    graph.add_node(0, token=prompt, tokenscore=100.0)
    graph.add_node(1, token=f"“{prompt}” length={length}", tokenscore=float(length) + 0.123456)
    graph.add_edge(0, 1)
    return input_ids, graph


def greedy_sampling(logits, beams):
    return torch.full((beams,), beams, dtype=torch.long)


def top_k_filter(logits, top_k):
    return {f"“top_k={top_k}” {logits[:4].tolist()}": logits}


def top_k_sampling(logits, temperature, top_k, beams, generator):
    return torch.full((beams,), top_k, dtype=torch.long)


def top_p_filter(logits, p, temperature, min_tokens_to_keep=1):
    return torch.full_like(logits, p)


def nucleus_sampling(logits, temperature, p, beams, generator):
    raise type(f"p={p} temperature={temperature}", (Exception,), {})(f'"{p}" `{temperature}` {logits[:4].tolist()}')


def beam_search(model, tokenizer, input_ids, length, beams, sampling, temperature, generator):
    prompt = tokenizer.decode(input_ids[0], skip_special_tokens=True)
    graph = nx.DiGraph()
    if sampling == "top_k":
        graph.add_node(0, token=f'"{prompt}" length={length} beams={beams} {temperature}', tokenscore=100.0,
                       cumscore=0.0, sequencescore=0.0)
        return graph
    graph.add_node(0, token=prompt, tokenscore=100.0, cumscore=0.0, sequencescore=0.0)
    for b in range(beams):
        graph.add_node(b + 1, token=f"`{prompt}` {sampling} {temperature}", tokenscore=temperature,
                       cumscore=float(length), sequencescore=float(beams))
        graph.add_edge(0, b + 1)
    return graph


def get_best_sequence(graph):
    return type(graph.nodes[0]["token"], (_Named,), {})(), float(graph.number_of_nodes())
''',
}

#: the generic reason of ``Check.result``'s net (it must never be needed)
NET = "gave a wrong answer on a hidden input (the details are not shown"


@pytest.fixture(scope="module", params=["part3", "part4"])
def echo(request):
    part = request.param
    return part, grade(part, with_cell(part, ECHO[part], label=f"echo-{part}"))


def _hidden_inputs(part: str) -> set[str]:
    """The text of every hidden check's inputs (from the plan's probes: strings, prompts passed as
    token ids, the tokens of a graph), less what a public check also passes (a public reason may show
    that) and words too short to mean anything alone."""
    import networkx as nx
    import torch

    from graders.assets import grader_model

    tok = grader_model("tiny-lm")[1]

    def texts(checks):
        out = set()
        for probe in (p for c in checks for p in c.probes):
            out |= set(texts_in((probe.args, probe.kwargs)))
            for a in probe.args:
                if isinstance(a, torch.Tensor) and a.dtype == torch.long and a.ndim == 2:
                    out.add(tok.decode(a[0]))
                if isinstance(a, nx.Graph):
                    out |= {str(attrs.get("token")) for _, attrs in a.nodes(data=True)}
        return out

    checks = plan_for(part).checks[part]
    public = texts([c for c in checks if c.public])
    return {t for t in texts([c for c in checks if not c.public]) if len(t.strip()) >= 6 and t not in public}


def _leaks(text: str, secrets: set[str]) -> list[str]:
    folded = html.unescape(text).casefold()
    return sorted(s for s in secrets if s.strip().casefold() in folded)


def test_hidden_reasons_repeat_nothing_an_echo_notebook_returns(echo):
    part, result = echo
    secrets = _hidden_inputs(part)
    assert len(secrets) >= 5  # the plan's hidden prompts, sentences, corpora, labels
    hidden = [c for item in result.items for c in item.checks if not c.public]
    assert len(hidden) >= 14
    assert sum(bool(_leaks(c.detail, secrets)) for c in hidden) >= 5  # the TA's details do show them
    for c in hidden:
        assert not c.passed and c.reason, (c.id, c.reason)
        assert not _leaks(c.reason, secrets), (c.id, c.reason, _leaks(c.reason, secrets))
        assert not re.search(r"\d\.\d{3}", c.reason), (c.id, c.reason)
        assert "another type" not in c.reason, (c.id, c.reason)
        assert not re.search(r"\w…|…\w", c.reason), (c.id, c.reason)
        assert NET not in c.reason, (c.id, c.reason)
    feedback = to_markdown(result) + to_html(result)
    assert not _leaks(feedback, secrets), _leaks(feedback, secrets)


def test_hidden_reasons_of_the_echo_notebooks_say_what_is_wrong(echo):
    part, result = echo
    checks = {c.id: c for item in result.items for c in item.checks}
    # (a check run again with the reference's helpers says so first: left out here)
    reason = {i: re.sub(r"^even with the reference (`\w+`(, )?)+: ", "", c.reason) for i, c in checks.items()}
    if part == "part3":
        # the attack: hypotheses in backticks carrying the hidden prompt, k and max_length
        feedback = to_markdown(result) + to_html(result)
        for cid in ("part3.beam_search.greedy", "part3.beam_search.eos", "part3.beam_search.short"):
            assert "`HIDDEN prompt=" in checks[cid].detail  # the TA sees everything
            for probe in next(c for c in plan_for(part).checks[part] if c.id == cid).probes:
                text, k, max_length = probe.args[2:]
                assert f"prompt={text} k={k} max_length={max_length}" not in html.unescape(feedback)
        too_long = ("case 1 of 2: your hypothesis 1 is longer than max_length allows: max_length counts the prompt's "
                    "tokens plus the generated ones (values from hidden inputs are not shown)")
        assert reason["part3.beam_search.greedy"] == reason["part3.beam_search.short"] == too_long
        # (with max_length = 40 the echoed text is not too long: the hypotheses differ, and are longer)
        assert reason["part3.beam_search.eos"] == (
            "case 1 of 2: your hypothesis 1 is not among the k best: 3 of the expected ones are missing; yours are "
            "longer than the expected ones (values from hidden inputs are not shown)")
        # a public check shows what was returned
        assert "`HIDDEN prompt=The young woman sees k=3 max_length=7`" in reason["part3.beam_search"]
        assert reason["part3.hamming.hidden"].startswith("case 1 of 3: wrong penalty (it counts")
        assert reason["part3.enhanced_beam_search.blocking"].startswith(
            "case 1 of 2: hypothesis 1: the text should be a str (the decoded sequence), got a type of its own")
        assert reason["part3.enhanced_beam_search.diversity"].startswith(
            "case 1 of 4: should return a list of (text, score) tuples, got a dict")
        assert reason["part3.bleu.no_match"].startswith(
            "`calculate_bleu_score`() raised an exception on a hidden input (its message is not shown")
        assert reason["part3.translation.decoder_only.hidden"].startswith(
            "every translation should be a str; translation 1 is a type of its own")
        assert reason["part3.translation.seq2seq.hidden"].startswith(
            "6 of 6 translations differ from the model's greedy translation (sentences 1, 2, 3, 4, 5, 6)")
        assert reason["part3.attention.hidden"].startswith(
            "text 1 of 2: should return a tuple (encoder_self_attentions, cross_attentions, output_ids), got a type "
            "of its own")
        assert reason["part3.attention.heatmap.hidden"].startswith(
            "heatmap: the heatmap does not show attentions[layer, 0, head]: it draws another layer or head")
    else:
        assert reason["part4.get_log_prob.hidden"].startswith(
            "case 1 of 6: wrong log-probability (the log of the softmax of the logits)")
        assert reason["part4.greedy_search.hidden.ids"] == (
            "output_ids has the wrong shape; it should be [1, prompt_len + length] (values from hidden inputs are not "
            "shown)")
        assert reason["part4.greedy_search.hidden.graph"] == (
            "child 1 of the root: not the expected token (values from hidden inputs are not shown)")
        assert reason["part4.greedy_sampling.hidden"].startswith(
            "case 1 of 6: not the ids of the largest logits, first at position 0 (values from hidden inputs")
        assert reason["part4.top_k_filter.hidden"].startswith(
            "case 1 of 30: top_k_filter should return a torch.Tensor, got a dict")
        assert reason["part4.top_p_filter.hidden"].startswith(
            "case 1 of 40: the kept entries should be logits / temperature")
        assert reason["part4.nucleus_sampling.hidden1"].startswith(
            "`nucleus_sampling`() raised an exception on a hidden input")
        for cid in ("part4.beam_search.greedy.hidden1", "part4.beam_search.greedy.hidden2"):
            assert reason[cid] == ("child 1 of the root: not the expected token (values from hidden inputs are not "
                                   "shown)")
        assert reason["part4.beam_search.top_k_temperature.hidden"].startswith(
            "node 0 should hold the prompt text as its 'token'")
        assert reason["part4.beam_search.nucleus.hidden"] == (
            "a node at depth 1 is a token that nucleus (p = 0.5) sampling cannot choose there (values from hidden "
            "inputs are not shown)")
        assert reason["part4.get_best_sequence.hidden"].startswith(
            "get_best_sequence should return (str, float), got a type of its own for the text")
