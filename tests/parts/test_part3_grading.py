"""Are the Part 3 graders valid? The reference scores full marks, the blank notebook nothing, each
realistic bug loses points on its own item and nowhere else, and other correct implementations
score full marks too. Every notebook is executed once per session (tests/helpers.py memoises)."""
from __future__ import annotations

import inspect

import pytest

from graders.homework import assets_dir
from helpers import (assert_bug_groups, assert_full_auto_marks, assert_mistakes_cost_their_items, auto_max,
                     blank_notebook, grade, graded_with, lost_items, mutant, solved_notebook)
from reference import part3 as ref
from test_part3_alternatives import ALTERNATIVE_1, ALTERNATIVE_2

PART = "part3"

pytestmark = pytest.mark.skipif(not (assets_dir() / "models" / "MANIFEST.json").exists(),
                                reason="the shipped models are not built yet")


@pytest.fixture(scope="module")
def reference_result():
    return grade(PART, solved_notebook(PART))


def test_reference_scores_full_auto_marks(reference_result):
    assert_full_auto_marks(reference_result, PART, 17)


def test_hidden_checks_are_part_of_the_run(reference_result):
    ids = {c.id for item in reference_result.items for c in item.checks}
    hidden = {"part3.beam_search.greedy", "part3.beam_search.eos", "part3.beam_search.short",
              "part3.hamming.hidden", "part3.enhanced_beam_search.blocking", "part3.enhanced_beam_search.diversity",
              "part3.bleu.no_match", "part3.bleu.clipping", "part3.bleu.brevity", "part3.bleu.corpus",
              "part3.translation.seq2seq.hidden", "part3.translation.decoder_only.hidden",
              "part3.attention.hidden", "part3.attention.heatmap.hidden"}
    assert hidden <= ids
    assert all(not c.public for item in reference_result.items for c in item.checks if c.id in hidden)


def test_blank_notebook_scores_zero():
    result = grade(PART, blank_notebook(PART))
    assert result.auto_total == 0
    reasons = {c.reason for item in result.items for c in item.checks}
    assert all("NotImplementedError" in r for r in reasons), reasons


def _replace_function(name: str, new_source: str) -> tuple[str, str]:
    return inspect.getsource(getattr(ref, name)).rstrip("\n"), new_source.strip("\n")


SENTENCE_AVERAGE = '''
def calculate_bleu_score(predictions, references):
    return sum(_sentence_bleu([p], [r]) for p, r in zip(predictions, references)) / len(predictions)


def _sentence_bleu(predictions, references):'''

