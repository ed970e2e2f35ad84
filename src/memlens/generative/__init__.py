"""Memorization in generative models: diffusion (closed-form and trained) and density models."""
