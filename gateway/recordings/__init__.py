"""Recordings: where each camera's recordings live, what they cover (the recording audit), and (to come,
issue 21) replaying them for the city platform and the pages."""
