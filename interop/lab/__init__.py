"""anycastd's interop lab library: network-namespace topologies, processes tracked by PID,
bounded waits over Python callables, captures and kernel readers, and one driver class per
daemon (BIRD, FRR, GoBGP — sharing one Router interface — keepalived, ExaBGP, anycastd).
The pytest suite (interop/tests), the demo and the benchmarks are built on it; `python3 -m
lab` is its command line. See interop/README.md.
"""
