"""The sandbox's HTTP routes, one module per family of Graph API endpoints plus its own control routes."""
