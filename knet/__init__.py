"""knet: Kubernetes node networking and kube-proxy, built for real on Linux."""

__version__ = "0.1.0"
