"""Who is on call: rotations and layers, overrides and changes, shift handoffs, on-call hours."""
