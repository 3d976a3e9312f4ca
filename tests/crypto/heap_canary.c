/* Deliberately allocates: proves that check_no_heap.cmake can fail. */
#include <stdlib.h>

void *rkl_heap_canary(size_t n);

void *
rkl_heap_canary(size_t n)
{
	return malloc(n);
}
