"""The Great Expectations gate between `dbt build` and the incident outputs."""

from cometrecon.validation.gate import ExpectationFailure, GateResult, reusable_gate, run_gate

__all__ = ["ExpectationFailure", "GateResult", "reusable_gate", "run_gate"]
