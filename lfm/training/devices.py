"""Which devices this machine can train on, and which one a `device` setting ("auto", "cpu", ...) means."""

import torch


def available_devices() -> list[str]:
    """The devices present on this machine, cpu first."""
    devices = ["cpu"]
    if torch.backends.mps.is_available():
        devices.append("mps")
    if torch.cuda.is_available():
        devices.append("cuda")
    return devices


def resolve_device(device: str = "auto") -> torch.device:
    """'auto' picks cuda, then mps, then cpu; a named device that is absent is an error, not a fallback."""
    available = available_devices()
    if device == "auto":
        for preferred in ("cuda", "mps"):
            if preferred in available:
                return torch.device(preferred)
        return torch.device("cpu")
    if device not in available:
        raise ValueError(f"device = {device!r} is not available here: allowed {', '.join(['auto', *available])}")
    return torch.device(device)
