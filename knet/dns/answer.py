"""A question → a response, by the rules of the Kubernetes DNS spec 1.1.0 (pure: no I/O).

`answer()` returns the response for names of the cluster zone and for reverse names the index
knows, and None for everything else (the caller forwards those upstream, as CoreDNS's
`fallthrough` + `forward .` do). Within the zone:
- a name with records of the asked type → NOERROR with them;
- a name that exists (records of other types, or an empty non-terminal such as `svc.<zone>`
  or `<ns>.svc.<zone>`) → NOERROR/NODATA, the zone's SOA in the authority section;
- any other name → NXDOMAIN with the SOA. No wildcards (deprecated in the spec).
"""

from __future__ import annotations

import functools
import ipaddress

import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from knet.dns.records import RecordIndex, RecordSet

TTL = 5  # CoreDNS's kubernetes plugin default
SCHEMA_VERSION = "1.1.0"
# SOA timers as CoreDNS's kubernetes plugin sends them; the minimum is the record TTL.
SOA_REFRESH, SOA_RETRY, SOA_EXPIRE = 7200, 1800, 86400
OUR_PAYLOAD = 1232  # the EDNS payload we advertise (the DNS flag day 2020 figure)

A, AAAA, CNAME, SRV, PTR, TXT, SOA, NS = (
    dns.rdatatype.A,
    dns.rdatatype.AAAA,
    dns.rdatatype.CNAME,
    dns.rdatatype.SRV,
    dns.rdatatype.PTR,
    dns.rdatatype.TXT,
    dns.rdatatype.SOA,
    dns.rdatatype.NS,
)
IN = dns.rdataclass.IN
REVERSE_ZONES = ("in-addr.arpa", "ip6.arpa")


def error_response(query: dns.message.Message, rcode: dns.rcode.Rcode) -> dns.message.Message:
    resp = dns.message.make_response(query, our_payload=OUR_PAYLOAD)
    resp.set_rcode(rcode)
    return resp


def classify(query: dns.message.Message) -> dns.rcode.Rcode | None:
    """The error to answer for a query we will not look up, or None if it is a fine query."""
    if query.opcode() != dns.opcode.QUERY:
        return dns.rcode.NOTIMP
    if len(query.question) != 1 or query.flags & dns.flags.QR:
        return dns.rcode.FORMERR
    q = query.question[0]
    if q.rdclass != IN:
        return dns.rcode.NOTIMP
    if q.rdtype in (dns.rdatatype.AXFR, dns.rdatatype.IXFR):
        return dns.rcode.NOTIMP  # no zone transfers
    return None


def qname_key(name: dns.name.Name) -> str:
    return name.to_text(omit_final_dot=True).lower()


def in_zone(key: str, zone: str) -> bool:
    return key == zone or key.endswith("." + zone)


def answer(index: RecordIndex, query: dns.message.Message) -> dns.message.Message | None:
    """The response to a well-formed query (see `classify`), or None to forward it."""
    q = query.question[0]
    key = qname_key(q.name)
    zone = index.zone
    if not in_zone(key, zone):
        if key.endswith(REVERSE_ZONES) and q.rdtype == PTR:
            records = index.lookup(key)
            if records is not None and records.ptr:
                return _positive(query, records)
        return None
    resp = dns.message.make_response(query, our_payload=OUR_PAYLOAD)
    resp.flags |= dns.flags.AA
    found = _zone_records(index, key, q.rdtype, q.name)
    if found is None:
        resp.set_rcode(dns.rcode.NXDOMAIN)
        resp.authority.append(soa_rrset(index))
        return resp
    resp.answer.extend(found[0])
    resp.additional.extend(found[1])
    if not found[0]:
        resp.authority.append(soa_rrset(index))
    return resp


Found = tuple[list[dns.rrset.RRset], list[dns.rrset.RRset]]  # (answer, additional)


def _zone_records(
    index: RecordIndex, key: str, rdtype: dns.rdatatype.RdataType, qname: dns.name.Name
) -> Found | None:
    """Records of `qname` of `rdtype` (possibly none: NODATA), or None if it does not exist."""
    zone = index.zone
    if key == zone:
        return ([soa_rrset(index, qname)] if rdtype == SOA else []), []
    if key == f"dns-version.{zone}":
        rrs = [_rrset(qname, TXT, f'"{SCHEMA_VERSION}"')] if rdtype == TXT else []
        return rrs, []
    rel = key[: -len(zone) - 1].split(".")
    if rel[-1] == "pod":
        return _pod_records(rel, rdtype, qname)
    records = index.lookup(key)
    if records is not None:
        return _records_of(records, rdtype, qname)
    return ([], []) if name_exists(index, key) else None


