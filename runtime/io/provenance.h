/* provenance.h — what every results file records about the run that wrote
 * it, as attributes of the root group: the script and its SHA-256, the
 * command line, cfg as JSON, seed, thread count, sanity's version and git
 * commit, Lua/OpenBLAS/HDF5 versions, host, UTC start and end times.
 * The caller (lua/l_results.c) gathers what only it knows (cfg, argv). */
#ifndef SANITY_PROVENANCE_H
#define SANITY_PROVENANCE_H

#include <stddef.h>
#include <stdint.h>

#include "io/results.h"

typedef struct Provenance {
    const char *script;       /* path as given; NULL when unknown */
    const char *command_line; /* already joined (provenance_shell_join) */
    const char *cfg_json;
    int64_t seed;
    int threads;
    const char *lua_version;    /* LUA_RELEASE */
    const char *sanity_version; /* SANITY_VERSION */
    double start_time;          /* seconds since the epoch; 0 = now */
} Provenance;

/* Writes the provenance attributes on f's root group. Strings that are not
 * valid UTF-8 (odd bytes in argv) are stored with '?' in their place. */
int provenance_write(ResultsFile *f, const Provenance *p);
/* Writes end_time_utc = now (called just before completing the file). */
int provenance_finish(ResultsFile *f);

/* Lowercase hex SHA-256 of a file's bytes (OpenSSL EVP). */
int provenance_sha256_file(const char *path, char hex[65]);
/* Hex SHA-256 of a buffer. */
void provenance_sha256(const void *data, size_t n, char hex[65]);
/* argv joined with spaces, each argument quoted for a POSIX shell when it
 * needs it ('it'\''s'); malloc'd, NULL when out of memory. */
char *provenance_shell_join(int argc, char *const argv[]);
/* "2024-05-01T12:34:56Z" */
void provenance_utc(double t, char buf[32]);

#endif
