/* SPDX-License-Identifier: MIT */
/*
 * A guard for reading a file through a mapping that the file may shrink under (internal).
 *
 * Touching a page of a MAP_SHARED file mapping past the file's current end raises SIGBUS,
 * which kills the process by default (`convert` of a GGUF truncated while it runs). While
 * a guard is active, a SIGBUS whose address lies in the guarded range is absorbed: the
 * page is replaced by a read-only page of zeros, the hit and the first offset are
 * recorded, and the reader carries on; it must then ask as_mapguard_end() and throw away
 * what it computed. Any other SIGBUS goes to the action that was installed before. One
 * guard at a time per process (a second begin gets -EBUSY and runs unguarded).
 */
#ifndef ACTIVESWAP_MAPGUARD_H
#define ACTIVESWAP_MAPGUARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Guard [base, base + len): 0, -EBUSY (another guard is active) or -errno (sigaction). */
int as_mapguard_begin(const void *base, size_t len);
/* Has a SIGBUS hit the range so far? off: the offset of the first one (may be NULL). */
bool as_mapguard_hit(uint64_t *off);
/* End the guard begun with 0 (restores the previous SIGBUS action); returns the hit. */
bool as_mapguard_end(uint64_t *off);

#endif
