"""How the players move: one step of the base game dynamics (plain or extragradient), the
unrolled discriminator G differentiates through, and Lookahead-Minmax's joint backtracking."""
