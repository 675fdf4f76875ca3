"""Wording: stored message templates, the reply book, placeholders and cost."""
