"""Pure numeric pricing kernels: Black-Scholes, Black-76, implied vol, smiles, VIX."""
