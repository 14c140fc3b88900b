"""Camera streams and their one owner: every camera source is opened here (:mod:`.sources`) and shared
by its consumers through the :class:`~gateway.streams.hub.StreamHub`."""
