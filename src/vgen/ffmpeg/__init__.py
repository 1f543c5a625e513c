"""Everything that speaks FFmpeg: the binary and its capabilities, probing, MP4 boxes, filter graphs,
encoder options, the audio mix, captions (ASS) and the exact command lines. Nothing here starts a
render; probing and capability checks are the only FFmpeg runs."""
