#!/usr/bin/env bash
# Produces fixtures/tcp-md5/ipv6-md5*.pcap: one TCP-MD5 protected IPv6 connection between two
# network namespaces, key "anycast-lab-key".
#
#   h1-a [2001:db8:6::1] veth h1-va ----- veth h1-vb [2001:db8:6::2] h1-b (listens :179)
#
# Captures: ipv6-md5.pcap (Ethernet, on h1-vb), ipv6-md5-any.pcap (tcpdump -i any = SLL2),
# ipv6-md5-sll.pcap (-i any -y LINUX_SLL), ipv6-md5-snap100.pcap (snaplen 100: SYN headers and BGP data cut; those are not verifiable).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/../../fixtures/tcp-md5}
key=anycast-lab-key
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    ip netns del h1-a 2>/dev/null || true
    ip netns del h1-b 2>/dev/null || true
}
trap cleanup EXIT
cleanup
ip netns add h1-a
ip netns add h1-b
ip link add h1-va netns h1-a type veth peer name h1-vb netns h1-b
ip -n h1-a addr add 2001:db8:6::1/64 dev h1-va nodad
ip -n h1-b addr add 2001:db8:6::2/64 dev h1-vb nodad
ip -n h1-a link set h1-va up; ip -n h1-a link set lo up
ip -n h1-b link set h1-vb up; ip -n h1-b link set lo up
ip netns exec h1-b timeout 20 tcpdump -q -U -s 0 -i h1-vb -w "$out/ipv6-md5.pcap" 'tcp port 179' & pids+=($!)
ip netns exec h1-b timeout 20 tcpdump -q -U -s 0 -i any -w "$out/ipv6-md5-any.pcap" 'tcp port 179' & pids+=($!)
ip netns exec h1-b timeout 20 tcpdump -q -U -s 0 -i any -y LINUX_SLL -w "$out/ipv6-md5-sll.pcap" 'tcp port 179' & pids+=($!)
ip netns exec h1-b timeout 20 tcpdump -q -U -s 100 -i h1-vb -w "$out/ipv6-md5-snap100.pcap" 'tcp port 179' & pids+=($!)
sleep 2
ip netns exec h1-b timeout 15 python3 "$here/md5peer.py" server 2001:db8:6::2 2001:db8:6::1 "$key" & srv=$!
sleep 1
ip netns exec h1-a timeout 15 python3 "$here/md5peer.py" client 2001:db8:6::1 2001:db8:6::2 "$key"
wait "$srv"
sleep 1
for p in "${pids[@]}"; do kill -INT "$p" 2>/dev/null || true; done
wait "${pids[@]}" 2>/dev/null || true
pids=()
for f in ipv6-md5 ipv6-md5-any ipv6-md5-sll ipv6-md5-snap100; do
    echo "== $f"; tcpdump -nn -v -M "$key" -r "$out/$f.pcap" 2>/dev/null | grep -o 'md5[^,]*' | sort | uniq -c
done
# pcapng copy (tcpdump writes only classic pcap) for the pcapng reader.
editcap -F pcapng "$out/ipv6-md5.pcap" "$out/ipv6-md5.pcapng"
chown "$(id -u):$(id -g)" "$out"/ipv6-md5*
