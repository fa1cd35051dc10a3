"""Part 4: Advanced decoding — the checks behind its rubric items (see rubric.yaml, part `part4`).

This module is the part's check table (``build_checks``, one function per group of checks); the
inputs its checks call the notebook on, chosen with the model, are in ``part4_inputs``, and the
judges of the returned values in ``part4_sampling_judges`` (one position's logits: log-probability,
greedy choice, filters, samplers, the bar chart) and ``part4_judges`` (paths and trees).

What is checked, and how:

* ``get_log_prob`` / ``greedy_sampling``: against the reference on fixed and hidden logit vectors
  (``get_log_prob`` must return a Python float; ``greedy_sampling`` a LongTensor, best first).
* ``greedy_search``: the ids against the reference (which equals greedy ``model.generate`` with
  EOS disabled — tested in tests/parts), on prompts and lengths where decoding goes on after the
  end-of-text token, and the path graph node by node (``token``, ``tokenscore``; a special token
  may be decoded with or without ``skip_special_tokens``).
* ``top_k_filter`` / ``top_p_filter``: on many fixed and hidden logit vectors, by the *set* of
  kept tokens with the tie and boundary rules of ``top_k_problem`` / ``top_p_problem`` (on an exact tie at the k-th value keep
  exactly k or all tied; a token whose preceding mass is within 1e-5 of p may go either way;
  among exactly equal probabilities any choice is right), and kept values equal to
  ``logits`` (top-k) or ``logits / temperature`` (top-p). Cases include ties, k = 1,
  k = vocabulary size, p close to 0 and p = 1, extreme temperatures, ``min_tokens_to_keep`` > 1.
* ``top_k_sampling`` / ``nucleus_sampling``: **statistically** (``SamplerFits``): thousands of
  calls with one grader-seeded generator; every id inside the kept set, the ids of one call
  distinct, the first ids fit the filtered distribution (chi-square at alpha 1e-9: at 1e-6 the
  test's heavy tail gave false failures several times too often, see tests/parts). Inputs have
  no ties, no top-p boundary ambiguity, and at least ``beams`` kept tokens with a non-zero
  float32 probability, so any correct sampler passes whatever random calls it makes.
* ``beam_search``: in greedy mode the whole tree against the reference (structure, children
  order, ``token``, ``tokenscore``, ``cumscore``, ``sequencescore``, ``beams ** length`` leaves).
  Top-k mode at a low temperature, on prompts chosen with the model so that drawing without
  replacement can only pick the ``beams`` best tokens at every node (probability of anything
  else < 1e-8) while a tree that samples its deeper nodes at temperature 1 leaves them with
  probability ≥ 0.95: the correct tree is the greedy one up to the order of siblings, which a
  *subset* rule checks (so a sampler that repeats ids, judged in the sampler items, costs no tree
  points as well). Nucleus mode at temperature 1: every child must lie in its node's nucleus
  (p = 0.5, at least ``beams`` tokens, boundary tolerance) with the model's scores — recomputed
  here along the student's own random tree (``TreeOracle``); prompts are chosen so that drawing
  from the top-20 instead would leave the nucleus with probability ≥ 0.95. At temperature 1 the
  nucleus sampler's own temperature mistakes do not show, so they cost nucleus points only.
* ``get_best_sequence``: on grader-made trees whose leaves lie at different depths and whose
  ``sequencescore`` ranking differs from the ``cumscore`` ranking.
* Plots by their data: the bar chart's heights are the probabilities of the most probable
  tokens (in order); the tree drawing has one marker per graph node at distinct positions and a
  label per node showing its token.

Expected values come from ``ctx.reference("part4")``; the model-based choice of inputs uses the
shipped model loaded here (it ships with the student bundle too).

Contract clauses → checks (each clause of the notebook's docstrings, and a check that fails an
implementation breaking that clause alone):

* ``get_log_prob``: logits of one position ``[vocab_size]``, log-softmax, natural log →
  ``part4.get_log_prob``, ``part4.get_log_prob.hidden``; a 0-d LongTensor id works (last case) →
  ``part4.get_log_prob``; a Python float → ``part4.get_log_prob``.
* ``greedy_search``: ``length`` steps, the end-of-text token treated like any other →
  ``part4.greedy_search.ids``, ``part4.greedy_search.hidden.ids``; output_ids a LongTensor
  ``[1, prompt_len + length]`` → ``part4.greedy_search.ids``; the path graph, node 0 = prompt with
  tokenscore 100, tokens decoded with skip_special_tokens, tokenscore in percent →
  ``part4.greedy_search.graph``, ``part4.greedy_search.hidden.graph``.
* ``greedy_sampling``: a LongTensor ``[beams]`` (a list of the same ids passes with a note), the
  ``beams`` largest, best first, beams = 1 and beams = vocab → ``part4.greedy_sampling``,
  ``part4.greedy_sampling.hidden``.
* ``top_k_filter``: the ``top_k`` largest kept unchanged, -inf elsewhere, either tie rule, k = 1
  and k = vocab → ``part4.top_k_filter``, ``part4.top_k_filter.hidden``; logits not modified →
  ``part4.top_k_filter`` (the ``arguments`` observer).
* ``top_k_sampling``: ``beams`` distinct ids, without replacement, from softmax(filtered / T) →
  ``part4.top_k_sampling``, ``part4.top_k_sampling.hidden1``, ``part4.top_k_sampling.hidden2``
  (low and high temperatures); every random number from ``generator`` → ``part4.top_k_sampling``
  (replay); logits not modified → ``part4.top_k_sampling``.
* ``top_p_filter``: temperature first, smallest set with mass ≥ p, boundary and tie rules, p ≈ 0
  and p = 1, extreme temperatures, at least ``min_tokens_to_keep`` → ``part4.top_p_filter``,
  ``part4.top_p_filter.hidden``; values logits / T → ``part4.top_p_filter``; logits not modified →
  ``part4.top_p_filter``.
* ``nucleus_sampling``: ``min_tokens_to_keep = beams`` when the nucleus holds fewer than ``beams``
  tokens → ``part4.nucleus_sampling``; temperature before the cut → ``part4.nucleus_sampling.hidden1``,
  ``part4.nucleus_sampling.hidden2``; distinct ids, without replacement, from ``generator`` only,
  logits not modified → ``part4.nucleus_sampling``.
* ``beam_search``: greedy mode — the whole tree, children in the chosen order, root attributes,
  tokenscore / cumscore / sequencescore (prompt included) → ``part4.beam_search.greedy``,
  ``part4.beam_search.greedy.hidden1``; the end-of-text token expanded like any other →
  ``part4.beam_search.greedy.hidden2``; top_k = 20 and the temperature at every depth →
  ``part4.beam_search.top_k_temperature``, ``part4.beam_search.top_k_temperature.hidden``; nucleus
  p = 0.5 with at least ``beams`` candidates, tokenscore without temperature or filter →
  ``part4.beam_search.nucleus``, ``part4.beam_search.nucleus.hidden``.
* ``get_best_sequence``: leaves at several depths, the highest sequencescore (not cumscore), the
  tokens from the root joined, a Python float → ``part4.get_best_sequence``,
  ``part4.get_best_sequence.hidden``.
* ``plot_prob_distribution``: the ``total_nb`` most probable first, decreasing, probabilities not
  percentages, extra bars only for selected tokens, labelled with the tokens, the title, the dotted
  line after ``kept`` bars → ``part4.plot_prob_distribution``. Not checked: the colour of the
  selected bars (a figure's bars reach the grader without their colours).
* ``plot_tree``: one marker per node at distinct positions, a label per node with its token, nodes
  coloured by the chosen score (``"token"`` and ``"sequence"``) → ``part4.plot_tree``.
* Advice, not graded: "return the figure; do not close it", the layout helpers named.
"""


