"""Released results in the forms health agencies take: FHIR R4 and HL7 v2.5.1, signed webhooks.

Pure builders over the read model in :mod:`api.interop.schemas`; no routes, tables or
sessions here. The release flow wires them in.
"""
