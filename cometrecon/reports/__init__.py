"""Incident outputs: reconciliation record, support packet, closure checklist and report."""

from cometrecon.reports.writer import write_all_incidents, write_incident_outputs

__all__ = ["write_all_incidents", "write_incident_outputs"]
