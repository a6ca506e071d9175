"""The real-model wing: capture K/V activations from a model, evaluate a config by perplexity, compare settings, tune a config."""
