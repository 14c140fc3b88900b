"""Optional person and behaviour detection: frame sampling, motion gate, detector, tracker, rules, events."""