# label: (replacements in the solved notebook, the items that must lose points, checks that must fail
#         [, items it costs through a function that calls the wrong one, until errors are carried forward])
BUGS = {
    # -- beam search --
    "beam_keeps_the_first_hypothesis_children": (  # no ranking of all candidates together
        [("        candidates.sort(key=lambda c: c[1], reverse=True)  # rank every candidate together\n", "")],
        {"part3.beam_search"}, {"part3.beam_search", "part3.beam_search.eos"}),
    "beam_scores_are_products_of_probabilities": (
        [("    beams = [(list(prompt), 0.0)]", "    beams = [(list(prompt), 1.0)]"),
         ("candidates.append((tokens + [token], score + lp))", "candidates.append((tokens + [token], score * math.exp(lp)))")],
        # the clause's own hidden check is .short; whether the greedy case also catches it depends on
        # whether the secret's prompt reaches the end-of-sequence token before max_length
        {"part3.beam_search"}, {"part3.beam_search", "part3.beam_search.short"}),
    "beam_expands_finished_hypotheses": (
        [("            if tokens[-1] == eos:  # finished: not expanded, competes with its score", "            if False:"),
         ("        if all(tokens[-1] == eos for tokens, _ in beams):\n            break\n", "")],
        {"part3.beam_search"}, {"part3.beam_search.eos"}),
    "beam_max_length_counts_only_new_tokens": (
        [("    for _ in range(max_length - len(prompt)):\n        candidates = []",
          "    for _ in range(max_length):\n        candidates = []")],
        # the clause's own hidden check is .short; whether the greedy case also catches it depends on
        # whether the secret's prompt reaches the end-of-sequence token before max_length
        {"part3.beam_search"}, {"part3.beam_search", "part3.beam_search.short"}),
    # -- Hamming penalty: the enhanced decoder calls it, so a wrong penalty makes it wrong too --
    "hamming_distance_instead_of_agreements": (
        [("agreements += sum(1 for a, b in zip(sequence, other) if a == b)",
          "agreements += sum(1 for a, b in zip(sequence, other) if a != b)")],
        {"part3.hamming"}, {"part3.hamming", "part3.hamming.hidden"}, {"part3.enhanced_beam_search"}),
    # -- enhanced beam search --
    "ngram_blocking_off_by_one": (  # the last n tokens as context: blocks (n+1)-grams
        [("    n = n_gram_block_size\n", "    n = n_gram_block_size + 1\n")],
        {"part3.enhanced_beam_search"}, {"part3.enhanced_beam_search", "part3.enhanced_beam_search.blocking"}),
    "ngram_blocking_ignores_the_prompt": (
        [("                context = seq[len(seq) - n + 1:]\n"
          "                for i in range(len(seq) - n + 1):\n"
          "                    if seq[i:i + n - 1] == context:\n"
          "                        next_logp[seq[i + n - 1]] = float(\"-inf\")",
          "                generated = seq[len(prompt):]\n"
          "                context = generated[len(generated) - n + 1:]\n"
          "                for i in range(len(generated) - n + 1):\n"
          "                    if generated[i:i + n - 1] == context:\n"
          "                        next_logp[generated[i + n - 1]] = float(\"-inf\")")],
        {"part3.enhanced_beam_search"}, {"part3.enhanced_beam_search", "part3.enhanced_beam_search.blocking"}),
    "diversity_penalty_kept_in_the_score": (
        [("            chosen.append(pool.pop(pick))",
          "            chosen.append((pool[pick][0], adjusted[pick]))\n            pool.pop(pick)")],
        {"part3.enhanced_beam_search"}, {"part3.enhanced_beam_search", "part3.enhanced_beam_search.diversity"}),
    # -- BLEU --
    "bleu_without_clipping": (
        [("sum(min(count, ref_counts[gram]) for gram, count in hyp_counts.items())",
          "sum(count for gram, count in hyp_counts.items() if gram in ref_counts)")],
        {"part3.bleu"}, {"part3.bleu", "part3.bleu.clipping"}),
    "bleu_mean_of_sentence_bleus": (
        [("def calculate_bleu_score(predictions, references):", SENTENCE_AVERAGE.strip("\n"))],
        {"part3.bleu"}, {"part3.bleu", "part3.bleu.corpus"}),
    "bleu_brevity_penalty_of_one_sentence": (
        [("brevity = math.exp(1 - ref_length / hyp_length) if hyp_length < ref_length else 1.0",
          "brevity = math.exp(1 - len(ref) / len(hyp)) if len(hyp) < len(ref) else 1.0")],
        {"part3.bleu"}, {"part3.bleu.brevity"}),
    # -- translation --
    "decoder_only_returns_the_prompt_too": (
        [('continuation = output[0, inputs["input_ids"].shape[1]:]', "continuation = output[0]")],
        {"part3.translation"}, {"part3.translation.decoder_only", "part3.translation.decoder_only.hidden"}),
    "seq2seq_without_the_task_prefix": (
        [('tokenizer("translate English to German: " + sentence, return_tensors="pt")',
          'tokenizer(sentence, return_tensors="pt")')],
        {"part3.translation"}, {"part3.translation.seq2seq", "part3.translation.seq2seq.hidden"}),
    # -- attention --
    "decoder_self_attention_for_encoder_self_attention": (
        [("torch.stack(outputs.encoder_attentions)", "torch.stack(outputs.decoder_attentions)")],
        {"part3.attention"}, {"part3.attention", "part3.attention.hidden"}),
    "cross_attention_not_stacked_over_layers": (
        [("cross_attentions = torch.stack(outputs.cross_attentions)", "cross_attentions = outputs.cross_attentions[-1]")],
        {"part3.attention"}, {"part3.attention", "part3.attention.hidden"}),
    "heatmap_of_the_first_head": (
        [("matrix = attentions[layer, 0, head]", "matrix = attentions[layer, 0, 0]")],
        {"part3.attention"}, {"part3.attention.heatmap", "part3.attention.heatmap.hidden"}),
}


