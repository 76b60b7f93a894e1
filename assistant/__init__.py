"""Rasa assistant configuration; the package holds its custom NLU components."""
