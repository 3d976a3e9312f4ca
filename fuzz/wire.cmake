# Frame and message decoder of the wire codec (rkl/wire.h).
rkl_add_fuzzer(wire LIBS rkl_core)
