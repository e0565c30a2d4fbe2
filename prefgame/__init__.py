"""prefgame: the game theory of preference alignment, exact and runnable."""

__version__ = "0.1.0"
