"""kproxy: watches Services and EndpointSlices and programs the node's packet path."""