from __future__ import annotations

import numpy as np

from graders.checks.base import Check
from graders.checks.cases import Cases
from graders.checks.figure import FigureCheck
from graders.checks.rules import AllOf
from graders.checks.statistical import SamplerFits
from graders.checks.values import type_problem
from graders.part import CheckContext, CheckTable, PartSpec
from graders.parts.part4_inputs import (MODEL, _model_and_tokenizer, nucleus_allowed, best_sequence_graph, _f32,
                                        public_top_k_cases, hidden_top_k_cases, public_top_p_cases, hidden_top_p_cases,
                                        top_k_sampler_case, nucleus_sampler_case, SAMPLING_TREE, NUCLEUS_TREE_LENGTH,
                                        Part4Inputs, _candidates, _first, oracle)
from graders.parts.part4_judges import (sampled_tree_problem, _greedy_ids_judge, _greedy_graph_judge, _tree_judge,
                                        _best_sequence_judge, _tree_drawing_problem)
from graders.parts.part4_sampling_judges import (_softmax, top_k_problem, top_p_problem, top_k_expected,
                                                 top_p_expected, _bars_problem, PLOT_TOTAL_NB, PLOT_TITLE, PLOT_KEPT,
                                                 _log_prob_judge, _greedy_sampling_judge, _filter_judge,
                                                 modified_problem, _ids)
