"""The Flask side's import path, `from vgen.client import RunPodClient, Storage, build_job`: kept
stable for applications; the code lives in `vgen.remote.client`."""

from vgen.remote.client import DEFAULT_API, FINAL, ClientError, RunPodClient, Storage, build_job

__all__ = ["DEFAULT_API", "FINAL", "ClientError", "RunPodClient", "Storage", "build_job"]
