"""Piece 3 of the probe runtime (see ``graders.probe.runtime``): the resources built in the kernel.

``resource`` builds what a ``graders.probe.spec.Resource`` names — a seeded generator, or a fresh
tokenizer or model loaded from the shipped files (``_asset``: where they are) —, never the
notebook's own objects.
"""


def _asset(name):
    env = "HW4_MODEL_" + name.upper().replace("-", "_")
    return _os.environ.get(env) or _os.path.join("models", name)


def resource(kind, opt):
    if kind == "generator":
        import torch

        return torch.Generator().manual_seed(int(opt["seed"]))
    if kind == "tokenizer":
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(_asset(opt["name"]))
        if opt.get("padding_side"):
            tok.padding_side = opt["padding_side"]
        if opt.get("pad_token"):
            tok.pad_token = opt["pad_token"]
        return tok
    if kind == "causal_lm":
        from transformers import AutoModelForCausalLM

        m = AutoModelForCausalLM.from_pretrained(_asset(opt["name"]))
        m.loss_type = "ForCausalLM"  # as graders.assets.load_causal_lm: the loss it falls back to, unwarned
        return m.train() if opt.get("train") else m.eval()
    if kind == "seq2seq":
        from transformers import AutoModelForSeq2SeqLM

        return AutoModelForSeq2SeqLM.from_pretrained(_asset(opt["name"]), attn_implementation="eager").eval()
    raise ValueError(f"unknown resource {kind!r}")
