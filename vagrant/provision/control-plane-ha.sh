#!/usr/bin/env bash
# One of the control planes of the 3-control-plane layout (KNET_CONTROL_PLANES=3): an etcd
# member (peer and client TLS, certificates made on the host by the Vagrantfile's trigger into
# vagrant/pki), an API server on that member, a leader-elected controller manager and
# scheduler, and haproxy on 0.0.0.0:API_PORT in front of every API server (each VM has its own,
# so the agents and the controllers reach a live API server through 127.0.0.1 whichever VM is
# down). The command lines and haproxy.cfg come from knet.cluster.ha_provision, the code
# `knet cluster up --control-planes 3` uses.
# Usage: control-plane-ha.sh NODE_NAME NODE_IP MEMBERS API_PORT APISERVER_PORT CLUSTER_CIDR
#          SERVICE_CIDR WAIT   (MEMBERS: name=ip,name=ip,...; WAIT: yes on the last VM)
set -euo pipefail

if [ "$#" -ne 8 ]; then
  echo "usage: $0 NODE_NAME NODE_IP MEMBERS API_PORT APISERVER_PORT CLUSTER_CIDR SERVICE_CIDR WAIT" >&2
  exit 2
fi
node_name=$1
node_ip=$2
IFS=, read -r -a members <<< "$3"
api_port=$4
apiserver_port=$5
cluster_cidr=$6
service_cidr=$7
wait_ready=$8
python=/opt/knet/venv/bin/python
pki_src=/opt/knet/src/vagrant/pki
pki=/etc/knet/pki

export DEBIAN_FRONTEND=noninteractive
apt-get install -y -q --no-install-recommends etcd-server etcd-client haproxy
# Debian's own etcd unit would start a one-member etcd on the default ports: ours replaces it.
systemctl disable --now etcd.service || true

for f in etcd-ca.crt "${node_name}.crt" "${node_name}.key" apiserver-etcd-client.crt \
  apiserver-etcd-client.key; do
  if [ ! -f "${pki_src}/${f}" ]; then
    echo "missing ${pki_src}/${f}: the Vagrantfile's trigger makes it (needs the checkout's .venv)" >&2
    exit 1
  fi
done
install -d -m 0700 "$pki"
install -m 0644 "${pki_src}/etcd-ca.crt" "${pki_src}/${node_name}.crt" \
  "${pki_src}/apiserver-etcd-client.crt" "$pki/"
install -m 0600 "${pki_src}/${node_name}.key" "${pki_src}/apiserver-etcd-client.key" "$pki/"

etcd_argv=$("$python" -m knet.cluster.ha_provision etcd-argv --pki-dir "$pki" \
  --data-dir /var/lib/knet/etcd --name "$node_name" --token knet-vagrant "${members[@]}")

backends=()
for m in "${members[@]}"; do
  backends+=("${m%%=*}=${m#*=}:${apiserver_port}")
done
"$python" -m knet.cluster.ha_provision haproxy-config --bind "0.0.0.0:${api_port}" \
  "${backends[@]}" > /etc/haproxy/haproxy.cfg
haproxy -c -q -f /etc/haproxy/haproxy.cfg

"$python" - /etc/knet/kubeconfig-controllers "http://127.0.0.1:${api_port}" <<'PY'
import sys
from pathlib import Path

from knet import kubeconfig

kubeconfig.write(Path(sys.argv[1]), sys.argv[2])
PY

unit() {  # unit NAME DESCRIPTION EXEC
  cat > "/etc/systemd/system/$1.service" <<UNIT
[Unit]
Description=$2
Wants=network-online.target
After=network-online.target

[Service]
ExecStart=$3
Environment=PYTHONUNBUFFERED=1
Restart=always
RestartSec=2

[Install]
WantedBy=multi-user.target
UNIT
}

controllers="--kubeconfig /etc/knet/kubeconfig-controllers --leader-elect --leader-elect-identity ${node_name}"
unit knet-etcd "etcd member ${node_name}" "$etcd_argv"
unit knet-apiserver "knet API server on etcd member ${node_name}" \
  "${python} -m knet.cli apiserver --bind-address ${node_ip} --port ${apiserver_port} --data-dir /var/lib/knet/apiserver --etcd-servers https://${node_ip}:2379 --etcd-cafile ${pki}/etcd-ca.crt --etcd-certfile ${pki}/apiserver-etcd-client.crt --etcd-keyfile ${pki}/apiserver-etcd-client.key --service-cluster-ip-range ${service_cidr}"
unit knet-controller-manager "knet controller manager (leader-elected)" \
  "${python} -m knet.cli controller-manager ${controllers} --cluster-cidr ${cluster_cidr}"
unit knet-scheduler "knet scheduler (leader-elected)" "${python} -m knet.cli scheduler ${controllers}"

systemctl daemon-reload
for u in knet-etcd knet-apiserver knet-controller-manager knet-scheduler haproxy; do
  systemctl enable "${u}.service"
  systemctl restart "${u}.service"
done

# etcd has a quorum only once a majority of members runs: the first VMs cannot wait for it.
if [ "$wait_ready" != "yes" ]; then
  echo "control plane ${node_name} started; the cluster is ready once enough members run"
  exit 0
fi
for _ in $(seq 1 120); do
  if curl -fsS "http://127.0.0.1:${api_port}/readyz" > /dev/null; then
    echo "knet HA control plane is ready (haproxy on every control plane, port ${api_port})"
    exit 0
  fi
  sleep 1
done
echo "the HA control plane did not become ready; see: journalctl -u knet-etcd -u knet-apiserver" >&2
exit 1
