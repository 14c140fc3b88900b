"""Signed webhooks. The sender (adapters.webhook.sender) needs httpx; the receivers' verification helper
(adapters.webhook.signing) needs only the standard library, so nothing is imported here.
"""
