"""The compositor: the raw-frame source (a pure description of a segment's frames, what dry-run
prints) and the drawing that turns it into yuv420p frames (canvas readers, threads, the pipe)."""
