"""Where side effects live: child processes, one FFmpeg run with its watchdog, the segment store,
progress events and the render that ties them together."""
