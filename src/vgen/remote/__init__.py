"""RunPod Serverless: the light client a web app imports, and the worker (job, fetch, upload, handler)."""
