/* cli.h — sub-commands of bin/sanity other than `run` (which lives in
 * main.c with the Lua host). Each takes the arguments after its name and
 * returns the exit status: 0 success, 1 failure, 2 usage error. */
#ifndef SANITY_CLI_H
#define SANITY_CLI_H

/* sanity info FILE.h5: provenance attributes, then every dataset with its
 * shape, dtype and dimension names. */
int cli_info(int argc, char **argv);

#endif
