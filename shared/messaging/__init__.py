"""The message log: every text in and out, per thread, with the body encrypted."""
