/* l_randomize.c — the `randomize` module (runtime/randomize.h):
 *   randomize.layers(m, {types=, skip=})            -> names, input to output
 *   randomize.order(m, {order="top_down"|"bottom_up"|"independent",
 *                       stop_layer=0.25 | k | "name", reverse=false,
 *                       types=, skip=})              -> steps
 *       step = {index=k, layer="fc2", randomized={"fc3","fc2"}} (cascade)
 *       or randomized={"fc2"} (independent); reverse=true = bottom-up
 *   randomize.apply(m, names, opts)                  -> m, randomized in place
 *   randomize.clone(m, step_or_names, opts)          -> a randomized clone
 * opts: mode="reinit"|"noise"|"shuffle"|"zero"|"sign_flip" (default reinit),
 *       level (noise sigma, default 1), relative=false (level x the
 *       parameter's own std), bias=true, bn_stats="reset"|"keep" (default:
 *       reset for reinit, as PyTorch's reset_parameters; keep otherwise),
 *       seed (default: the run seed). */
#include <lauxlib.h>
#include <lua.h>
#include <string.h>

#include "error.h"
#include "lua/l_model.h"
#include "lua/l_util.h"
#include "lua/modules.h"
#include "randomize.h"

#define MAX_LIST 4096

/* Reads an array of strings (or one string) at opts[field] into out. */
static int opt_names(lua_State *L, int opts, const char *field, const char **out, int max) {
    if (lua_isnoneornil(L, opts)) return 0;
    int t = lua_getfield(L, opts, field), n = 0;
    if (t == LUA_TSTRING) {
        out[n++] = lua_tostring(L, -1);
    } else if (t == LUA_TTABLE) {
        int len = (int)luaL_len(L, -1);
        if (len > max) l_opterror(L, opts, field, "too many names");
        for (int i = 1; i <= len; i++) {
            if (lua_geti(L, -1, i) != LUA_TSTRING) l_opterror(L, opts, field, "array of names expected");
            out[n++] = lua_tostring(L, -1);
            lua_pop(L, 1); /* the string stays referenced by the table */
        }
    } else if (t != LUA_TNIL) {
        l_opterror(L, opts, field, "name or array of names expected");
    }
    lua_pop(L, 1);
    return n;
}

static int candidates(lua_State *L, const Model *m, int opts, int *out) {
    const char *types[64], *skip[MAX_LIST];
    int nt = opt_names(L, opts, "types", types, 64), ns = opt_names(L, opts, "skip", skip, MAX_LIST);
    int n = randomize_candidates(m, types, nt, skip, ns, out);
    if (n < 0) l_raise(L);
    return n;
}

static const char *const layer_opts[] = {"types", "skip", NULL};