#: the bugs graded together, one notebook per group (each execution of the Part 3 notebook takes about
#: half a minute): at most one bug per item in a group, so each group's lost items name every bug's own,
#: and the Hamming bug (carried into the enhanced decoder) apart from the enhanced decoder's own bugs
BUG_GROUPS = {
    "bugs-1": ["beam_keeps_the_first_hypothesis_children", "ngram_blocking_off_by_one", "bleu_without_clipping",
               "decoder_only_returns_the_prompt_too", "decoder_self_attention_for_encoder_self_attention"],
    "bugs-2": ["beam_scores_are_products_of_probabilities", "ngram_blocking_ignores_the_prompt",
               "bleu_mean_of_sentence_bleus", "seq2seq_without_the_task_prefix",
               "cross_attention_not_stacked_over_layers"],
    "bugs-3": ["beam_expands_finished_hypotheses", "diversity_penalty_kept_in_the_score",
               "bleu_brevity_penalty_of_one_sentence", "heatmap_of_the_first_head"],
    "bugs-4": ["beam_max_length_counts_only_new_tokens", "hamming_distance_instead_of_agreements"],
}


def _mistakes(group: str) -> dict:
    """The group's bugs as ``assert_mistakes_cost_their_items`` takes them."""
    return {label: (BUGS[label][0], BUGS[label][1], BUGS[label][2], set().union(*BUGS[label][3:]))
            for label in BUG_GROUPS[group]}


def test_every_bug_is_in_one_group_with_no_other_bug_of_its_items():
    assert_bug_groups(BUG_GROUPS, BUGS, _mistakes)


@pytest.mark.parametrize("group", list(BUG_GROUPS))
def test_bugs_lose_points_on_their_own_items_only(group, reference_result):
    assert_mistakes_cost_their_items(PART, reference_result, _mistakes(group), label=group)


HIDDEN = " (values from hidden inputs are not shown)"
# what some of these mistakes are told: the mistake itself where its values show it, else what differs; a public
# check ends with the call, the expected value and the value returned, a hidden one with none of them
REASONS = {
    "beam_max_length_counts_only_new_tokens": {  # (it used to be told "the score … is off by 0.000276")
        "part3.beam_search": (
            "case 1 of 2: your hypotheses are what a search gives that generates max_length tokens after the prompt: "
            "max_length counts the prompt's tokens too (here 4 prompt tokens, so at most 3 generated ones) (inputs: "
            "text='The young woman sees', k=3, max_length=7; expected [('The young woman sees the dog .', -4.0502), "),
        "part3.beam_search.short": (
            "case 1 of 2: your hypotheses are what a search gives that generates max_length tokens after the prompt: "
            "max_length counts the prompt's tokens too" + HIDDEN),
    },
    "beam_expands_finished_hypotheses": {
        "part3.beam_search": ("case 2 of 2: your hypothesis 1 goes on after the end-of-sequence token ('I have a "
                              "dream .The little dog"),
        "part3.beam_search.eos": ("case 1 of 2: your hypothesis 1 goes on after the end-of-sequence token: a hypothesis "
                                  "ending with it is finished — not expanded again, but kept among the candidates "
                                  "with its score" + HIDDEN),
    },
    "beam_scores_are_products_of_probabilities": {
        "part3.beam_search": ("case 1 of 2: the score of your hypothesis 1 is 0.0174196 for 'The young woman sees the "
                              "dog .', expected -4.05016: it is a product of probabilities; a score is the sum of the "
                              "natural-log probabilities (inputs: text='The young woman sees', k=3, max_length=7; "),
        "part3.beam_search.short": ("case 1 of 2: the score of your hypothesis 1 is wrong: it is a product of "
                                    "probabilities; a score is the sum of the natural-log probabilities" + HIDDEN),
    },
    "hamming_distance_instead_of_agreements": {
        "part3.hamming": ("case 1 of 3: wrong penalty: your value counts the positions where the sequences differ (the "
                          "Hamming distance); the penalty counts those where they agree (inputs: sequence=[5, 6, 7, 8], "
                          "all_sequences=[[5, 6, 9], [1, 6, 7, 8, 9]], diversity_factor=0.5; expected 2.5; your value: 1)"),
        "part3.hamming.hidden": ("case 1 of 3: wrong penalty: your value counts the positions where the sequences "
                                 "differ (the Hamming distance); the penalty counts those where they agree" + HIDDEN),
    },
    "decoder_only_returns_the_prompt_too": {
        "part3.translation.decoder_only": (
            "3 of 3 translations differ from the model's greedy translation (sentences 1, 2, 3): return only the "
            "translation, not the prompt; translate_decoder_only(model, tokenizer, sentences, max_new_tokens=48): for "
            "'The fast horse thanked a mouse.' the expected translation is "),
        "part3.translation.decoder_only.hidden": (
            "6 of 6 translations differ from the model's greedy translation (sentences 1, 2, 3, 4, 5, 6): return only "
            "the translation, not the prompt" + HIDDEN),
    },
    "cross_attention_not_stacked_over_layers": {
        "part3.attention": ("cross_attentions has shape (1, 4, 10, 14), expected [layers, 1, heads, tgt, src] = "
                            "(2, 1, 4, 10, 14): it holds one layer; stack every layer"),
        "part3.attention.hidden": ("text 1 of 2: cross_attentions has the wrong shape, expected [layers, 1, heads, tgt, "
                                   "src]: it holds one layer; stack every layer (torch.stack over the tuple "
                                   "transformers returns)" + HIDDEN),
    },
    "heatmap_of_the_first_head": {
        "part3.attention.heatmap": ("heatmap: the heatmap does not show attentions[layer, 0, head] (layer 2, head 2): "
                                    "it draws layer 2, head 0"),
        "part3.attention.heatmap.hidden": ("heatmap: the heatmap does not show attentions[layer, 0, head]: it draws "
                                           "another layer or head (check the layer, head and batch indices)" + HIDDEN),
    },
}


