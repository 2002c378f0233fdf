"""Delivery state: intents, send results and status webhooks merged into one monotonic state per delivery."""
