/* l_attr.h — the argument handling every attribution binding shares.
 * attr.<method>(model, x, target, opts):
 *   model   a sanity.Model (run in eval mode for the call, then restored)
 *   x       tensor [N, ...] (images [N, C, H, W])
 *   target  label tensor [N] (0-based), a class index, a Lua array of
 *           indices, or "predicted" (the model's argmax)
 *   opts    common options (attr_common_opts below) + the method's own
 * Common options:
 *   output     "logit" (default) | "softmax" | "log_softmax": the explained score
 *   abs        false: take |map| before reduction and normalisation
 *   reduce     "none" (default) | "sum" | "mean" | "max" | "max_abs": over channels (dim 2 in Lua terms)
 *   normalize  "none" (default) | "max_abs" | "min_max" | "std" | "rms": per sample, last
 *   batch_size 256: at most this many rows (samples x steps x draws) per
 *              forward/backward pass (fewer when that is faster, see
 *              attr_chunk_rows in attr/rows.h);
 *              results do not depend on it
 *   seed       the run seed: keys every random draw of the method
 * Method bindings live one family per file (l_attr_<family>.c) and export a
 * luaL_Reg array listed in L_ATTR_FAMILIES below; l_attr.c builds the `attr`
 * module (attr.list(), attr.explain(name, ...)) from them. An entry named
 * "_name" is a helper, not a method: it becomes attr.name but is neither
 * listed nor reachable through attr.explain (e.g. attr.lrp_rules). */
#ifndef SANITY_L_ATTR_H
#define SANITY_L_ATTR_H

#include <lauxlib.h>
#include <lua.h>

#include "attr/attr.h"

typedef struct AttrCall {
    AttrRun run;
    AttrPost post;
    Tensor *x;
    float *targets; /* [N], owned by a userdata the call left on the stack */
    int64_t n;
    int opts;         /* stack index of the option table (0 when absent) */
    int was_training; /* restored by l_attr_push / l_attr_restore */
} AttrCall;

/* Names every method accepts in opts. */
extern const char *const attr_common_opts[];

/* Parses (model, x, target, opts) at stack positions 1..4; `extra` lists
 * the method's own option names (NULL-terminated, may be NULL). Raises on
 * any bad argument. Puts the model in eval mode (l_attr_push restores it). */
void l_attr_args(lua_State *L, AttrCall *c, const char *const extra[]);
/* Applies the post-processing to raw, releases raw, restores the model's
 * mode and pushes the result. */
void l_attr_push(lua_State *L, AttrCall *c, Tensor *raw);
/* Restores the model's mode and raises the pending kernel error. */
int l_attr_fail(lua_State *L, AttrCall *c);

/* attr.smooth(method, model, x, target, opts), the noise tunnel over any
 * method, and attr.noisy(x, draw, opts), its noisy inputs (l_attr_smooth.c).
 * Not methods, so not in attr.list(); registered with the attr module as
 * upvalue 1. */
extern const luaL_Reg l_attr_smooth_tools[];

/* Method families: each file l_attr_<family>.c defines l_attr_<family>_funcs.
 * An entry named "_name" is a helper, not a method: it becomes attr.name but
 * is left out of attr.list() and attr.explain() (e.g. attr.segments). */
#define L_ATTR_FAMILIES(X) \
    X(gradient) X(integrated) X(smooth) X(propagation) X(cam) X(baseline) X(lrp) X(perturbation)

#define L_ATTR_DECLARE(family) extern const luaL_Reg l_attr_##family##_funcs[];
L_ATTR_FAMILIES(L_ATTR_DECLARE)
#undef L_ATTR_DECLARE

#endif
