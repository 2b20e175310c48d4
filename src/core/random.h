/* random.h - counter-based random numbers (header only). */
#ifndef NB_CORE_RANDOM_H
#define NB_CORE_RANDOM_H

#include <stdint.h>

/* counter-based random numbers: the same (key, counter) gives the same value on any thread */
static inline uint64_t nb__mix64(uint64_t z)
{
    z += 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}
static inline float nb__hash_uniform(uint64_t key, uint64_t counter)
{
    return (float)(nb__mix64(key ^ nb__mix64(counter)) >> 40) * (1.0f / 16777216.0f);
}

#endif
