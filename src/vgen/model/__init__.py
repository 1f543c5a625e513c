"""The pure stages: the spec as written, media facts, the frame-exact timeline, Ken Burns geometry, the plan."""