from graders.probe.spec import Probe, causal_lm, generator, tokenizer
from graders.probe.transport import Outcome

PART_NAME = "part4"
#: error carried forward: the student functions each graded function calls (see ``Check.depends``);
#: greedy_search and beam_search may compute scores with get_log_prob, the samplers call their filter
DEPENDS = {
    "greedy_search": ("get_log_prob",),
    "top_k_sampling": ("top_k_filter",),
    "nucleus_sampling": ("top_p_filter",),
    "beam_search": ("get_log_prob", "greedy_sampling", "top_k_sampling", "nucleus_sampling", "top_k_filter",
                    "top_p_filter"),
}
#: the notebook's contract in short: each function's arguments, and what the docstring says they are
#: (named when a call raises; see ``graders.calls``)
_LOGITS = ("logits", "[vocab_size]: the logits of one position, not the model's [1, seq, vocab] output")
ARGUMENTS = {
    "get_log_prob": (_LOGITS, ("token_id", "an int or a 0-d LongTensor")),
    "greedy_search": (("model", ""), ("tokenizer", ""), ("input_ids", "[1, prompt_len]"), ("length", "")),
    "greedy_sampling": (_LOGITS, ("beams", "")),
    "top_k_filter": (_LOGITS, ("top_k", "")),
    "top_k_sampling": (_LOGITS, ("temperature", ""), ("top_k", ""), ("beams", ""), ("generator", "")),
    "top_p_filter": (_LOGITS, ("p", ""), ("temperature", ""), ("min_tokens_to_keep", "")),
    "nucleus_sampling": (_LOGITS, ("temperature", ""), ("p", ""), ("beams", ""), ("generator", "")),
    "beam_search": (("model", ""), ("tokenizer", ""), ("input_ids", "[1, prompt_len]"), ("length", ""),
                    ("beams", ""), ("sampling", ""), ("temperature", ""), ("generator", "")),
    "get_best_sequence": (("graph", ""),),
    "plot_prob_distribution": (("probabilities", "[vocab_size], summing to 1"), ("selected", "[n] ids"),
                               ("tokenizer", ""), ("total_nb", "")),
    "plot_tree": (("graph", ""), ("score", "")),
}

N_DRAWS = 2000            # sampler calls per statistical check
REPLAY_DRAWS = 20         # calls again with a generator seeded alike: the same draws, if it is the only randomness
ALPHA = 1e-9              # significance of the goodness-of-fit test (1e-6: too many false failures, see tests)

PUBLIC_PROMPT = "The little dog"
PUBLIC_GREEDY_LENGTH = 8   # goes on after ' .' and the end-of-text token
PUBLIC_TREE = (3, 2)      # (length, beams)


