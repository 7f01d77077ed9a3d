/* manifest.h — DIR/sweep.json, the record of a sweep: the script, the grid
 * specs, every run's index, id and configuration, the creation time.
 *
 *   {"format": "sanity-sweep/1", "script": "experiments/mprt.lua",
 *    "script_name": "mprt.lua", "script_sha256": "...", "created_utc": "...",
 *    "keys": ["noise", "seed"], "grid": {"noise": {"spec": "0:0.2:0.1",
 *    "values": [0.0, 0.1, 0.2]}, ...}, "runs": [{"index": 0, "id":
 *    "3f9c0b1d2e4a", "args": ["noise=0.0", "seed=0"], "config": {...}}, ...]}
 *
 * Loading rebuilds the grid from the specs (so values are typed exactly as
 * the runs saw them) and checks the stored ids against it. Shards of one
 * sweep share a manifest: the first one creates it atomically (link(2) of a
 * complete temporary file), the others check theirs against it. */
#ifndef SANITY_MANIFEST_H
#define SANITY_MANIFEST_H

#include <stddef.h>

#include "cli/grid.h"

typedef struct Manifest {
    char *script;      /* as given when the sweep was created */
    char *script_name; /* base name: part of every run id */
    char *script_sha256;
    char *created_utc;
    Grid grid;
    char (*ids)[GRID_ID_LEN + 1]; /* grid.nruns of them */
} Manifest;

/* Builds a manifest for `script` over `grid` (finished; taken over: the
 * caller must not free it). SN_ERR when the script cannot be read. */
int manifest_init(Manifest *m, const char *script, Grid *grid);
void manifest_free(Manifest *m);

/* Reads DIR/sweep.json. Errors say "'DIR' is not a sweep directory (no
 * DIR/sweep.json)" or what is wrong with the file. */
int manifest_load(Manifest *m, const char *dir);

/* 1 if `stored` and `now` describe the same sweep (same script name, same
 * runs in the same order); else 0 with a description in why. */
int manifest_same(const Manifest *stored, const Manifest *now, char *why, size_t n);

/* Creates DIR/sweep.json from m unless it exists; *created says which. */
int manifest_write(const Manifest *m, const char *dir, int *created);

/* "DIR/runs/<id><suffix>" ("", ".h5", ".log" ...); SN_ERR when too long. */
int manifest_path(const char *dir, const char *sub, const char *id, const char *suffix, char *buf, size_t n);

/* "noise=0.1 stop_layer=2": the swept keys of run r (all keys when none is
 * swept); malloc'd. */
char *manifest_label(const Manifest *m, int64_t r);

#endif
