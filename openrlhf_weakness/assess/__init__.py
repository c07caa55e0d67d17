"""Assessors: every (prompt, response, reference) gets a score 1..5 and a short feedback text."""
