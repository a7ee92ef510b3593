"""The kubelet's volumes made from API objects: ConfigMaps, Secrets, the downward API and
projections of them, written into the pod's directory the way the kubelet writes them."""
