"""Knowledge memorized on purpose: a PromptMize analogue for few-shot table-to-text (Guo et al.,
arXiv 2302.04415).

:mod:`~memlens.table2text.data` generates biography tables, references, an unlabelled domain
corpus, and generic out-of-domain records whose values must be copied (the base's pre-training);
:mod:`~memlens.table2text.adapters` hooks bottleneck adapters into a GPT-2 and trains them
alone on that corpus; :mod:`~memlens.table2text.planner` retrieves a prototype sentence by TF-IDF;
:mod:`~memlens.table2text.train` pre-trains, probes (copying, facts), caches and fine-tunes the four
variants on a few labelled pairs;
:mod:`~memlens.table2text.metrics` scores them (BLEU-4, slot coverage).
"""
