"""Language models: what a language model regurgitates."""