def _logits_text(logits: np.ndarray) -> str:
    """Logits as a reason shows a call's argument: their values when there are a few, else their shape."""
    if len(logits) <= 8:
        return f"logits = [{', '.join(f'{x:.4g}' for x in logits.tolist())}]"
    return f"logits of shape [{len(logits)}]"


def build_checks(ctx: CheckContext) -> list[Check]:
    """Every check of this part, group by group; expected values come from ``ctx.reference("part4")``."""
    ref = ctx.reference(PART_NAME)
    model, tok = _model_and_tokenizer()
    inputs = Part4Inputs(model, tok)
    table = CheckTable(PART_NAME, DEPENDS)

    _log_prob_checks(table, ctx, ref)
    _greedy_sampling_checks(table, ctx, ref)
    _filter_checks(table, ctx)
    _sampler_checks(table, ctx, ref)
    _prob_plot_check(table, tok)
    _greedy_search_checks(table, ctx, ref, model, tok, inputs)
    public_tree = _tree_checks(table, ctx, ref, model, tok, inputs)
    _best_sequence_checks(table, ctx, ref)
    _tree_plot_check(table, public_tree)
    return table.checks


def _cases(table: CheckTable, id_, target, arg_list, judges, details, description, public, observe=()):
    """One check calling ``target`` once per argument tuple, each result judged by its judge."""
    probes = [Probe(f"{PART_NAME}.{id_}.{n}", target, tuple(args), observe=observe)
              for n, args in enumerate(arg_list)]
    table.add(id_, probes, Cases([p.id for p in probes], judges, details=details, outcomes=True), description,
              public)


def _single(table: CheckTable, id_, probe_args, target, judge, detail, description, public, timeout=60.0):
    """One check calling ``target`` once, its result judged by ``judge``."""
    pid = f"{PART_NAME}.{id_}"
    table.add(id_, [Probe(pid, target, tuple(probe_args))],
              Cases([pid], [judge], details=[detail], outcomes=True), description, public, timeout)


def _log_prob_checks(table: CheckTable, ctx: CheckContext, ref) -> None:
    """get_log_prob on fixed and hidden logit vectors."""
    import torch

    def log_prob_check(id_, rng, n, public):
        args, judges, details = [], [], []
        for i in range(n):
            V = int(rng.integers(10, 2000))
            logits = torch.from_numpy(_f32(rng.normal(0, rng.uniform(0.5, 3), V)))
            token = [int(logits.argmax()), int(logits.argmin()), int(rng.integers(V))][i % 3]
            expected = float(ref.get_log_prob(logits, token))
            last = i == n - 1
            args.append((logits, torch.tensor(token) if last else token))  # a 0-d tensor id works too
            judges.append(_log_prob_judge(expected, logits.numpy(), token))
            lg = logits.double().numpy()
            details.append(f"get_log_prob(logits of shape [{V}] with logits[{token}] = {lg[token]:.4g}, max "
                           f"{lg.max():.4g}, token_id = {token}{' as a 0-d LongTensor' if last else ''}); "
                           f"expected {expected:.6f}")
        _cases(table, id_, "get_log_prob", args, judges, details,
               "get_log_prob returns log softmax(logits)[token_id] as a Python float", public)

    log_prob_check("get_log_prob", np.random.default_rng(4100), 3, True)
    if ctx.hidden:
        log_prob_check("get_log_prob.hidden", ctx.rng("part4.get_log_prob"), 6, False)


