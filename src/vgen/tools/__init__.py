"""Commands beside render: one frame, comparing two videos, doctor, the starter spec, sample media."""
