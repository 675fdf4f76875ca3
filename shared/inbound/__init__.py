"""Texts from patients: keywords, consent by keyword, the thread, the one reply."""
