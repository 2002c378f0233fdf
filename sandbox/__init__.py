"""A simulated WhatsApp Business Cloud API (Graph API) that behaves like Meta's.

It exists so the pipeline, its tests and its benchmarks meet the same limits, errors, pacing and
out-of-order, duplicated, signed webhooks that production meets, without a Meta account. A real
deployment points the client at Meta's Graph API instead; nothing in dawn knows the difference.

Start it with ``dawn sandbox`` or in-process with :class:`sandbox.server.SandboxServer`; configure it
with :class:`sandbox.config.SandboxConfig` (see that module for every field and ``sample_config.json``
for a complete file).
"""
