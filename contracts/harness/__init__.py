"""The contract-checking harness: check any server or client against an OpenAPI contract.

``specfake check server`` drives schemathesis (plus SSE and state invariants) at a base URL;
``specfake check client`` runs a command against the fake, or proxies a real server, and reports
every request or response that breaks the contract.
"""

from specfake.contracts.harness.findings import Exchange, Finding, Report, to_curl

__all__ = ["Exchange", "Finding", "Report", "to_curl"]
