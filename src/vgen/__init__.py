"""vgen: narrated slideshows (images, clips, music, captions) rendered to long MP4s in checkpointed segments."""

__version__ = "0.1.0"
