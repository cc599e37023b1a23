"""The benchmarks behind interop/bench-*.sh, over the same drivers as the scenarios; their
short forms are the flood-short and flap-short scenarios of the pytest suite."""
