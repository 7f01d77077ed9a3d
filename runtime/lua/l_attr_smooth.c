/* l_attr_smooth.c — bindings of the noise family (attr/smooth.h):
 *   attr.smoothgrad(model, x, target, opts)      mean of the noisy gradients
 *   attr.smoothgrad_sq(model, x, target, opts)   mean of their squares
 *   attr.vargrad(model, x, target, opts)         their variance
 *     n      50: noisy draws per sample
 *     sigma  0.15: noise standard deviation as a fraction of each sample's
 *            range max - min (Smilkov et al.); 0 gives the plain gradient
 *   attr.smooth(method, model, x, target, opts)  the noise tunnel for ANY method
 *     method     a name from attr.list() or a function with a method's signature
 *     opts.smooth = {n = 50, sigma = 0.15, kind = "smoothgrad" | "smoothgrad_sq" | "vargrad"}
 *     the other options go to the method, except abs/reduce/normalize, which
 *     are applied once to the result, and seed: draw j calls the method with
 *     seed = rng_mix(seed, j), so a random method draws afresh each time.
 *     The noisy inputs are those of attr.smoothgrad, and targets are fixed
 *     on the clean input ("predicted" = the prediction for x), so
 *     attr.smooth("gradient", ...) equals attr.smoothgrad(...) up to float
 *     rounding (exactly for smoothgrad_sq and vargrad; smoothgrad may sum
 *     the first layer's output gradients instead, attr/rows.h).
 *     One call of the method per draw, each on the whole batch.
 *   attr.noisy(x, draw, {sigma = 0.15, seed}) -> draw `draw` (1-based) of the
 *     noisy inputs above: what SmoothGrad and attr.smooth explain.
 * Common arguments and options: l_attr.h. */
#include <string.h>

#include "attr/smooth.h"
#include "error.h"
#include "lua/l_attr.h"
#include "lua/l_util.h"
#include "rng.h"

static const char *const smooth_opts[] = {"n", "sigma", NULL};

/* n and sigma from the table at idx (nil: defaults); raises on bad values. */
static void smooth_params(lua_State *L, int idx, const char *prefix, AttrSmoothOptions *o) {
    lua_Integer n = l_optinteger(L, idx, "n", 50);
    double sigma = l_optnumber(L, idx, "sigma", 0.15);
    if (n < 1 || n > (1 << 24))
        luaL_argerror(L, idx, lua_pushfstring(L, "option '%sn': must be a positive integer (at most 2^24)", prefix));
    if (!(sigma >= 0))
        luaL_argerror(L, idx, lua_pushfstring(L, "option '%ssigma': must be non-negative, got %f", prefix, sigma));
    o->n = (int)n, o->sigma = (float)sigma;
}

static int run_smooth(lua_State *L, AttrSmoothKind kind) {
    AttrSmoothOptions o = {0, 0, kind};
    l_checktensor(L, 2);
    smooth_params(L, 4, "", &o);
    AttrCall c;
    l_attr_args(L, &c, smooth_opts);
    Tensor out;
    if (attr_smoothgrad(&c.run, c.x, c.targets, &o, &out) != SN_OK) return l_attr_fail(L, &c);
    l_attr_push(L, &c, &out);
    return 1;
}

static int l_attr_smoothgrad(lua_State *L) { return run_smooth(L, ATTR_SMOOTH_MEAN); }
static int l_attr_smoothgrad_sq(lua_State *L) { return run_smooth(L, ATTR_SMOOTH_SQ); }
static int l_attr_vargrad(lua_State *L) { return run_smooth(L, ATTR_SMOOTH_VAR); }

const luaL_Reg l_attr_smooth_funcs[] = {
    {"smoothgrad", l_attr_smoothgrad}, {"smoothgrad_sq", l_attr_smoothgrad_sq}, {"vargrad", l_attr_vargrad}, {NULL, NULL}};

/* ---- the generic noise tunnel ------------------------------------------ */

/* Runs with (model, x, target, common opts) and upvalues: 1 the method,
 * 2 its option table (a copy the loop sets `seed` in), 3 the
 * AttrSmoothOptions (light userdata on the caller's C stack). */