def _greedy_sampling_checks(table: CheckTable, ctx: CheckContext, ref) -> None:
    """greedy_sampling on fixed and hidden logit vectors without ties."""
    import torch

    def greedy_sampling_check(id_, rng, n, public):
        args, judges, details = [], [], []
        for i in range(n):
            V = int(rng.integers(5, 400))
            logits = _f32(rng.permutation(V) + rng.uniform(0, 0.5, V))  # distinct values, no ties
            logits = _f32((logits - logits.mean()) / 40)
            beams = [1, V][i] if i < 2 else int(rng.integers(2, min(V, 8) + 1))
            t = torch.from_numpy(logits)
            expected = np.asarray(ref.greedy_sampling(t, beams)).astype(np.int64)
            args.append((t, beams))
            judges.append(_greedy_sampling_judge(expected, logits))
            details.append(f"greedy_sampling(logits of shape [{V}], beams = {beams}); expected ids {_ids(expected)}")
        _cases(table, id_, "greedy_sampling", args, judges, details,
               "greedy_sampling returns the ids of the beams largest logits, best first", public)

    greedy_sampling_check("greedy_sampling", np.random.default_rng(4200), 3, True)
    if ctx.hidden:
        greedy_sampling_check("greedy_sampling.hidden", ctx.rng("part4.greedy_sampling"), 6, False)


def _filter_checks(table: CheckTable, ctx: CheckContext) -> None:
    """top_k_filter and top_p_filter on fixed and hidden logits; the acceptance rule is computed from the
    inputs (see top_k_problem / top_p_problem)."""
    import torch

    def top_k_filter_check(id_, case_list, public):
        judges = [_filter_judge("top_k_filter", lambda v, lg=lg, k=k: top_k_problem(v, lg, k), lg)
                  for lg, k in case_list]
        _cases(table, id_, "top_k_filter", [(torch.from_numpy(lg), k) for lg, k in case_list], judges,
               [f"top_k_filter({_logits_text(lg)}, top_k = {k}); expected: {top_k_expected(lg, k)}"
                for lg, k in case_list],
               "top_k_filter keeps the top_k largest logits (ties: exactly k or all tied), -inf elsewhere", public,
               observe=("arguments",))

    top_k_filter_check("top_k_filter", public_top_k_cases(), True)
    if ctx.hidden:
        top_k_filter_check("top_k_filter.hidden", hidden_top_k_cases(ctx.rng("part4.top_k_filter")), False)

    def top_p_filter_check(id_, case_list, public):
        judges = [_filter_judge("top_p_filter", lambda v, c=c: top_p_problem(v, *c), c[0]) for c in case_list]
        _cases(table, id_, "top_p_filter", [(torch.from_numpy(lg), p, t, m) for lg, p, t, m in case_list], judges,
               [f"top_p_filter({_logits_text(lg)}, p = {p:.6g}, temperature = {t:.4g}, min_tokens_to_keep = {m}); "
                f"expected: {top_p_expected(lg, p, t, m)}" for lg, p, t, m in case_list],
               "top_p_filter: temperature first, then the smallest set of most probable tokens with mass ≥ p", public,
               observe=("arguments",))

    top_p_filter_check("top_p_filter", public_top_p_cases(), True)
    if ctx.hidden:
        top_p_filter_check("top_p_filter.hidden", hidden_top_p_cases(ctx.rng("part4.top_p_filter")), False)


