"""WS-Addressing Action URIs of the IHE transactions this project speaks.

IHE ITI TF-2a §3.18 (ITI-18), ITI TF-2b §3.41 (ITI-41), §3.42 (ITI-42), §3.43 (ITI-43), §3.57
(ITI-57, XDS Metadata Update), RAD TF-2 §4.68 (RAD-68 uses the ITI-41 actions).
"""

from __future__ import annotations

ITI18_ACTION = "urn:ihe:iti:2007:RegistryStoredQuery"
ITI18_RESPONSE_ACTION = "urn:ihe:iti:2007:RegistryStoredQueryResponse"
ITI41_ACTION = "urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-b"
ITI41_RESPONSE_ACTION = "urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-bResponse"
ITI42_ACTION = "urn:ihe:iti:2007:RegisterDocumentSet-b"
ITI42_RESPONSE_ACTION = "urn:ihe:iti:2007:RegisterDocumentSet-bResponse"
ITI43_ACTION = "urn:ihe:iti:2007:RetrieveDocumentSet"
ITI43_RESPONSE_ACTION = "urn:ihe:iti:2007:RetrieveDocumentSetResponse"
ITI57_ACTION = "urn:ihe:iti:2010:UpdateDocumentSet"
ITI57_RESPONSE_ACTION = "urn:ihe:iti:2010:UpdateDocumentSetResponse"
RAD68_ACTION = ITI41_ACTION
RAD68_RESPONSE_ACTION = ITI41_RESPONSE_ACTION

# request action -> response action (IHE ITI TF-2x Appendix V: a response carries its own action)
RESPONSE_ACTIONS: dict[str, str] = {
    ITI18_ACTION: ITI18_RESPONSE_ACTION,
    ITI41_ACTION: ITI41_RESPONSE_ACTION,
    ITI42_ACTION: ITI42_RESPONSE_ACTION,
    ITI43_ACTION: ITI43_RESPONSE_ACTION,
    ITI57_ACTION: ITI57_RESPONSE_ACTION,
}


def response_action(request_action: str) -> str:
    """The response Action for a request Action (KeyError for an unknown one)."""
    return RESPONSE_ACTIONS[request_action]
