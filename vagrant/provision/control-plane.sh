#!/usr/bin/env bash
# The control plane VM: `knet server` (API server, controller-manager, scheduler) as a systemd
# unit, listening on the private network so that every node's agents and the host's kubectl
# reach it, and pods through the kubernetes Service (--advertise-address); then the kube-dns
# add-on. Usage: control-plane.sh API_IP API_PORT CLUSTER_CIDR SERVICE_CIDR
set -euo pipefail

if [ "$#" -ne 4 ]; then
  echo "usage: $0 API_IP API_PORT CLUSTER_CIDR SERVICE_CIDR" >&2
  exit 2
fi
api_ip=$1
api_port=$2
cluster_cidr=$3
service_cidr=$4

cat > /etc/systemd/system/knet-server.service <<UNIT
[Unit]
Description=knet control plane (API server, controller-manager, scheduler)
Wants=network-online.target
After=network-online.target

[Service]
ExecStart=/opt/knet/venv/bin/python -m knet.cli server --bind-address 0.0.0.0 --port ${api_port} --data-dir /var/lib/knet/apiserver --service-cluster-ip-range ${service_cidr} --cluster-cidr ${cluster_cidr} --advertise-address ${api_ip}
Environment=PYTHONUNBUFFERED=1
Restart=always
RestartSec=2

[Install]
WantedBy=multi-user.target
UNIT

systemctl daemon-reload
systemctl enable knet-server.service
systemctl restart knet-server.service

for _ in $(seq 1 60); do
  if curl -fsS "http://${api_ip}:${api_port}/readyz" > /dev/null; then
    echo "knet control plane is ready on http://${api_ip}:${api_port}"
    # The kube-dns add-on (its pods start once the nodes have joined).
    /opt/knet/venv/bin/python -m knet.cluster.addons --server "http://${api_ip}:${api_port}" \
      --service-cluster-ip-range "${service_cidr}"
    exit 0
  fi
  sleep 1
done
echo "knet control plane did not become ready; see: journalctl -u knet-server" >&2
exit 1
