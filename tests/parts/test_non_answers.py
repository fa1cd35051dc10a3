"""Non-answers earn nothing: a notebook whose every theory answer is ``0`` or a one-hot ``Matrix``
and whose every graded function returns a constant of the right type (zero, a one-hot, a fixed
value) scores no automatic point in any part — in particular from the property checks (k3 ≥ 0,
π* sums to 1, the format of the probabilities, the shapes and norms of the directions, eval mode
and restored weights after the landscape), which a constant satisfies. The reference keeps full
marks and the blank notebook zero (the per-part grading tests)."""
from __future__ import annotations

import pytest

from helpers import grade, with_cell

CONSTANTS = {
    "theory": '''
Q1a_num_pairs = 0
Q1a_dloss = 0
Q1a_dloss_limits = Matrix([1, 0])
Q1b_shaped_reward = 0
Q1b_kl_two_outcomes = 0
Q1c_expected_reward = 0
Q1c_grad = Matrix([1, 0, 0])
Q1d_score = Matrix.zeros(3, 3)
Q1d_policy_gradient = Matrix([1, 0, 0])
Q1d_surrogate = 0
Q1e_k2 = 0
Q1f_k3 = 0
Q2a_Z = 0
Q2a_pi_star = Matrix([1, 0, 0])
Q2a_kl_form = 0
Q2b_reward = 0
Q2b_preference = 0
Q2b_loss = 0
Q2c_weight = 0
Q2c_dlogp = Matrix([1, 0])
Q2c_grad = Matrix([1, 0, 0])


def reward_model_loss(rewards_ranked):
    return torch.tensor(0.0)


def dpo_loss(policy_chosen_logps, policy_rejected_logps, ref_chosen_logps, ref_rejected_logps, beta):
    zero = torch.zeros_like(policy_chosen_logps)
    return zero, zero.clone(), zero.clone()


def kl_estimators(logq, logp):
    zero = torch.zeros_like(logq)
    return zero, zero.clone(), zero.clone()
''',
    "part1": '''
def next_token_ab_probs(model, tokenizer, conversations):
    return [{"A": 0.5, "B": 0.5} for _ in conversations]


def analysis_result(example, probs):
    return ResultRow(0.5, 0.5)


def summarize(results_by_model):
    return pd.DataFrame({"mean": [0.5] * len(results_by_model)}, index=list(results_by_model))


def plot_summary(summary):
    fig, ax = plt.subplots()
    ax.bar(["a model"], [0.5])
    ax.axhline(0.5)
    return fig
''',
    "part2": '''
def load_model(path):
    return None, None


def encode(tokenizer, text):
    return {"input_ids": torch.zeros(1, 4, dtype=torch.long), "attention_mask": torch.ones(1, 4, dtype=torch.long)}


def compute_loss(model, inputs):
    return 0.0


def random_directions(model, seed):
    # a constant tensor per parameter, scaled to the parameter's norm: right shapes and norms, not random
    d1 = [torch.ones_like(p) * (p.norm() / p.numel() ** 0.5) for p in model.parameters()]
    return d1, [t.clone() for t in d1]


def cosine_similarity(d1, d2):
    return 0.0


def loss_landscape(model, inputs, d1, d2, xs, ys):
    return np.zeros((len(xs), len(ys)))


def plot_landscape(xs, ys, Z):
    fig = plt.figure()
    fig.add_subplot(projection="3d")
    return fig
''',
    "part3": '''
def beam_search_decoder(model, tokenizer, text, k, max_length):
    return [(text, 0.0)] * k


def calculate_hamming_penalty(sequence, all_sequences, diversity_factor):
    return 0.0


def enhanced_beam_search_decoder(model, tokenizer, text, k, max_length, n_gram_block_size, diversity_factor):
    return [(text, 0.0)] * k


def calculate_bleu_score(predictions, references):
    return 0.0


def translate_seq2seq(model, tokenizer, sentences, max_new_tokens=48):
    return [""] * len(sentences)


def translate_decoder_only(model, tokenizer, sentences, max_new_tokens=48):
    return [""] * len(sentences)


def get_attention_weights(text, model, tokenizer):
    return torch.zeros(2, 1, 4, 5, 5), torch.zeros(2, 1, 4, 3, 5), torch.zeros(1, 3, dtype=torch.long)


def plot_attention_heatmap(attentions, layer, head, x_labels, y_labels, title=""):
    fig, ax = plt.subplots()
    ax.imshow(np.zeros((len(y_labels), len(x_labels))))
    return fig
''',
    "part4": '''
def get_log_prob(logits, token_id):
    return 0.0


def greedy_search(model, tokenizer, input_ids, length):
    graph = nx.DiGraph()
    graph.add_node(0, token="", tokenscore=100.0)
    return input_ids, graph


def greedy_sampling(logits, beams):
    return torch.arange(beams)


def top_k_filter(logits, top_k):
    return torch.zeros_like(logits)


def top_k_sampling(logits, temperature, top_k, beams, generator):
    return torch.arange(beams)


def top_p_filter(logits, p, temperature, min_tokens_to_keep=1):
    return torch.zeros_like(logits)


def nucleus_sampling(logits, temperature, p, beams, generator):
    return torch.arange(beams)


def beam_search(model, tokenizer, input_ids, length, beams, sampling, temperature, generator):
    graph = nx.DiGraph()
    graph.add_node(0, token="", tokenscore=100.0, cumscore=0.0, sequencescore=0.0)
    return graph


def get_best_sequence(graph):
    return "", 0.0


def plot_prob_distribution(probabilities, selected, tokenizer, total_nb=20, title="", kept=None):
    fig, ax = plt.subplots()
    ax.bar(range(total_nb), [0.0] * total_nb)
    return fig


def plot_tree(graph, score="token"):
    fig, ax = plt.subplots()
    return fig
''',
}


@pytest.mark.parametrize("part", list(CONSTANTS))
def test_constant_answers_earn_nothing(part):
    result = grade(part, with_cell(part, CONSTANTS[part], label=f"constants-{part}"))
    paid = [(c.id, c.reason) for item in result.items for c in item.checks if c.passed]
    assert paid == [] and result.auto_total == 0
    assert result.parts[part].execution.cells_failed == 0
