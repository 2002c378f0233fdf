"""Inbound side of the Cloud API: signature checks (``signature``), notification parsing
(``model``, with the ``messages`` and ``account`` fields' readers) into the typed items of
``events``. Import from those modules."""
