"""The API server's authentication and authorization chain (kube-apiserver's filters):
authenticate (x509 client certificates, ServiceAccount tokens, anonymous), impersonate,
authorize (RBAC), audit. `middleware.py` wires it into the app; the rest is pure or nearly so.
"""
