#!/usr/bin/env bash
# Every VM is a node: the same bootstrap the local cluster runs for each node namespace
# (`knet node bootstrap`: sysctls, loopback, pod bridge), here on the VM's own namespace, and
# systemd units for kubelet-lite, kproxy and knet hostgw with the same flags.
# Usage: node.sh NODE_NAME NODE_IP POD_CIDR CLUSTER_CIDR API_URL
set -euo pipefail

if [ "$#" -ne 5 ]; then
  echo "usage: $0 NODE_NAME NODE_IP POD_CIDR CLUSTER_CIDR API_URL" >&2
  exit 2
fi
node_name=$1
node_ip=$2
pod_cidr=$3
cluster_cidr=$4
api_url=$5
python=/opt/knet/venv/bin/python

"$python" - /etc/knet/kubeconfig "$api_url" <<'PY'
import sys
from pathlib import Path

from knet import kubeconfig

kubeconfig.write(Path(sys.argv[1]), sys.argv[2])
PY

"$python" -m knet.cli node bootstrap --root-netns \
  --node-name "$node_name" \
  --node-ip "$node_ip" \
  --pod-cidr "$pod_cidr" \
  --cluster-cidr "$cluster_cidr" \
  --kubeconfig /etc/knet/kubeconfig \
  --root-dir /var/lib/knet/kubelet \
  --python "$python" \
  --write-units /etc/systemd/system

# The node's sysctls (ip_forward, bridge-nf-call-iptables), loopback and pod bridge live in the
# kernel and are gone after a reboot: the same bootstrap runs again at every boot, before the
# agents. (systemd-sysctl cannot be relied on: it skips read-only /proc/sys, as in containers.)
cat > /etc/systemd/system/knet-node.service <<UNIT
[Unit]
Description=knet node set-up (sysctls, loopback, pod bridge) for ${node_name}
Wants=network-online.target
After=network-online.target
Before=kubelet-lite.service kproxy.service knet-hostgw.service

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=${python} -m knet.cli node bootstrap --root-netns --node-name ${node_name} --node-ip ${node_ip} --pod-cidr ${pod_cidr} --cluster-cidr ${cluster_cidr} --kubeconfig /etc/knet/kubeconfig --root-dir /var/lib/knet/kubelet --python ${python}

[Install]
WantedBy=multi-user.target
UNIT

systemctl daemon-reload
systemctl enable knet-node.service
for unit in knet-hostgw kubelet-lite kproxy; do
  if [ -f "/etc/systemd/system/${unit}.service" ]; then
    systemctl enable "${unit}.service"
    systemctl restart "${unit}.service"
  fi
done
echo "node ${node_name} (${node_ip}, pods ${pod_cidr}) is running its agents"
