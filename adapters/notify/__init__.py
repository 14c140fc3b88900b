"""Notifications people read: group bots (WeCom, DingTalk, Feishu) and e-mail by SMTP.

Each module is a library of its own: `bots` (message formats, signing, what an answer means),
`botsender` (the HTTP POST, on httpx), `ratelimit` (holding back to a bot's rate), `mail` (building
and sending mail with the standard library). Nothing is imported here.
"""