def name_exists(index: RecordIndex, key: str) -> bool:
    """Whether a name of the zone exists (with records or as an empty non-terminal)."""
    zone = index.zone
    if key in (zone, f"dns-version.{zone}", f"svc.{zone}"):
        return True
    rel = key[: -len(zone) - 1].split(".")
    if rel[-1] == "pod":
        return len(rel) < 3 or (len(rel) == 3 and pod_ip(rel[0]) is not None)
    if index.is_node(key):
        return True
    return len(rel) == 2 and rel[1] == "svc" and index.namespace_exists(rel[0])


def _pod_records(
    rel: list[str], rdtype: dns.rdatatype.RdataType, qname: dns.name.Name
) -> Found | None:
    """`<a-b-c-d>.<ns>.pod.<zone>`: answered for any well-formed address, as CoreDNS's
    `pods insecure` (the Corefile kubeadm writes) does, without looking the pod up."""
    if len(rel) < 3:
        return [], []  # pod.<zone> and <ns>.pod.<zone> are empty non-terminals
    if len(rel) != 3:
        return None
    ip = pod_ip(rel[0])
    if ip is None:
        return None
    want = A if ip.version == 4 else AAAA
    return ([_rrset(qname, want, str(ip))] if rdtype == want else []), []


def pod_ip(label: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """`10-0-0-1` → 10.0.0.1, `fd00--1` → fd00::1; None if the label is no dashed address."""
    parts = label.split("-")
    text = (
        ".".join(parts) if len(parts) == 4 and all(p.isdigit() for p in parts) else ":".join(parts)
    )
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _records_of(records: RecordSet, rdtype: dns.rdatatype.RdataType, qname: dns.name.Name) -> Found:
    if records.cname is not None:
        # An ExternalName: the CNAME answers every type; the client's resolver chases it.
        return [_rrset(qname, CNAME, records.cname + ".")], []
    if rdtype == A and records.a:
        return [_rrset(qname, A, *records.a)], []
    if rdtype == AAAA and records.aaaa:
        return [_rrset(qname, AAAA, *records.aaaa)], []
    if rdtype == PTR and records.ptr:
        return [_rrset(qname, PTR, *(p + "." for p in records.ptr))], []
    if rdtype == SRV and records.srv:
        srvs = [f"{s.priority} {s.weight} {s.port} {s.target}." for s in records.srv]
        extra: dict[tuple[str, dns.rdatatype.RdataType], list[str]] = {}
        for target, ip in records.extra:
            addrs = extra.setdefault((target, AAAA if ":" in ip else A), [])
            if ip not in addrs:
                addrs.append(ip)
        additional = [_rrset(dns.name.from_text(t), typ, *ips) for (t, typ), ips in extra.items()]
        return [_rrset(qname, SRV, *srvs)], additional
    return [], []


def _positive(query: dns.message.Message, records: RecordSet) -> dns.message.Message:
    resp = dns.message.make_response(query, our_payload=OUR_PAYLOAD)
    resp.flags |= dns.flags.AA
    q = query.question[0]
    resp.answer.extend(_records_of(records, q.rdtype, q.name)[0])
    return resp


def _rrset(name: dns.name.Name, rdtype: dns.rdatatype.RdataType, *texts: str) -> dns.rrset.RRset:
    return dns.rrset.from_rdata_list(name, TTL, _rdatas(rdtype, texts))


@functools.lru_cache(maxsize=20_000)
def _rdatas(rdtype: dns.rdatatype.RdataType, texts: tuple[str, ...]) -> tuple[dns.rdata.Rdata, ...]:
    # Parsing rdata text is most of the cost of an answer; the same records recur.
    return tuple(dns.rdata.from_text(IN, rdtype, text) for text in texts)


def soa_rrset(index: RecordIndex, owner: dns.name.Name | None = None) -> dns.rrset.RRset:
    zone = index.zone
    text = (
        f"ns.dns.{zone}. hostmaster.{zone}. {index.serial} "
        f"{SOA_REFRESH} {SOA_RETRY} {SOA_EXPIRE} {TTL}"
    )
    return _rrset(owner or dns.name.from_text(zone), SOA, text)
