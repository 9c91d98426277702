"""What the test tiers share: vendor fakes, recording ports, the one `World`, paths."""