def _sampler_checks(table: CheckTable, ctx: CheckContext, ref) -> None:
    """top_k_sampling and nucleus_sampling, statistically: fixed cases, then two hidden ones each."""
    import torch

    def sampler_check(id_, target, logits, params, seed, public):
        t = torch.from_numpy(logits)
        if target == "top_k_sampling":
            temperature, k, beams = params
            scaled = np.asarray(ref.top_k_filter(t, k), dtype=np.float64) / temperature
        else:
            temperature, p, beams = params
            scaled = np.asarray(ref.top_p_filter(t, p, temperature, beams), dtype=np.float64)
        pid = f"{PART_NAME}.{id_}"
        table.add(id_, [Probe(pid, target, (t, *params, generator(seed)), repeat=N_DRAWS, observe=("arguments",)),
                  Probe(f"{pid}.replay", target, (t, *params, generator(seed)), repeat=REPLAY_DRAWS)],
            SamplerFits(pid, _softmax(scaled), beams, alpha=ALPHA, what=target, replay=f"{pid}.replay",
                        unchanged=lambda o: modified_problem(o, logits, target)),
            f"{target}: {N_DRAWS} calls — ids inside the kept set, distinct within a call, first ids following "
            "the filtered distribution, the same draws again from a generator seeded alike", public, timeout=120.0)

    rng = np.random.default_rng(4300)
    sampler_check("top_k_sampling", "top_k_sampling", top_k_sampler_case(rng, 0.7, 40, 10, 3), (0.7, 10, 3),
                  4301, True)
    rng = np.random.default_rng(4400)
    # the nucleus at temperature 0.5 holds fewer tokens than beams: min_tokens_to_keep = beams must apply
    sampler_check("nucleus_sampling", "nucleus_sampling",
                  nucleus_sampler_case(rng, 0.5, 0.5, 40, 3, nucleus_below_beams=True), (0.5, 0.5, 3), 4401, True)
    if ctx.hidden:
        rng = ctx.rng("part4.top_k_sampling")
        for n, (t_lo, t_hi) in enumerate([(0.25, 0.5), (2.0, 6.0)]):
            temperature, V = float(rng.uniform(t_lo, t_hi)), int(rng.integers(30, 120))
            k = int(rng.integers(5, 30))
            beams = int(rng.integers(1, 5))
            sampler_check(f"top_k_sampling.hidden{n + 1}", "top_k_sampling",
                          top_k_sampler_case(rng, temperature, V, k, beams), (temperature, k, beams),
                          ctx.seed(f"part4.top_k_sampling.{n}"), False)
        rng = ctx.rng("part4.nucleus_sampling")
        for n, (t_lo, t_hi, p_lo, p_hi) in enumerate([(0.3, 0.6, 0.5, 0.95), (1.5, 4.0, 0.3, 0.8)]):
            temperature, p = float(rng.uniform(t_lo, t_hi)), float(rng.uniform(p_lo, p_hi))
            V, beams = int(rng.integers(30, 120)), int(rng.integers(1, 4))
            sampler_check(f"nucleus_sampling.hidden{n + 1}", "nucleus_sampling",
                          nucleus_sampler_case(rng, temperature, p, V, beams), (temperature, p, beams),
                          ctx.seed(f"part4.nucleus_sampling.{n}"), False)


def _prob_plot_check(table: CheckTable, tok) -> None:
    """plot_prob_distribution (public: a figure of grader-given probabilities)."""
    import torch

    rng = np.random.default_rng(4500)
    probs = _softmax(rng.normal(0, 2, 300)).astype(np.float32)
    order = np.argsort(-probs, kind="stable")
    selected = np.array([order[1], order[4]], dtype=np.int64)
    pid = f"{PART_NAME}.plot_prob_distribution"
    top_tokens = [tok.decode([int(i)]) for i in order[:PLOT_TOTAL_NB]]
    table.add("plot_prob_distribution",
        [Probe(pid, "plot_prob_distribution",
               (torch.from_numpy(probs), torch.from_numpy(selected), tokenizer(MODEL), PLOT_TOTAL_NB, PLOT_TITLE,
                PLOT_KEPT))],
        FigureCheck(pid, _bars_problem(probs.astype(np.float64), selected, PLOT_TOTAL_NB, top_tokens),
                    what="plot_prob_distribution"),
        "the bar chart shows the probabilities of the most probable tokens, in decreasing order", True)


