/* units.h — the unit store of a results file: completed units of work kept
 * beside PATH in the directory "PATH.units/", one small HDF5 file per unit,
 * so a run killed at any moment (SIGKILL included) continues where it
 * stopped. The partial results file itself is never trusted: a resumed run
 * writes it again from the stored units.
 *
 * Crash safety: a unit file is written as "<unit>.h5.partial", fsynced and
 * renamed (results_create / results_close), so a unit file that exists is
 * complete; a leftover .partial is ignored and overwritten. The store also
 * holds "store.json": the fingerprint of the configuration that made it
 * (the caller's text, e.g. cfg as JSON), checked when a run resumes.
 *
 * Unit keys are any non-empty strings; file names keep [A-Za-z0-9._-] and
 * escape other bytes as %XX ("ig/step 3" -> "ig%2Fstep%203.h5"); long keys
 * are cut and completed with a hash of the whole key. No Lua here. */
#ifndef SANITY_UNITS_H
#define SANITY_UNITS_H

#include <stddef.h>

#include "io/results.h"

typedef struct UnitStore UnitStore;

/* Opens the store of results file `path`. resume = 0: an existing store is
 * removed (a fresh run). resume = 1: an existing store is kept after its
 * fingerprint is compared with `fingerprint` (SN_ERR naming what differs).
 * Nothing is created until the first unit is stored. */
int units_open(UnitStore **out, const char *path, int resume, const char *fingerprint);
void units_free(UnitStore *s);

/* "PATH.units" */
const char *units_dir(const UnitStore *s);
/* Number of complete units stored (files "*.h5"). */
int units_count(const UnitStore *s);

/* 1 if unit `key` is complete in the store. */
int units_has(const UnitStore *s, const char *key);
/* The unit's file name ("PATH.units/<escaped key>.h5"). SN_ERR for an empty key. */
int units_file(const UnitStore *s, const char *key, char *buf, size_t n);

/* Starts writing unit `key`: creates the store (and store.json) when needed
 * and returns a results file being written; commit it with units_commit. */
int units_begin(UnitStore *s, const char *key, ResultsFile **out);
/* fsync + rename: the unit is complete. Frees f. */
int units_commit(ResultsFile *f);
/* Opens a complete unit for reading. */
int units_read(const UnitStore *s, const char *key, ResultsFile **out);
/* Deletes one unit (a corrupt file found on reading). */
void units_drop(const UnitStore *s, const char *key);

/* Removes the store directory and the files sanity put in it (units,
 * leftovers, store.json). SN_ERR when it cannot; a store with foreign
 * files in it is kept and named in the message. */
int units_remove(UnitStore *s);

#endif
