"""The WebSocket gateway: the sans-IO protocol (``protocol``) and its trio server."""