static int smooth_loop(lua_State *L) {
    const AttrSmoothOptions *o = lua_touserdata(L, lua_upvalueindex(3));
    AttrCall c;
    l_attr_args(L, &c, NULL); /* stack: 1-4 args, 5 targets buffer */
    Tensor *targets = l_pushtensor(L, 1, &c.n); /* 6 */
    memcpy(tensor_data(targets), c.targets, sizeof(float) * (size_t)c.n);
    int64_t numel = 0, shape[TENSOR_MAX_DIMS];
    int ndim = 0;
    double *s1 = NULL, *s2 = NULL;
    for (int64_t j = 0; j < o->n; j++) {
        Tensor noisy;
        if (attr_smooth_noisy(c.x, o->sigma, c.run.seed, j, c.run.nthreads, &noisy) != SN_OK) return l_attr_fail(L, &c);
        int top = lua_gettop(L);
        lua_pushvalue(L, lua_upvalueindex(1));
        lua_pushvalue(L, 1);
        l_pushtensor_move(L, &noisy);
        lua_pushvalue(L, 6);
        lua_pushvalue(L, lua_upvalueindex(2));
        lua_pushinteger(L, (lua_Integer)rng_mix(c.run.seed, (uint64_t)j));
        lua_setfield(L, -2, "seed");
        if (lua_pcall(L, 4, 1, 0) != LUA_OK) {
            if (c.was_training) model_set_training(c.run.model, 1);
            return lua_error(L);
        }
        Tensor *m = l_testtensor(L, -1);
        if (!m || !m->storage) {
            sn_errorf("attr.smooth: the method returned %s, not a tensor", luaL_typename(L, -1));
            return l_attr_fail(L, &c);
        }
        if (j == 0) { /* the first map's shape is the result's */
            numel = tensor_numel(m), ndim = m->ndim;
            memcpy(shape, m->shape, sizeof shape);
            size_t bytes = sizeof(double) * (size_t)(numel ? numel : 1);
            s1 = lua_newuserdatauv(L, bytes, 0), s2 = lua_newuserdatauv(L, bytes, 0); /* 7, 8 */
            memset(s1, 0, bytes), memset(s2, 0, bytes);
            lua_rotate(L, -3, 2); /* keep the sums below the map */
            top += 2;
        } else if (m->ndim != ndim || memcmp(m->shape, shape, sizeof(int64_t) * (size_t)ndim) != 0) {
            char a[160], b[160];
            sn_errorf("attr.smooth: the method returned shape %s at draw %d and %s at draw 1",
                      tensor_shape_str(m, a, sizeof a), (int)j + 1, shape_str(ndim, shape, b, sizeof b));
            return l_attr_fail(L, &c);
        }
        attr_smooth_accumulate(o->kind == ATTR_SMOOTH_SQ ? NULL : s1, o->kind == ATTR_SMOOTH_MEAN ? NULL : s2,
                               tensor_data(m), numel);
        lua_settop(L, top);
    }
    Tensor out;
    if (tensor_init(&out, ndim, shape) != SN_OK) return l_attr_fail(L, &c);
    attr_smooth_finish(o->kind, s1, s2, o->n, numel, tensor_data(&out));
    l_attr_push(L, &c, &out);
    return 1;
}

