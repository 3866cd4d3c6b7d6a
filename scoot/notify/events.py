"""Which notification events a run produces, given what the job did before (pure)."""

from __future__ import annotations

from scoot.shared.value_class import value_class

EVENTS = ("failure", "recovery", "success", "change", "start", "missed", "paused")
DEFAULT_NOTIFY_ON = ("failure", "recovery")


@value_class
class JobMemory:
    """What the job's earlier runs leave behind for these rules."""

    last_status: str | None = None  # the status of its last ended run
    last_ok_digest: str | None = None  # a digest of its last ok answer


def answer_digest(answer: str | None) -> str:
    import hashlib  # here: OpenSSL's libcrypto is loaded only when a run has ended

    return hashlib.sha256((answer or "").encode("utf-8", "surrogatepass")).hexdigest()


def end_events(status: str, answer: str | None, memory: JobMemory) -> list[str]:
    """The events of a run that ended with `status`, in the order they are sent."""
    if status != "ok":
        return ["failure"]
    found = []
    if memory.last_status is not None and memory.last_status != "ok":
        found.append("recovery")
    found.append("success")
    if memory.last_ok_digest != answer_digest(answer):
        found.append("change")  # a job's first ok is a change too
    return found


def remember(memory: JobMemory, status: str, answer: str | None) -> JobMemory:
    """The memory after a run ended with `status`."""
    digest = answer_digest(answer) if status == "ok" else memory.last_ok_digest
    return JobMemory(last_status=status, last_ok_digest=digest)


def wanted(events: list[str], notify_on: tuple[str, ...]) -> list[str]:
    return [event for event in events if event in notify_on]