def _greedy_search_checks(table: CheckTable, ctx: CheckContext, ref, model, tok, inputs: Part4Inputs) -> None:
    """greedy_search: the ids and the path graph (the end-of-text token is generated like any other, and
    may be decoded with or without skip_special_tokens)."""
    def greedy_check(id_, text, length, public):
        ids = ref.encode_prompt(tok, text)
        out_ids, graph = ref.greedy_search(model, tok, ids, length)
        out = np.asarray(out_ids).astype(np.int64)
        n = out.shape[1] - length
        also_ok = {i: {tok.decode([int(out[0, n + i - 1])])} for i in range(1, length + 1)
                   if int(out[0, n + i - 1]) in inputs.special}
        args = (causal_lm(MODEL), tokenizer(MODEL), ids, length)
        detail = f"prompt {text!r}, length {length}"
        _single(table, f"{id_}.ids", args, "greedy_search", _greedy_ids_judge(out, n, inputs.special),
                f"greedy_search(model, tokenizer, input_ids of {text!r} (shape (1, {n})), length = {length}); expected "
                f"output_ids {_ids(out[0], 16)}",
                "greedy_search's output_ids equal greedy decoding (going on after the end-of-text token)", public)
        pid = f"{PART_NAME}.{id_}.graph"
        table.add(f"{id_}.graph", [Probe(pid, "greedy_search", args)],
            Cases([pid], [_greedy_graph_judge(graph, public, also_ok)], details=[detail], outcomes=True),
            "greedy_search's graph is the path of the chosen tokens with their tokenscore", public)

    greedy_check("greedy_search", PUBLIC_PROMPT, PUBLIC_GREEDY_LENGTH, True)
    if ctx.hidden:
        rng = ctx.rng("part4.greedy_search")
        length = int(rng.integers(6, 10))
        text, _ = _first(_candidates(rng), lambda t: inputs.crosses_eos(t, length))
        greedy_check("greedy_search.hidden", text, length, False)


def _tree_checks(table: CheckTable, ctx: CheckContext, ref, model, tok, inputs: Part4Inputs):
    """beam_search: greedy mode (public, then hidden), then the sampling modes; returns the public greedy
    tree (which plot_tree draws)."""
    def tree_check(id_, text, length, beams, mode="greedy", temperature=1.0, seed=None, public=True):
        """Greedy mode: the whole tree as the reference's. Top-k at a low temperature: the greedy
        tree up to the order of siblings (subset rule)."""
        ids = ref.encode_prompt(tok, text)
        expected = ref.beam_search(model, tok, ids, length, beams, "greedy", 1.0, None)
        args = (causal_lm(MODEL), tokenizer(MODEL), ids, length, beams, mode, temperature,
                None if seed is None else generator(seed))
        description = {
            "greedy": "beam_search in greedy mode builds the whole tree with the reference's tokens and scores",
            "top_k": "beam_search('top_k') applies the temperature at every depth: at a low temperature "
                     "it only keeps the most probable tokens",
        }[mode]
        # a special token (decoded as "" with skip_special_tokens) may also be decoded without it
        specials = {tok.decode([i]) for i in sorted(inputs.special)}
        also_ok = {n: specials for n in expected.nodes if n != 0 and expected.nodes[n]["token"] == ""}
        _single(table, id_, args, "beam_search",
                _tree_judge(expected, ("tokenscore", "cumscore", "sequencescore"), mode == "greedy", public, also_ok),
                f"prompt {text!r}, length {length}, beams {beams}, {mode}, temperature {temperature}",
                description, public)
        return expected

    def nucleus_tree_check(id_, text, beams, seed, public):
        """Nucleus mode at temperature 1: every child inside its node's nucleus (p = 0.5), with the
        model's scores — recomputed here along the student's own random tree."""
        ids = ref.encode_prompt(tok, text)
        prompt = [int(i) for i in np.asarray(ids).reshape(-1)]
        prompt_text = tok.decode(prompt, skip_special_tokens=True)
        allowed = lambda logits: nucleus_allowed(logits, beams)  # noqa: E731

        def judge(outcome: Outcome) -> str | None:
            if p := type_problem(outcome, "graph"):
                return f"beam_search {p}"
            return sampled_tree_problem(outcome.value, oracle(), prompt, prompt_text, NUCLEUS_TREE_LENGTH, beams,
                                        allowed, "nucleus (p = 0.5)", verbose=public)

        args = (causal_lm(MODEL), tokenizer(MODEL), ids, NUCLEUS_TREE_LENGTH, beams, "nucleus", 1.0, generator(seed))
        _single(table, id_, args, "beam_search", judge,
                f"prompt {text!r}, length {NUCLEUS_TREE_LENGTH}, beams {beams}, nucleus, temperature 1.0",
                "beam_search('nucleus') draws every child from its node's nucleus (p = 0.5), with the model's scores",
                public)

    public_tree = tree_check("beam_search.greedy", PUBLIC_PROMPT, *PUBLIC_TREE)
    if ctx.hidden:
        rng = ctx.rng("part4.beam_search")
        text, _ = _first(_candidates(rng), lambda t: inputs.plain(t, 2, 3))
        tree_check("beam_search.greedy.hidden1", text, 2, 3, public=False)
        # the end-of-text token is chosen inside the tree and expanded like any other token
        text, _ = _first(_candidates(rng, forms=(3,)), lambda t: inputs.tree_crosses_eos(t, 3, 2))
        tree_check("beam_search.greedy.hidden2", text, 3, 2, public=False)

    # sampling modes
    text, temperature = _first(_candidates(None), inputs.low_temperature)
    tree_check("beam_search.top_k_temperature", text, *SAMPLING_TREE, "top_k", temperature, 4601)
    text, beams = _first(_candidates(None), inputs.nucleus)
    nucleus_tree_check("beam_search.nucleus", text, beams, 4602, True)
    if ctx.hidden:
        rng = ctx.rng("part4.beam_search.sampling")
        text, temperature = _first(_candidates(rng, forms=(1, 5)), inputs.low_temperature)
        tree_check("beam_search.top_k_temperature.hidden", text, *SAMPLING_TREE, "top_k", temperature,
                   ctx.seed("part4.beam_search.top_k"), public=False)
        text, beams = _first(_candidates(rng), inputs.nucleus)
        nucleus_tree_check("beam_search.nucleus.hidden", text, beams, ctx.seed("part4.beam_search.nucleus"), False)
    return public_tree


