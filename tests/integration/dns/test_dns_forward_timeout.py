"""An upstream that never answers, or answers another question: SERVFAIL within 2 s."""

from __future__ import annotations

import time
from pathlib import Path

import dns.message
import dns.query
import dns.rcode
from dns_process import Upstream, running_dns

from knet.testing.apiserver import ApiServerProcess


def test_silent_upstream_gives_servfail_within_two_seconds(
    api: ApiServerProcess, dns_workdir: Path
) -> None:
    with (
        Upstream(silent=True) as silent,
        running_dns(api.kubeconfig, silent.address, dns_workdir) as server,
    ):
        q = dns.message.make_query("slow.example.test", "A")
        start = time.monotonic()
        resp = dns.query.udp(q, "127.0.0.1", port=server.dns_port, timeout=5)
        took = time.monotonic() - start
        assert resp.rcode() == dns.rcode.SERVFAIL
        assert took < 2.0
        assert silent.queries == ["slow.example.test."]
        # The cluster zone does not wait for the upstream.
        local = dns.query.udp(
            dns.message.make_query("dns-version.cluster.local", "TXT"),
            "127.0.0.1",
            port=server.dns_port,
            timeout=2,
        )
        assert local.answer[0][0].to_text() == '"1.1.0"'


def test_no_forward_answers_other_zones_servfail_at_once(
    api: ApiServerProcess, dns_workdir: Path
) -> None:
    with (
        Upstream(silent=True) as silent,
        running_dns(api.kubeconfig, silent.address, dns_workdir, "--no-forward") as server,
    ):
        q = dns.message.make_query("elsewhere.example.test", "A")
        start = time.monotonic()
        resp = dns.query.udp(q, "127.0.0.1", port=server.dns_port, timeout=5)
        assert resp.rcode() == dns.rcode.SERVFAIL
        assert time.monotonic() - start < 0.5  # not the 1.5 s forwarding deadline
        assert silent.queries == []


def test_an_answer_to_another_question_is_not_taken(
    api: ApiServerProcess, dns_workdir: Path
) -> None:
    with (
        Upstream(liar=True) as liar,
        running_dns(api.kubeconfig, liar.address, dns_workdir) as server,
    ):
        start = time.monotonic()
        resp = dns.query.udp(
            dns.message.make_query("asked.example.test", "A"),
            "127.0.0.1",
            port=server.dns_port,
            timeout=5,
        )
        assert resp.rcode() == dns.rcode.SERVFAIL and resp.answer == []
        assert time.monotonic() - start < 2.0
        assert liar.queries == ["asked.example.test."]
