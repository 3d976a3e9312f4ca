/* A library that uses the heap: the no-heap check must reject it. */
#include <stdlib.h>

void *rkl_test_heap_canary(size_t n);

void *
rkl_test_heap_canary(size_t n)
{
	return malloc(n);
}