def _best_sequence_checks(table: CheckTable, ctx: CheckContext, ref) -> None:
    """get_best_sequence on grader-made trees."""
    def best_sequence_check(id_, rng, public):
        graph = best_sequence_graph(rng)
        expected = ref.get_best_sequence(graph)
        _single(table, id_, (graph,), "get_best_sequence", _best_sequence_judge(tuple(expected), graph),
                f"a tree of {graph.number_of_nodes()} nodes; expected {tuple(expected)!r}",
                "get_best_sequence picks the leaf with the highest sequencescore and joins the tokens of its path",
                public)

    best_sequence_check("get_best_sequence", np.random.default_rng(4700), True)
    if ctx.hidden:
        best_sequence_check("get_best_sequence.hidden", ctx.rng("part4.get_best_sequence"), False)


def _tree_plot_check(table: CheckTable, public_tree) -> None:
    """plot_tree (public: the drawing of the public greedy tree)."""
    pid = f"{PART_NAME}.plot_tree"
    tokens = [public_tree.nodes[n]["token"] for n in public_tree.nodes]
    drawings = [(f"{pid}.{score}", score, [float(public_tree.nodes[n][key]) for n in public_tree.nodes])
                for score, key in (("token", "tokenscore"), ("sequence", "sequencescore"))]
    table.add("plot_tree", [Probe(probe_id, "plot_tree", (public_tree, score)) for probe_id, score, _ in drawings],
        AllOf(*(FigureCheck(probe_id, _tree_drawing_problem(public_tree.number_of_nodes(), tokens, values, score),
                            what=f"plot_tree(score={score!r})") for probe_id, score, values in drawings)),
        "plot_tree draws one marker per node, coloured by the chosen score, and one label per node", True)


PART = PartSpec(
    name="part4",
    notebook="part4_advanced_decoding.ipynb",
    title="Part 4: Advanced decoding",
    required_functions=('get_log_prob', 'greedy_search', 'greedy_sampling', 'top_k_filter', 'top_k_sampling',
                        'top_p_filter', 'nucleus_sampling', 'beam_search', 'get_best_sequence'),
    assets=('models/tiny-lm',),
    build_checks=build_checks,
)
