"""The RunPod Serverless side of vgen: job input, safe asset download, render, upload, handler."""
