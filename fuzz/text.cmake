# UTF-8 decoder and the free-text rule (rkl/text.h).
rkl_add_fuzzer(text LIBS rkl_core)