@pytest.mark.parametrize("label", list(REASONS))
def test_reasons_name_the_mistake_and_public_ones_show_the_call(label, reference_result):
    result = graded_with(PART, label, BUG_GROUPS, _mistakes)
    reasons = {c.id: c.reason for item in result.items for c in item.checks}
    for cid, start in REASONS[label].items():
        assert reasons[cid].startswith(start), (cid, reasons[cid])
        assert "off by" not in reasons[cid]


# mistakes graded together (each costs its own item; see helpers.assert_mistakes_cost_their_items)
MISTAKES = {
    "bleu_splits_on_single_spaces": (  # the docstring says str.split(): runs of whitespace
        [("hyp, ref = prediction.split(), reference.split()", 'hyp, ref = prediction.split(" "), reference.split(" ")')],
        {"part3.bleu"}, {"part3.bleu"}, set()),
    "heatmap_ignores_the_title": (
        [('ax.set_title(title or f"layer {layer}, head {head}")', 'ax.set_title(f"layer {layer}, head {head}")')],
        {"part3.attention"}, {"part3.attention.heatmap", "part3.attention.heatmap.hidden"}, set()),
    "n_gram_size_0_blocks_everything": (
        [("            if n and len(seq) + 1 >= n:", "            if len(seq) + 1 >= n:")],
        {"part3.enhanced_beam_search"}, {"part3.enhanced_beam_search.diversity"}, set()),
    "attentions_as_per_layer_tuples": (  # what transformers returns: accepted, with a note
        [("encoder_self_attentions = torch.stack(outputs.encoder_attentions)",
          "encoder_self_attentions = outputs.encoder_attentions"),
         ("cross_attentions = torch.stack(outputs.cross_attentions)", "cross_attentions = outputs.cross_attentions")],
        set(), set(), set()),
}


def test_mistakes_cost_their_own_items_with_reasons_to_act_on(reference_result):
    result = assert_mistakes_cost_their_items(PART, reference_result, MISTAKES, label="part3-mistakes")
    checks = {c.id: c for item in result.items for c in item.checks}
    bleu = checks["part3.bleu"].reason
    assert bleu.startswith("corpus 4 of 4: BLEU") and "expected clipped precisions p1..p4" in bleu
    assert "predictions ['  the cat\\tsat on  the mat '" in bleu and "brevity penalty" in bleu
    assert bleu.endswith("your value is the BLEU computed with tokens from str.split(' ') (the docstring says "
                         "str.split(): any run of whitespace)")
    assert checks["part3.attention"].passed and "torch.stack" in checks["part3.attention"].reason


@pytest.mark.parametrize("alternative", [ALTERNATIVE_1, ALTERNATIVE_2], ids=["alternative_1", "alternative_2"])
def test_other_correct_implementations_get_full_marks(alternative, reference_result):
    replacements = [_replace_function(name, source) for name, source in alternative.items()]
    result = grade(PART, mutant(PART, replacements, label="alternative"))
    assert lost_items(result, reference_result) == set(), [(c.id, c.reason) for item in result.items
                                                           for c in item.checks if not c.passed]
    assert result.auto_total == auto_max(result)
