#!/usr/bin/env bash
# Every VM: the system packages knet's components run with, br_netfilter, and knet itself in a
# virtualenv at /opt/knet/venv (installed from the checkout synced to /opt/knet/src).
set -euo pipefail

export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# gcc, libc6-dev and python3-dev: python-iptables is published as source only, with a small C
# extension that pip must compile.
apt-get install -y -q --no-install-recommends \
  python3 python3-venv python3-pip iptables iproute2 util-linux conntrack curl ca-certificates \
  gcc libc6-dev python3-dev

# kube-proxy's rules must see bridged pod-to-pod traffic; load the module now and at boot.
# Where it is loaded already (or the kernel is the host's: `knet machines` runs this script in
# a chroot while building the machines' root filesystem) there is nothing to load.
if [ ! -d /proc/sys/net/bridge ]; then
  modprobe br_netfilter
fi
echo br_netfilter > /etc/modules-load.d/knet.conf

if [ ! -x /opt/knet/venv/bin/python ]; then
  python3 -m venv /opt/knet/venv
fi
/opt/knet/venv/bin/pip install -q --upgrade pip
/opt/knet/venv/bin/pip install -q /opt/knet/src
install -d -m 0755 /etc/knet /var/lib/knet
