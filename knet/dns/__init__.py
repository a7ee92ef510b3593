"""`knet dns`: the cluster DNS server, answering as CoreDNS's `kubernetes` plugin does.

Wire format: dnspython. It is the maintained, complete Python DNS library (EDNS, name
compression, every record type, truncation-aware rendering), and the tests query with its
resolver, so one library defines both ends. dnslib was the other choice; it is smaller but less
strict when parsing, which matters for a server that must answer garbage with FORMERR.

Modules: `records` (the index built from Services/EndpointSlices), `answer` (spec rules),
`fastpath` (common queries from bytes), `server` (UDP/TCP), `forward`, `cache`, `metrics`,
`health`, `watch` (informers → index), `cli`.
"""
