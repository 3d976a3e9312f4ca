# CSV pull parser (rkl/csv.h) and the terminal list loader (rkl_store_csv_load).
rkl_add_fuzzer(csv LIBS rkl_store)
