"""openBIS (V3 JSON-RPC): ``rpc`` (the session, calls to the AS and the DSS, errors),
``payloads`` (the DTOs sent, fetch options, criteria) and ``catalogue`` (``OpenBISCatalogue``:
where data belongs, dataset types and properties, linked and physical datasets)."""
