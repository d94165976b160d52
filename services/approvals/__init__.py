"""Human-in-the-loop approvals: requested by runs, decided once by a person."""

from services.approvals.manager import EXPIRED_MESSAGE, Decision, HITLManager

__all__ = ["EXPIRED_MESSAGE", "Decision", "HITLManager"]
