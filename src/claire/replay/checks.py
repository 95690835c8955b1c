"""A validation check's result, and the decision check's, over the parts of a range.

The decision check passes when every part that was re-executed made exactly its recorded
decisions. Parts whose code version no registered pipeline re-executes are listed, with their
decision counts, and not counted as passed or failed (the report's verdict says "incomplete").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from claire.replay.pipelines import Plan, PreparedPart
from claire.replay.reexecute import ReexecutionResult, combine


@dataclass(slots=True)
class CheckResult:
    key: str  # replay_twice | snapshots | decisions
    title: str
    passed: bool
    summary: str
    details: dict[str, Any] = field(default_factory=dict)

    def to_document(self) -> dict[str, Any]:
        return {
            "check": self.key,
            "title": self.title,
            "passed": self.passed,
            "summary": self.summary,
            "details": self.details,
        }


def decision_check(plan: Plan, results: dict[int, ReexecutionResult]) -> CheckResult:
    """The decision check; `results` holds each re-executed part's, by its first sequence."""
    done = [(p, results[p.part.first]) for p in plan.parts if p.part.first in results]
    first, last = plan.parts[0].part.first, plan.parts[-1].part.last
    total = combine([r for _, r in done]) if done else ReexecutionResult(first, last)
    # The part that diverged first (else the first re-executed) speaks for the whole check.
    focus = next((p for p, r in done if r.first_divergence is not None), None)
    focus = focus or (done[0][0] if done else plan.parts[0])
    details: dict[str, Any] = {
        "pipeline": focus.pipeline_name,
        "code_version": focus.part.code_version,
        "config_source": focus.part.config_source,
        "config_hash": focus.config_hash,
        "inputs": total.inputs,
        "decisions_recorded": total.decisions_recorded,
        "decisions_replayed": total.decisions_replayed,
        "decisions_matched": total.decisions_matched,
        "decisions_diverged": total.decisions_changed,
        "decisions_not_reexecuted": sum(m.decisions for m in plan.missing),
        "blocked_calls": dict(sorted(total.blocked_calls.items())),
        "events_per_second": round(total.events_per_second, 1),
        "parts": [_part_document(p, results.get(p.part.first)) for p in plan.parts],
    }
    title = "Decisions re-executed"
    divergence = total.first_divergence
    if divergence is None:
        summary = (
            f"{total.decisions_matched} of {total.decisions_recorded} recorded decisions "
            f"re-executed identically from {total.inputs} inputs"
        )
        if len(plan.parts) > 1:
            summary += f" ({len(plan.parts)} parts, each with its own recorded configuration)"
        if plan.missing:
            summary += (
                f"; {details['decisions_not_reexecuted']} recorded decision(s) not re-executed "
                "(no pipeline registered for their code version)"
            )
        return CheckResult("decisions", title, True, summary, details)
    details["first_divergence"] = divergence.to_document()
    summary = (
        f"first divergence at sequence {divergence.sequence_number} ({divergence.event_type}, "
        f"{divergence.kind}); {total.decisions_changed} decision(s) differ"
    )
    return CheckResult("decisions", title, False, summary, details)


def _part_document(prepared: PreparedPart, result: ReexecutionResult | None) -> dict[str, Any]:
    if result is None:
        return {
            **prepared.to_document(),
            "decisions_recorded": prepared.part.decisions,
            "deterministic": None,
        }
    divergence = result.first_divergence
    return {
        **prepared.to_document(),
        "inputs": result.inputs,
        "decisions_recorded": result.decisions_recorded,
        "decisions_matched": result.decisions_matched,
        "decisions_diverged": result.decisions_changed,
        "deterministic": divergence is None,
        "first_divergence": divergence.to_document() if divergence is not None else None,
    }


__all__ = ["CheckResult", "decision_check"]
