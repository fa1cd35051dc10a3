"""Reference solution of the warm-up's second notebook (``assignments/derivation.ipynb``)."""
import sympy as sp

x = sp.Symbol("x", real=True)

#: d/dx log(sigmoid(x)), simplified: sigmoid(-x)
D_logsigmoid = 1 / (1 + sp.exp(x))
