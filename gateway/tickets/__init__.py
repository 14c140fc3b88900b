"""Hidden-danger tickets: camera faults that last, told to people, followed until repaired."""
