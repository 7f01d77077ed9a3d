/* cli.h — sub-commands of bin/sanity other than `run` (which lives in
 * main.c with the Lua host). Each takes the arguments after its name and
 * returns the exit status: 0 success, 1 failure, 2 usage error (sweep:
 * 128 + signal when stopped by SIGINT/SIGTERM). */
#ifndef SANITY_CLI_H
#define SANITY_CLI_H

/* sanity info FILE.h5: provenance attributes, then every dataset with its
 * shape, dtype and dimension names. */
int cli_info(int argc, char **argv);

/* sanity sweep SCRIPT.lua key=spec ... --out DIR [...]: a grid of `sanity
 * run` child processes (cli/sweep.c; the grid itself is cli/grid.h). */
int cli_sweep(int argc, char **argv);

/* sanity merge DIR -o MERGED.h5: a sweep's runs in one file along a `run`
 * dimension (cli/merge.c). */
int cli_merge(int argc, char **argv);

/* sanity diff A.h5 B.h5: datasets and attributes that differ (times are
 * ignored); exit 1 when any do (cli/diff.c). */
int cli_diff(int argc, char **argv);

#endif
