"""The Great Expectations gate between `dbt build` and the incident outputs."""

from cometrecon.validation.gate import ExpectationFailure, GateResult, run_gate

__all__ = ["ExpectationFailure", "GateResult", "run_gate"]
