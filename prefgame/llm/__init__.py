"""LLM backend: Hugging Face transformer policies trained online with :mod:`prefgame.losses`."""
