"""The audit layer: explain a decision, trace a trade, count events, verify the hash chain."""

from claire.audit.explain import Explanation, explain_event
from claire.audit.trace import Trace, trace_correlation

__all__ = ["Explanation", "Trace", "explain_event", "trace_correlation"]
