"""kube-proxy's iptables rules as data: names, the pure renderer, parsing and a packet tracer."""
