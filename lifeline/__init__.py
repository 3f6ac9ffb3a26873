"""Lifeline: software for a humanitarian surrender hotline."""
