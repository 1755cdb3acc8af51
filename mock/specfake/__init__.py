"""specfake: an offline, contract-true fake of LLM-ops APIs, driven by OpenAPI documents."""

from specfake.app import SpecfakeApp, create_app
from specfake.contract import Contract, ContractError, load_contract

__all__ = ["Contract", "ContractError", "SpecfakeApp", "create_app", "load_contract"]
__version__ = "0.1.0"
