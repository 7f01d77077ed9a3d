/* host.h — the embedded Lua: a state with the standard libraries, sanity's
 * modules as globals, package.path reaching the project's scripts/, the
 * `cfg` table from the command line, and running a script with a traceback.
 * Exit statuses are main.c's business; this returns what happened. */
#ifndef SANITY_HOST_H
#define SANITY_HOST_H

#include <lua.h>

#include "lua/l_util.h"

#define SANITY_VERSION "0.1.0"

/* Directory holding the Lua library (scripts/): $SANITY_PATH, else
 * <dir of the binary>/../scripts. Returns a static-lifetime copy in buf. */
const char *host_scripts_dir(char *buf, size_t n);

/* A new state for `session` (which must outlive it); NULL when out of memory. */
lua_State *host_new(Session *session, const char *scripts_dir);

/* A cfg key: names of letters, digits and '_' (not starting with a digit),
 * joined by dots ("ig.steps"). len is the key's length in k. */
int host_valid_key(const char *k, size_t len);

/* Parses "key=value" into the table on top of the stack (typed: booleans,
 * numbers, comma lists, strings; dotted keys make subtables). Returns 0, or
 * -1 with a one-line reason in err. */
int host_parse_kv(lua_State *L, const char *arg, char *err, size_t errlen);

/* Raises "interrupted by SIGINT" (or SIGTERM) when the process got one:
 * bindings call it at safe points (before a unit of work, in sleeps), since
 * the count hook only sees Lua instructions, not time spent in C. */
void host_check_interrupt(lua_State *L);

/* Runs the script with the global `cfg` already set. Returns 0 on success,
 * 1 when the script raised an error (message and traceback printed to
 * stderr), 2 when the script file cannot be opened. Calls the exit hooks
 * registered with host_on_exit in both cases. */
int host_run(lua_State *L, const char *path);

#endif