/* attr.smooth(method, model, x, target, opts); upvalue 1: the attr module. */
static int l_attr_smooth(lua_State *L) {
    static const char *const kinds[] = {"smoothgrad", "smoothgrad_sq", "vargrad", NULL};
    static const char *const tunnel_keys[] = {"n", "sigma", "kind", NULL};
    static const char *const outer[] = {"abs", "reduce", "normalize", "seed", "batch_size", NULL};
    lua_settop(L, 5);
    if (lua_type(L, 1) == LUA_TSTRING) {
        /* a method is a name in attr.list() */
        const char *name = lua_tostring(L, 1);
        lua_getfield(L, lua_upvalueindex(1), "list");
        lua_call(L, 0, 1);
        int found = 0;
        for (lua_Integer i = 1, n = luaL_len(L, -1); i <= n && !found; i++) {
            lua_geti(L, -1, i);
            found = strcmp(lua_tostring(L, -1), name) == 0;
            lua_pop(L, 1);
        }
        if (!found) {
            lua_getglobal(L, "table");
            lua_getfield(L, -1, "concat");
            lua_pushvalue(L, -3);
            lua_pushstring(L, ", ");
            lua_call(L, 2, 1);
            return luaL_error(L, "unknown attribution method '%s' (known: %s)", name, lua_tostring(L, -1));
        }
        lua_settop(L, 5);
        lua_getfield(L, lua_upvalueindex(1), name);
        lua_replace(L, 1);
    } else if (!lua_isfunction(L, 1)) {
        return luaL_argerror(L, 1, "method name or function expected");
    }
    if (!lua_isnoneornil(L, 5)) luaL_checktype(L, 5, LUA_TTABLE);
    /* the tunnel's own options */
    AttrSmoothOptions o = {50, 0.15f, ATTR_SMOOTH_MEAN};
    if (lua_istable(L, 5)) {
        if (lua_getfield(L, 5, "smooth") != LUA_TNIL) {
            if (!lua_istable(L, -1)) luaL_argerror(L, 5, "option 'smooth': table {n=, sigma=, kind=} expected");
            int idx = lua_gettop(L);
            l_checkoptkeys(L, idx, tunnel_keys);
            smooth_params(L, idx, "smooth.", &o);
            o.kind = (AttrSmoothKind)l_optchoice(L, idx, "kind", "smoothgrad", kinds);
        }
        lua_pop(L, 1);
    }
    /* the method's options (6) and the common ones the loop applies (7) */
    lua_newtable(L);
    lua_newtable(L);
    if (lua_istable(L, 5)) {
        lua_pushnil(L);
        while (lua_next(L, 5)) {
            int is_outer = 0;
            if (lua_type(L, -2) == LUA_TSTRING) {
                const char *k = lua_tostring(L, -2);
                if (!strcmp(k, "smooth")) {
                    lua_pop(L, 1);
                    continue;
                }
                for (int i = 0; outer[i]; i++) is_outer |= !strcmp(k, outer[i]);
                if (is_outer) {
                    lua_pushvalue(L, -2);
                    lua_pushvalue(L, -2);
                    lua_rawset(L, 7);
                }
                /* post-processing happens once, on the result; seed is per draw */
                is_outer = !strcmp(k, "abs") || !strcmp(k, "reduce") || !strcmp(k, "normalize") || !strcmp(k, "seed");
            }
            if (!is_outer) {
                lua_pushvalue(L, -2);
                lua_pushvalue(L, -2);
                lua_rawset(L, 6);
            }
            lua_pop(L, 1);
        }
    }
    lua_pushvalue(L, 1);                    /* upvalue 1: the method */
    lua_pushvalue(L, 6);                    /* upvalue 2: its options */
    lua_pushlightuserdata(L, &o);           /* upvalue 3 */
    lua_pushcclosure(L, smooth_loop, 3);
    lua_pushvalue(L, 2);
    lua_pushvalue(L, 3);
    lua_pushvalue(L, 4);
    lua_pushvalue(L, 7);
    lua_call(L, 4, 1);
    return 1;
}

/* attr.noisy(x, draw, opts) -> x + noise of draw `draw` (1-based) */
static int l_attr_noisy(lua_State *L) {
    static const char *const keys[] = {"sigma", "seed", NULL};
    const Tensor *x = l_checktensor(L, 1);
    lua_Integer draw = luaL_checkinteger(L, 2);
    luaL_argcheck(L, draw >= 1, 2, "draws are numbered from 1");
    l_checkoptkeys(L, 3, keys);
    double sigma = l_optnumber(L, 3, "sigma", 0.15);
    if (!(sigma >= 0)) l_opterror(L, 3, "sigma", "must be non-negative");
    if (x->ndim < 1 || x->shape[0] < 1) luaL_argerror(L, 1, "a batch [N, ...] with N >= 1 expected");
    Tensor out;
    Session *s = l_session(L);
    if (attr_smooth_noisy(x, (float)sigma, l_optseed(L, 3), draw - 1, s ? s->nthreads : 1, &out) != SN_OK) return l_raise(L);
    l_pushtensor_move(L, &out);
    return 1;
}

const luaL_Reg l_attr_smooth_tools[] = {{"smooth", l_attr_smooth}, {"noisy", l_attr_noisy}, {NULL, NULL}};
