"""Camera health: current state per camera, measured stream figures, and their history."""
