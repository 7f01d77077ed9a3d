/* l_rng.c — the `rng` module: keyed draws for scripts (see rng.h).
 * rng.stream("purpose", a, b) names a stream; uniform/normal/integers/
 * permutation draw from (seed, stream). Permutations and integers are
 * returned as float tensors of 0-based values, like labels. */
#include <lauxlib.h>
#include <lua.h>

#include "lua/l_util.h"
#include "lua/modules.h"
#include "rng.h"

static int l_rng_stream(lua_State *L) {
    const char *purpose = luaL_checkstring(L, 1);
    uint64_t a = (uint64_t)luaL_optinteger(L, 2, 0), b = (uint64_t)luaL_optinteger(L, 3, 0);
    lua_pushinteger(L, (lua_Integer)rng_stream(purpose, a, b));
    return 1;
}

static const char *const draw_opts[] = {"seed", "stream", NULL};

static int64_t check_count(lua_State *L, int arg) {
    lua_Integer n = luaL_checkinteger(L, arg);
    luaL_argcheck(L, n >= 0 && n <= (INT64_C(1) << 40), arg, "count out of range");
    return n;
}

static int draw(lua_State *L, int normal) {
    int64_t n = check_count(L, 1);
    l_checkoptkeys(L, 2, draw_opts);
    uint64_t seed = l_optseed(L, 2), stream = l_optstream(L, 2, normal ? "rng.normal" : "rng.uniform");
    Tensor *t = l_pushtensor(L, 1, &n);
    (normal ? rng_normal : rng_uniform)(tensor_data(t), n, seed, stream, 0);
    return 1;
}

static int l_rng_uniform(lua_State *L) { return draw(L, 0); }
static int l_rng_normal(lua_State *L) { return draw(L, 1); }

static int l_rng_integers(lua_State *L) {
    int64_t n = check_count(L, 1);
    lua_Integer lo = luaL_checkinteger(L, 2), hi = luaL_checkinteger(L, 3);
    luaL_argcheck(L, lo <= hi, 3, "upper bound below lower bound");
    luaL_argcheck(L, lo > -(1 << 24) && hi < (1 << 24), 3, "bounds must be within +-2^24 (float32 exact integers)");
    l_checkoptkeys(L, 4, draw_opts);
    uint64_t seed = l_optseed(L, 4), stream = l_optstream(L, 4, "rng.integers");
    Tensor *t = l_pushtensor(L, 1, &n);
    int64_t *tmp = lua_newuserdatauv(L, sizeof(int64_t) * (size_t)(n ? n : 1), 0);
    rng_integers(tmp, n, lo, hi, seed, stream);
    for (int64_t i = 0; i < n; i++) tensor_data(t)[i] = (float)tmp[i];
    lua_pop(L, 1);
    return 1;
}

static int l_rng_permutation(lua_State *L) {
    int64_t n = check_count(L, 1);
    luaL_argcheck(L, n < (1 << 24), 1, "permutations are limited to 2^24 elements (float32 exact integers)");
    l_checkoptkeys(L, 2, draw_opts);
    uint64_t seed = l_optseed(L, 2), stream = l_optstream(L, 2, "rng.permutation");
    Tensor *t = l_pushtensor(L, 1, &n);
    int64_t *tmp = lua_newuserdatauv(L, sizeof(int64_t) * (size_t)(n ? n : 1), 0);
    rng_permutation(tmp, n, seed, stream);
    for (int64_t i = 0; i < n; i++) tensor_data(t)[i] = (float)tmp[i];
    lua_pop(L, 1);
    return 1;
}

static const luaL_Reg rng_funcs[] = {{"stream", l_rng_stream},     {"uniform", l_rng_uniform},
                                     {"normal", l_rng_normal},     {"integers", l_rng_integers},
                                     {"permutation", l_rng_permutation}, {NULL, NULL}};

int luaopen_sanity_rng(lua_State *L) {
    luaL_newlib(L, rng_funcs);
    return 1;
}
