/* l_util.h — what every binding shares: the session (thread count, seed,
 * quiet flag) kept in the Lua state's extra space, tensor userdata, option
 * tables, and raising a kernel's error with the script position. Bindings
 * convert arguments and call kernels; they hold no numeric code. */
#ifndef SANITY_L_UTIL_H
#define SANITY_L_UTIL_H

#include <lauxlib.h>
#include <lua.h>
#include <stdint.h>

#include "tensor.h"

#define TENSOR_MT "sanity.Tensor"

typedef struct Session {
    int nthreads;
    int quiet;
    int64_t seed;
    const char *script; /* path as given */
    int argc;
    char **argv;
    int full_argc;     /* the whole command line, full_argv[0] = the binary */
    char **full_argv;  /* (recorded in results files); may be NULL */
    double start_time; /* seconds since the epoch */
    int resume;        /* --resume: results.open keeps the unit store of an earlier attempt */
} Session;

/* The session the host stored in the state's extra space. */
Session *l_session(lua_State *L);
void l_set_session(lua_State *L, Session *s);

/* Raises sn_errmsg() as a Lua error with the caller's position. */
int l_raise(lua_State *L);
/* Raises "bad argument #arg to 'f' (option 'name': msg)". */
int l_opterror(lua_State *L, int arg, const char *name, const char *msg);

Tensor *l_checktensor(lua_State *L, int idx);
Tensor *l_testtensor(lua_State *L, int idx);
/* Pushes a new userdata owning a fresh zeroed tensor; raises on failure. */
Tensor *l_pushtensor(lua_State *L, int ndim, const int64_t *shape);
/* Pushes a userdata that takes over t's storage reference (t is emptied). */
Tensor *l_pushtensor_move(lua_State *L, Tensor *t);
/* Reads a shape given as varargs from `idx` or a table at `idx`. */
int l_checkshape(lua_State *L, int idx, int64_t *shape);

/* Option table at `idx` (may be nil/none). Each raises a clear error when the
 * field has the wrong type or value. */
lua_Number l_optnumber(lua_State *L, int idx, const char *name, lua_Number def);
lua_Integer l_optinteger(lua_State *L, int idx, const char *name, lua_Integer def);
int l_optbool(lua_State *L, int idx, const char *name, int def);
const char *l_optstring(lua_State *L, int idx, const char *name, const char *def);
/* A string option that must be one of lst; the error lists the choices. */
int l_optchoice(lua_State *L, int idx, const char *name, const char *def, const char *const lst[]);
/* Checks that every key of the option table is in `known` (catches typos). */
void l_checkoptkeys(lua_State *L, int idx, const char *const known[]);
/* The seed for a draw: opts.seed, else the run seed (cfg.seed / --seed). */
uint64_t l_optseed(lua_State *L, int idx);
/* A stream id: opts.stream as integer or string, else a per-run counter so
 * successive unkeyed draws differ (and are still reproducible). */
uint64_t l_optstream(lua_State *L, int idx, const char *purpose);
/* "a, b, c" from a NULL-terminated list, for error messages. */
const char *l_joinlist(lua_State *L, const char *const lst[]);

/* Accounts `bytes` of C memory to Lua's collector so big temporaries in a
 * loop are collected at the pace they are made. */
void l_gcdebt(lua_State *L, size_t bytes);

#endif
