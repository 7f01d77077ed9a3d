/* grid.h — the configuration grid of `sanity sweep`: parsing key=spec
 * arguments, enumerating the cartesian product, and naming each run.
 *
 * Specs: "v1,v2,v3" (a list), "start:stop:step" (a numeric range), one
 * value (a fixed key), or "[v1,v2]" (a fixed key whose one value is a list:
 * every run gets key=v1,v2). Values are typed as `sanity run` types key=value
 * (true/false, Lua numbers — integers stay integers —, else strings). A
 * range holds start + i*step for i = 0, 1, ... while it does not pass stop:
 * stop is included when it lands on the grid. Integer start/stop/step give
 * integers; otherwise each value is computed as start + i*step and printed
 * with the decimals of start and step (0:0.3:0.1 gives 0.0 0.1 0.2 0.3,
 * never 0.30000000000000004).
 *
 * Keys are sorted by name; runs enumerate the product with the last key
 * varying fastest, so run indices do not depend on the argument order.
 * A run's id is the first 12 hex digits of the SHA-256 of
 * "sanity-sweep/1\n<script base name>\n<canonical config JSON>", the JSON
 * holding every key (seed included) with typed values in sorted order. */
#ifndef SANITY_GRID_H
#define SANITY_GRID_H

#include <stdint.h>

#define GRID_MAX_KEYS 64
#define GRID_MAX_VALUES 100000 /* per key */
#define GRID_MAX_RUNS 1000000
#define GRID_ID_LEN 12

typedef enum GridType { GRID_INT, GRID_NUM, GRID_BOOL, GRID_STR } GridType;

typedef struct GridValue {
    GridType type;
    int64_t i;   /* INT; BOOL as 0/1 */
    double num;  /* NUM */
    char *text;  /* what the run gets after "key=": "0.1", "true", "gradient" */
    char *canon; /* canonical JSON: 0.1, 1.0, 3, true, "gradient" */
} GridValue;

typedef struct GridKey {
    char *name;
    char *spec; /* as given after '=' */
    int n;
    GridValue *values;
} GridKey;

typedef struct Grid {
    int nkeys;
    GridKey *keys; /* sorted by name after grid_finish */
    int64_t nruns;
} Grid;

/* Adds "key=spec". SN_ERR with a sentence quoting the argument. */
int grid_add(Grid *g, const char *arg);
/* Sorts the keys and counts the runs (SN_ERR over GRID_MAX_RUNS). */
int grid_finish(Grid *g);
void grid_free(Grid *g);
/* Index of `key`, or -1. */
int grid_find(const Grid *g, const char *key);

/* The value index of each key for run r (0 <= r < nruns); idx holds nkeys
 * (at most GRID_MAX_KEYS) entries. */
void grid_run(const Grid *g, int64_t r, int *idx);
/* {"key":value,...} for run r; malloc'd, NULL when out of memory. */
char *grid_config_json(const Grid *g, int64_t r);
/* The run's id (GRID_ID_LEN hex digits + NUL); SN_ERR when out of memory. */
int grid_run_id(const Grid *g, const char *script_name, int64_t r, char id[GRID_ID_LEN + 1]);

/* Edit distance of two short strings (for "did you mean"). */
int grid_distance(const char *a, const char *b);

#endif
