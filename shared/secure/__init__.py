"""Secure messages: PHI a text must not carry, read on a page after the patient proves their date of birth."""