static int l_randomize_layers(lua_State *L) {
    Model *m = l_checkmodel(L, 1);
    l_checkoptkeys(L, 2, layer_opts);
    int c[MAX_LIST], n = candidates(L, m, 2, c);
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) {
        lua_pushstring(L, m->nodes[c[i]].name);
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

static const char *const order_opts[] = {"order", "stop_layer", "reverse", "types", "skip", NULL};
static const char *const orders[] = {"top_down", "bottom_up", "independent", NULL};

static int l_randomize_order(lua_State *L) {
    Model *m = l_checkmodel(L, 1);
    l_checkoptkeys(L, 2, order_opts);
    RandomizeOrder order = (RandomizeOrder)l_optchoice(L, 2, "order", "top_down", orders);
    int reverse = l_optbool(L, 2, "reverse", 0);
    StopLayer stop = {.kind = STOP_FRACTION, .fraction = 0.25}; /* Xplique's default */
    if (!lua_isnoneornil(L, 2)) {
        int t = lua_getfield(L, 2, "stop_layer");
        if (t == LUA_TSTRING) {
            stop.kind = STOP_NAME;
            stop.name = lua_tostring(L, -1);
        } else if (t == LUA_TNUMBER && lua_isinteger(L, -1)) {
            stop.kind = STOP_COUNT;
            lua_Integer k = lua_tointeger(L, -1);
            stop.count = k > 1 << 20 ? 1 << 20 : k < -1 ? -1 : (int)k;
        } else if (t == LUA_TNUMBER) {
            stop.fraction = lua_tonumber(L, -1);
            if (stop.fraction == 1.0) stop.kind = STOP_ALL;
        } else if (t != LUA_TNIL) {
            l_opterror(L, 2, "stop_layer", "a fraction in (0, 1], a layer count or a layer name expected");
        }
        /* the name string stays alive on the stack until we return */
    }
    int c[MAX_LIST], n = candidates(L, m, 2, c);
    int steps[MAX_LIST];
    int k = randomize_plan(m, order, reverse, &stop, c, n, steps);
    if (k < 0) l_raise(L);
    lua_createtable(L, k, 0);
    for (int s = 0; s < k; s++) {
        lua_createtable(L, 0, 3);
        lua_pushinteger(L, s + 1);
        lua_setfield(L, -2, "index");
        lua_pushstring(L, m->nodes[steps[s]].name);
        lua_setfield(L, -2, "layer");
        int first = order == ORDER_INDEPENDENT ? s : 0;
        lua_createtable(L, s - first + 1, 0);
        for (int j = first; j <= s; j++) {
            lua_pushstring(L, m->nodes[steps[j]].name);
            lua_rawseti(L, -2, j - first + 1);
        }
        lua_setfield(L, -2, "randomized");
        lua_rawseti(L, -2, s + 1);
    }
    return 1;
}

static const char *const apply_opts[] = {"mode", "level", "relative", "bias", "bn_stats", "seed", NULL};
static const char *const modes[] = {"reinit", "noise", "shuffle", "zero", "sign_flip", NULL};
static const char *const bn_stats[] = {"reset", "keep", NULL};

static void read_apply_opts(lua_State *L, int idx, RandomizeOptions *o) {
    l_checkoptkeys(L, idx, apply_opts);
    memset(o, 0, sizeof *o);
    o->mode = (RandomizeMode)l_optchoice(L, idx, "mode", "reinit", modes);
    o->level = l_optnumber(L, idx, "level", 1.0);
    if (!(o->level >= 0)) l_opterror(L, idx, "level", "must be >= 0");
    o->relative = l_optbool(L, idx, "relative", 0);
    o->bias = l_optbool(L, idx, "bias", 1);
    o->bn_reset = l_optchoice(L, idx, "bn_stats", o->mode == RANDOMIZE_REINIT ? "reset" : "keep", bn_stats) == 0;
    o->seed = l_optseed(L, idx);
}

/* Randomizes the layers named at `names` (a name, an array of names, or a
 * step table with .randomized) in m. */
static void apply_names(lua_State *L, Model *m, int names, const RandomizeOptions *o) {
    if (lua_istable(L, names) && lua_getfield(L, names, "randomized") == LUA_TTABLE) {
        lua_replace(L, names);
    } else if (lua_istable(L, names)) {
        lua_pop(L, 1);
    }
    int n = lua_isstring(L, names) ? 1 : lua_istable(L, names) ? (int)luaL_len(L, names) : -1;
    if (n < 0) luaL_argerror(L, names, "layer name, array of names or a step expected");
    for (int i = 1; i <= n; i++) {
        if (lua_istable(L, names)) lua_geti(L, names, i);
        else lua_pushvalue(L, names);
        int node = l_checklayer(L, m, lua_gettop(L));
        lua_pop(L, 1);
        if (randomize_node(m, node, o) != SN_OK) l_raise(L);
    }
}

static int l_randomize_apply(lua_State *L) {
    Model *m = l_checkmodel(L, 1);
    RandomizeOptions o;
    read_apply_opts(L, 3, &o);
    apply_names(L, m, 2, &o);
    lua_settop(L, 1);
    return 1;
}

static int l_randomize_clone(lua_State *L) {
    Model *m = l_checkmodel(L, 1);
    RandomizeOptions o;
    read_apply_opts(L, 3, &o);
    Model *c = model_clone(m);
    if (!c) return l_raise(L);
    l_pushmodel(L, c); /* owned by Lua from here: errors below cannot leak it */
    apply_names(L, c, 2, &o);
    return 1;
}

static const luaL_Reg randomize_funcs[] = {{"layers", l_randomize_layers}, {"order", l_randomize_order},
                                           {"apply", l_randomize_apply},   {"clone", l_randomize_clone},
                                           {NULL, NULL}};

int luaopen_sanity_randomize(lua_State *L) {
    luaL_newlib(L, randomize_funcs);
    return 1;
}
