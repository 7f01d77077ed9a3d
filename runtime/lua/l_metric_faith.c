/* l_metric_faith.c — faithfulness, robustness and complexity metrics in the
 * `metric` module. Converts arguments and calls runtime/metric/
 * faithfulness.c and complexity.c (definitions, formulas and random streams
 * are documented in their headers); sensitivity re-explains through the
 * attr module's Lua functions, one call per draw over the whole batch.
 *
 *   metric.infidelity(model, x, target, maps [, opts]) -> [N]
 *       perturbation="gaussian" | "noisy_baseline" | "square_removal" | "masking" | "blur"
 *       n_perturb=100, normalize=false (true: Yeh et al.'s optimal scaling beta),
 *       sigma (gaussian 0.1, noisy_baseline 0.2, blur 1.0),
 *       square=side | {min, max} (square_removal, blur; default {1, min(10, H, W)}),
 *       fraction=0.25 (masking), multiply_by_inputs=false (square_removal,
 *       masking: I = the removal mask instead of x - x'), baseline=0
 *   metric.perturbations(x [, opts]) -> x' [N, n, ...], I [N, n, ...]
 *       the perturbations infidelity uses with the same options and seed
 *   metric.sensitivity_max(model, x, target, method [, opts]) -> max [N], avg [N]
 *   metric.sensitivity_avg(model, x, target, method [, opts]) -> avg [N], max [N]
 *       method: a name in attr.list(), or a function(model, x, target, method_opts)
 *       returning maps [N, ...] (target: the resolved label tensor)
 *       radius=0.02, n=20, norm="l2" ("fro" is the same) | "linf",
 *       normalize=true (divide by ||Phi(x)||; 0/0 = 0, v/0 = inf), seed (the
 *       noise draws), method_opts={} (passed unchanged to the method for x and
 *       every x', its seed included: a stochastic method reuses its draws;
 *       output and batch_size of the explanations go here)
 *   metric.faithfulness_correlation(model, x, target, maps [, opts]) -> [N]
 *       subset_size=max(1, round(F / 10)), n=100, baseline=0
 *   metric.pixel_flipping(model, x, target, maps [, opts]) -> curve [N, steps+1], auc [N]
 *       order="morf" | "lerf", patch=1, steps=min(tiles, 100), baseline=0
 *   metric.sufficiency(model, x, maps [, opts]) -> [N]
 *       threshold=0.6 (share of the batch's largest map distance), distance="euclidean" | "cosine"
 *   metric.completeness(model, x, target, maps [, opts]) -> |gap| [N], gap [N]
 *       gap = sum(Phi) - (f(x) - f(baseline)); baseline=0
 *   metric.sparseness(maps) -> [N]  (Gini of |Phi|)
 *   metric.complexity(maps) -> [N]  (entropy of |Phi| / sum |Phi|)
 * infidelity, faithfulness_correlation, pixel_flipping and completeness also
 * take output="logit" | "softmax" | "log_softmax" (the scored output),
 * batch_size=256 (rows per forward; results do not depend on it) and seed
 * (default: the run seed); sufficiency takes batch_size. target is what attr.*
 * takes: a label tensor, a class index, a Lua array or "predicted".
 * maps must have x's shape; baseline is a number or a tensor shaped like x
 * or like one sample. F = pixels (H*W) for images [N, C, H, W] / [N, H, W],
 * else elements per sample. */
#include "lua/l_metric_faith.h"

#include <lauxlib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "lua/l_attr.h"
#include "lua/l_model.h"
#include "lua/l_util.h"
#include "lua/modules.h"
#include "metric/complexity.h"
#include "metric/faithfulness.h"

static const char *const outputs[] = {"logit", "softmax", "log_softmax", NULL};
static const char *const anchor_keys[] = {"__arg4", "__opts", NULL};

static int nthreads(lua_State *L) {
    Session *s = l_session(L);
    return s && s->nthreads > 0 ? s->nthreads : 1;
}

/* ---- argument checks ---------------------------------------------------- */

static Tensor *check_batch(lua_State *L, int idx) {
    Tensor *x = l_checktensor(L, idx);
    if (x->ndim < 2 || x->shape[0] < 1) {
        char s[128];
        luaL_argerror(
            L, idx,
            lua_pushfstring(L, "a batch [N, ...] with N >= 1 expected, got %s", tensor_shape_str(x, s, sizeof s)));
    }
    return x;
}

/* Every sample of t finite, else an error naming the first bad sample. */
static void check_finite(lua_State *L, int idx, const Tensor *t, const char *what) {
    const float *p = tensor_data(t);
    int64_t row = tensor_row_numel(t);
    for (int64_t k = 0, n = tensor_numel(t); k < n; k++)
        if (!isfinite(p[k]))
            luaL_argerror(L, idx, lua_pushfstring(L, "%s: sample %d has NaN or Inf", what, (int)(k / row + 1)));
}

static Tensor *check_maps(lua_State *L, int idx, const Tensor *x) {
    Tensor *m = l_checktensor(L, idx);
    if (!tensor_same_shape(m, x)) {
        char a[128], b[128];
        luaL_argerror(L, idx,
                      lua_pushfstring(L, "maps must have the input's shape: maps %s, x %s",
                                      tensor_shape_str(m, a, sizeof a), tensor_shape_str(x, b, sizeof b)));
    }
    check_finite(L, idx, m, "maps");
    return m;
}

/* Options table at idx (nil becomes an empty table) with only `keys`. */
static void check_opts(lua_State *L, int idx, const char *const keys[]) {
    if (lua_isnoneornil(L, idx)) {
        lua_newtable(L);
        lua_replace(L, idx);
    }
    luaL_checktype(L, idx, LUA_TTABLE);
    l_checkoptkeys(L, idx, keys);
}

static int has_opt(lua_State *L, int idx, const char *name) {
    int present = lua_getfield(L, idx, name) != LUA_TNIL;
    lua_pop(L, 1);
    return present;
}

static int64_t opt_count(lua_State *L, int idx, const char *name, lua_Integer def, lua_Integer min) {
    lua_Integer v = l_optinteger(L, idx, name, def);
    if (v < min || v > 100000000)
        l_opterror(L, idx, name, lua_pushfstring(L, "must be an integer in %I..1e8, got %I", min, v));
    return v;
}

static double opt_positive(lua_State *L, int idx, const char *name, double def) {
    double v = l_optnumber(L, idx, name, def);
    if (!(v > 0 && isfinite(v))) l_opterror(L, idx, name, lua_pushfstring(L, "must be a positive number, got %f", v));
    return v;
}

static void opt_baseline(lua_State *L, int idx, const Tensor *x, FaithBaseline *b) {
    memset(b, 0, sizeof *b);
    int t = lua_getfield(L, idx, "baseline");
    if (t == LUA_TNUMBER) {
        double v = lua_tonumber(L, -1);
        if (!isfinite(v)) l_opterror(L, idx, "baseline", "must be finite");
        b->value = (float)v;
    } else if (t != LUA_TNIL) {
        Tensor *bt = l_testtensor(L, -1);
        if (!bt) l_opterror(L, idx, "baseline", "expected a number or a tensor shaped like x or like one sample");
        if (!bt->storage) l_opterror(L, idx, "baseline", "tensor has been freed");
        int64_t row = tensor_row_numel(x);
        int one =
            tensor_numel(bt) == row &&
            ((bt->ndim == x->ndim - 1 && memcmp(bt->shape, x->shape + 1, sizeof(int64_t) * (size_t)bt->ndim) == 0) ||
             (bt->ndim == x->ndim && bt->shape[0] == 1 &&
              memcmp(bt->shape + 1, x->shape + 1, sizeof(int64_t) * (size_t)(bt->ndim - 1)) == 0));
        if (!tensor_same_shape(bt, x) && !one) {
            char a[128], s[128];
            l_opterror(L, idx, "baseline",
                       lua_pushfstring(L, "tensor %s fits neither x %s nor one sample of it",
                                       tensor_shape_str(bt, a, sizeof a), tensor_shape_str(x, s, sizeof s)));
        }
        const float *p = tensor_data(bt);
        for (int64_t k = 0; k < tensor_numel(bt); k++)
            if (!isfinite(p[k])) l_opterror(L, idx, "baseline", "has NaN or Inf");
        b->data = p; /* the tensor stays referenced by the option table */
        b->stride = one ? 0 : row;
    }
    lua_pop(L, 1);
}

/* Error unless `name` is absent: an option that does nothing here is a mistake. */
static void opt_unused(lua_State *L, int idx, const char *name, const char *why) {
    if (has_opt(L, idx, name)) l_opterror(L, idx, name, why);
}

/* ---- model metrics: (model, x, target, arg4, opts) ---------------------- */

/* Checks the common options at 5, then hands (model, x, target) to
 * l_attr_args so targets mean what they mean for attr.* ("predicted", class
 * index, ...). l_attr_args works on stack slots 1-4 and drops the rest, so
 * the option table it gets also anchors arg 4 and the caller's options.
 * Afterwards: 4 = that table, 5 = targets, 6 = arg 4, 7 = the caller's options.
 * The model is in eval mode until done()/fail(). Call it after every other
 * check: it must be the last thing that can raise before the kernel. */
static void begin(lua_State *L, AttrCall *c) {
    int out = l_optchoice(L, 5, "output", "logit", outputs);
    lua_Integer bs = l_optinteger(L, 5, "batch_size", 256);
    if (bs < 1) l_opterror(L, 5, "batch_size", "must be a positive integer");
    lua_Integer seed = (lua_Integer)l_optseed(L, 5);
    lua_createtable(L, 0, 5);
    lua_pushstring(L, outputs[out]);
    lua_setfield(L, -2, "output");
    lua_pushinteger(L, bs);
    lua_setfield(L, -2, "batch_size");
    lua_pushinteger(L, seed);
    lua_setfield(L, -2, "seed");
    lua_pushvalue(L, 4);
    lua_setfield(L, -2, "__arg4");
    lua_pushvalue(L, 5);
    lua_setfield(L, -2, "__opts");
    lua_replace(L, 4);
    lua_settop(L, 4);
    l_attr_args(L, c, anchor_keys);
    lua_getfield(L, 4, "__arg4");
    lua_getfield(L, 4, "__opts");
}

static void done(AttrCall *c) {
    if (c->was_training) model_set_training(c->run.model, 1);
    c->was_training = 0;
}

static int fail(lua_State *L, AttrCall *c, const char *fname) {
    done(c);
    return luaL_error(L, "metric.%s: %s", fname, sn_errmsg());
}

/* A new [N] (or shape) tensor for a result; raises after restoring the model. */
static void result_init(lua_State *L, AttrCall *c, const char *fname, Tensor *t, int ndim, const int64_t *shape) {
    if (tensor_init(t, ndim, shape) != SN_OK) fail(L, c, fname);
}

/* Validates x, the maps and the option keys of a (model, x, target, maps, opts) call. */
static Tensor *model_args(lua_State *L, const char *const keys[], Tensor **maps) {
    lua_settop(L, 5);
    check_opts(L, 5, keys);
    l_checkmodel(L, 1);
    Tensor *x = check_batch(L, 2);
    if (maps) *maps = check_maps(L, 4, x);
    return x;
}

/* ---- infidelity and its perturbations ----------------------------------- */

static void opt_square(lua_State *L, int idx, const FaithGeom *g, PerturbOptions *p) {
    int64_t lim = g->h < g->w ? g->h : g->w;
    p->square_min = 1;
    p->square_max = lim < 10 ? lim : 10;
    int t = lua_getfield(L, idx, "square");
    if (t == LUA_TTABLE) {
        if (luaL_len(L, -1) != 2) l_opterror(L, idx, "square", "expected a side or a table {min, max}");
        int64_t v[2];
        for (int k = 0; k < 2; k++) {
            lua_geti(L, -1, k + 1);
            int ok;
            v[k] = lua_tointegerx(L, -1, &ok);
            if (!ok) l_opterror(L, idx, "square", "entries of {min, max} must be integers");
            lua_pop(L, 1);
        }
        p->square_min = v[0], p->square_max = v[1];
    } else if (t != LUA_TNIL) {
        int ok;
        int64_t v = lua_tointegerx(L, -1, &ok);
        if (!ok || t != LUA_TNUMBER) l_opterror(L, idx, "square", "expected an integer side or a table {min, max}");
        p->square_min = p->square_max = v;
    }
    lua_pop(L, 1);
    if (p->square_min < 1 || p->square_min > p->square_max)
        l_opterror(L, idx, "square",
                   lua_pushfstring(L, "sides must satisfy 1 <= min <= max, got {%I, %I}", (lua_Integer)p->square_min,
                                   (lua_Integer)p->square_max));
    if (p->square_max > lim)
        l_opterror(L, idx, "square",
                   lua_pushfstring(L, "side %I is larger than the image (%I x %I)", (lua_Integer)p->square_max,
                                   (lua_Integer)g->h, (lua_Integer)g->w));
}

/* Reads the perturbation options at idx for batch x (with geometry g). */
static void opt_perturb(lua_State *L, int idx, const Tensor *x, const FaithGeom *g, PerturbOptions *p,
                        FaithBaseline *b) {
    memset(p, 0, sizeof *p);
    p->kind = (PerturbKind)l_optchoice(L, idx, "perturbation", "gaussian", perturb_names);
    p->n = opt_count(L, idx, "n_perturb", 100, 1);
    const char *kname = perturb_names[p->kind];
    static const double sigma_def[] = {0.1, 0.2, 0, 0, 1.0};
    if (p->kind == PERTURB_GAUSSIAN || p->kind == PERTURB_NOISY_BASELINE || p->kind == PERTURB_BLUR)
        p->sigma = opt_positive(L, idx, "sigma", sigma_def[p->kind]);
    else
        opt_unused(L, idx, "sigma", lua_pushfstring(L, "does not apply to perturbation '%s'", kname));
    if (p->kind == PERTURB_SQUARE || p->kind == PERTURB_BLUR) {
        if (!g->image) {
            char s[128];
            luaL_argerror(L, 2,
                          lua_pushfstring(L, "perturbation '%s' needs images [N, C, H, W] or [N, H, W], got %s", kname,
                                          tensor_shape_str(x, s, sizeof s)));
        }
        opt_square(L, idx, g, p);
    } else {
        opt_unused(L, idx, "square", lua_pushfstring(L, "does not apply to perturbation '%s'", kname));
    }
    if (p->kind == PERTURB_MASKING) {
        p->fraction = l_optnumber(L, idx, "fraction", 0.25);
        if (!(p->fraction > 0 && p->fraction <= 1)) l_opterror(L, idx, "fraction", "must be in (0, 1]");
    } else {
        opt_unused(L, idx, "fraction", lua_pushfstring(L, "only applies to perturbation 'masking'"));
    }
    if (p->kind == PERTURB_SQUARE || p->kind == PERTURB_MASKING)
        p->indicator = l_optbool(L, idx, "multiply_by_inputs", 0);
    else
        opt_unused(L, idx, "multiply_by_inputs", "only applies to perturbations 'square_removal' and 'masking'");
    if (p->kind == PERTURB_GAUSSIAN || p->kind == PERTURB_BLUR)
        opt_unused(L, idx, "baseline", lua_pushfstring(L, "does not apply to perturbation '%s'", kname));
    opt_baseline(L, idx, x, b);
}

static const char *const infid_keys[] = {
    "perturbation",       "n_perturb", "normalize", "sigma",      "square", "fraction",
    "multiply_by_inputs", "baseline",  "output",    "batch_size", "seed",   NULL};

static int l_metric_infidelity(lua_State *L) {
    Tensor *maps, *x = model_args(L, infid_keys, &maps);
    FaithGeom g;
    faith_geom(x, &g);
    PerturbOptions p;
    FaithBaseline b;
    opt_perturb(L, 5, x, &g, &p, &b);
    int normalize = l_optbool(L, 5, "normalize", 0);
    AttrCall c;
    begin(L, &c);
    Tensor out;
    result_init(L, &c, "infidelity", &out, 1, &g.n);
    if (faith_infidelity(&c.run, c.x, c.targets, maps, &b, &p, normalize, tensor_data(&out)) != SN_OK) {
        tensor_release(&out);
        return fail(L, &c, "infidelity");
    }
    done(&c);
    l_pushtensor_move(L, &out);
    return 1;
}

static const char *const perturb_keys[] = {"perturbation",       "n_perturb", "sigma", "square", "fraction",
                                           "multiply_by_inputs", "baseline",  "seed",  NULL};

static int l_metric_perturbations(lua_State *L) {
    lua_settop(L, 2);
    check_opts(L, 2, perturb_keys);
    Tensor *x = check_batch(L, 1);
    if (x->ndim + 1 > TENSOR_MAX_DIMS) luaL_argerror(L, 1, "at most 7 dimensions");
    FaithGeom g;
    faith_geom(x, &g);
    PerturbOptions p;
    FaithBaseline b;
    opt_perturb(L, 2, x, &g, &p, &b);
    uint64_t seed = l_optseed(L, 2);
    int64_t shape[TENSOR_MAX_DIMS];
    shape[0] = g.n, shape[1] = p.n;
    memcpy(shape + 2, x->shape + 1, sizeof(int64_t) * (size_t)(x->ndim - 1));
    Tensor *xp = l_pushtensor(L, x->ndim + 1, shape), *I = l_pushtensor(L, x->ndim + 1, shape);
    if (faith_perturbations(x, &p, &b, seed, tensor_data(xp), tensor_data(I), nthreads(L)) != SN_OK)
        return luaL_error(L, "metric.perturbations: %s", sn_errmsg());
    return 2;
}

/* ---- sensitivity -------------------------------------------------------- */

/* no output/batch_size here: they belong to the explanations (method_opts) */
static const char *const sens_keys[] = {"radius", "n", "norm", "normalize", "method_opts", "seed", NULL};
static const char *const sens_norms[] = {"l2", "fro", "linf", NULL};

/* Pushes "a, b, c" of attr.list(). */
static const char *attr_names(lua_State *L, int attr) {
    lua_getfield(L, attr, "list");
    lua_call(L, 0, 1);
    int lst = lua_gettop(L);
    luaL_Buffer buf;
    luaL_buffinit(L, &buf);
    for (lua_Integer k = 1, n = luaL_len(L, lst); k <= n; k++) {
        lua_geti(L, lst, k);
        if (k > 1) luaL_addstring(&buf, ", ");
        luaL_addvalue(&buf);
    }
    luaL_pushresult(&buf);
    return lua_tostring(L, -1);
}

/* Calls the method at `fn` on the tensor at `xi`; leaves the map on the stack. */
static Tensor *explain(lua_State *L, AttrCall *c, int fn, int xi, const char *method, const char *fname) {
    lua_pushvalue(L, fn);
    lua_pushvalue(L, 1);
    lua_pushvalue(L, xi);
    lua_pushvalue(L, 8); /* targets as a tensor */
    lua_getfield(L, 7, "method_opts");
    if (lua_pcall(L, 4, 1, 0) != LUA_OK) {
        done(c);
        luaL_error(L, "metric.%s: re-explaining with %s: %s", fname, method, lua_tostring(L, -1));
        return NULL;
    }
    Tensor *m = l_testtensor(L, -1);
    if (!m || !m->storage || m->ndim < 1 || m->shape[0] != c->n) {
        done(c);
        luaL_error(L, "metric.%s: %s did not return a map tensor [N, ...] for N = %d", fname, method, (int)c->n);
        return NULL;
    }
    return m;
}

static int sensitivity(lua_State *L, int want_max) {
    const char *fname = want_max ? "sensitivity_max" : "sensitivity_avg";
    lua_settop(L, 5);
    check_opts(L, 5, sens_keys);
    l_checkmodel(L, 1);
    check_batch(L, 2);
    int is_fn = lua_isfunction(L, 4);
    const char *method = is_fn ? "function" : luaL_checkstring(L, 4);
    double radius = l_optnumber(L, 5, "radius", 0.02);
    if (!(radius > 0 && isfinite(radius)))
        l_opterror(L, 5, "radius", lua_pushfstring(L, "must be a positive number, got %f", radius));
    int64_t n = opt_count(L, 5, "n", 20, 1);
    int norm = l_optchoice(L, 5, "norm", "l2", sens_norms);
    int normalize = l_optbool(L, 5, "normalize", 1);
    int t = lua_getfield(L, 5, "method_opts");
    if (t != LUA_TNIL && t != LUA_TTABLE) l_opterror(L, 5, "method_opts", "expected a table of attr options");
    lua_pop(L, 1);
    if (!is_fn) {
        luaL_requiref(L, "sanity.attr", luaopen_sanity_attr, 0);
        int attr = lua_gettop(L);
        if (method[0] == '_' || lua_getfield(L, attr, method) != LUA_TFUNCTION)
            luaL_argerror(
                L, 4, lua_pushfstring(L, "unknown attribution method '%s' (known: %s)", method, attr_names(L, attr)));
        lua_settop(L, 5);
    }
    char label[96]; /* for messages; the method's name is not on the stack throughout */
    snprintf(label, sizeof label, is_fn ? "the method function" : "'%.80s'", method);
    method = label;
    AttrCall c;
    begin(L, &c); /* 4 anchor, 5 targets (userdata), 6 method, 7 opts */
    uint64_t seed = c.run.seed;
    int64_t nn = c.n;
    Tensor tg;
    result_init(L, &c, fname, &tg, 1, &nn);
    memcpy(tensor_data(&tg), c.targets, sizeof(float) * (size_t)nn);
    l_pushtensor_move(L, &tg); /* 8 */
    if (is_fn) {
        lua_pushvalue(L, 6); /* 9: the method */
    } else {
        luaL_requiref(L, "sanity.attr", luaopen_sanity_attr, 0);
        lua_getfield(L, -1, lua_tostring(L, 6));
        lua_replace(L, -2); /* 9: the method */
    }
    Tensor *phi0 = explain(L, &c, 9, 2, method, fname);                       /* 10 */
    double *acc = lua_newuserdatauv(L, sizeof(double) * (size_t)(2 * nn), 0); /* 11: max, sum */
    memset(acc, 0, sizeof(double) * (size_t)(2 * nn));
    for (int64_t d = 0; d < n; d++) {
        Tensor xd;
        if (faith_linf_noise(c.x, radius, seed, d, &xd, nthreads(L)) != SN_OK) return fail(L, &c, fname);
        l_pushtensor_move(L, &xd);
        Tensor *phid = explain(L, &c, 9, lua_gettop(L), method, fname);
        if (!tensor_same_shape(phid, phi0)) {
            done(&c);
            return luaL_error(L, "metric.%s: %s returned maps of different shapes for x and x'", fname, method);
        }
        faith_sensitivity_update(phi0, phid, norm == 2 ? SENS_NORM_LINF : SENS_NORM_L2, normalize, acc, acc + nn);
        lua_pop(L, 2);
    }
    done(&c);
    Tensor *mx = l_pushtensor(L, 1, &nn), *av = l_pushtensor(L, 1, &nn);
    for (int64_t i = 0; i < nn; i++) {
        tensor_data(mx)[i] = (float)acc[i];
        tensor_data(av)[i] = (float)(acc[nn + i] / (double)n);
    }
    if (!want_max) lua_rotate(L, -2, 1);
    return 2;
}

static int l_metric_sensitivity_max(lua_State *L) {
    return sensitivity(L, 1);
}
static int l_metric_sensitivity_avg(lua_State *L) {
    return sensitivity(L, 0);
}

/* ---- faithfulness correlation, pixel flipping, completeness ------------- */

static const char *const corr_keys[] = {"subset_size", "n", "baseline", "output", "batch_size", "seed", NULL};

static int l_metric_faithfulness_correlation(lua_State *L) {
    Tensor *maps, *x = model_args(L, corr_keys, &maps);
    FaithGeom g;
    faith_geom(x, &g);
    int64_t def = (int64_t)llround((double)g.f / 10.0);
    int64_t subset = opt_count(L, 5, "subset_size", def < 1 ? 1 : def, 1);
    if (subset > g.f)
        l_opterror(
            L, 5, "subset_size",
            lua_pushfstring(L, "%I is more than the %I features of a sample", (lua_Integer)subset, (lua_Integer)g.f));
    int64_t n = opt_count(L, 5, "n", 100, 2);
    FaithBaseline b;
    opt_baseline(L, 5, x, &b);
    AttrCall c;
    begin(L, &c);
    Tensor out;
    result_init(L, &c, "faithfulness_correlation", &out, 1, &g.n);
    if (faith_correlation(&c.run, c.x, c.targets, maps, &b, subset, n, tensor_data(&out)) != SN_OK) {
        tensor_release(&out);
        return fail(L, &c, "faithfulness_correlation");
    }
    done(&c);
    l_pushtensor_move(L, &out);
    return 1;
}

static const char *const flip_keys[] = {"order", "patch", "steps", "baseline", "output", "batch_size", "seed", NULL};
static const char *const flip_orders[] = {"morf", "lerf", NULL};

static int l_metric_pixel_flipping(lua_State *L) {
    Tensor *maps, *x = model_args(L, flip_keys, &maps);
    FaithGeom g;
    faith_geom(x, &g);
    int morf = l_optchoice(L, 5, "order", "morf", flip_orders) == 0;
    int64_t patch = opt_count(L, 5, "patch", 1, 1);
    int64_t lim = g.h > g.w ? g.h : g.w;
    if (patch > 1 && !g.image) {
        char s[128];
        l_opterror(L, 5, "patch",
                   lua_pushfstring(L, "patches need images [N, C, H, W] or [N, H, W], got %s",
                                   tensor_shape_str(x, s, sizeof s)));
    }
    if (patch > lim)
        l_opterror(L, 5, "patch",
                   lua_pushfstring(L, "%I is larger than the image (%I x %I)", (lua_Integer)patch, (lua_Integer)g.h,
                                   (lua_Integer)g.w));
    int64_t P = faith_num_patches(&g, patch);
    int64_t steps = opt_count(L, 5, "steps", P < 100 ? P : 100, 1);
    if (steps > P)
        l_opterror(L, 5, "steps",
                   lua_pushfstring(L, "%I steps for %I patches (at most one step per patch)", (lua_Integer)steps,
                                   (lua_Integer)P));
    FaithBaseline b;
    opt_baseline(L, 5, x, &b);
    AttrCall c;
    begin(L, &c);
    Tensor curve, auc;
    int64_t shape[2] = {g.n, steps + 1};
    result_init(L, &c, "pixel_flipping", &curve, 2, shape);
    if (tensor_init(&auc, 1, &g.n) != SN_OK) {
        tensor_release(&curve);
        return fail(L, &c, "pixel_flipping");
    }
    if (faith_pixel_flipping(&c.run, c.x, c.targets, maps, &b, morf, patch, steps, tensor_data(&curve),
                             tensor_data(&auc)) != SN_OK) {
        tensor_release(&curve), tensor_release(&auc);
        return fail(L, &c, "pixel_flipping");
    }
    done(&c);
    l_pushtensor_move(L, &curve);
    l_pushtensor_move(L, &auc);
    return 2;
}

static const char *const compl_keys[] = {"baseline", "output", "batch_size", "seed", NULL};

static int l_metric_completeness(lua_State *L) {
    Tensor *maps, *x = model_args(L, compl_keys, &maps);
    FaithBaseline b;
    opt_baseline(L, 5, x, &b);
    AttrCall c;
    begin(L, &c);
    int64_t n = c.n;
    Tensor ab, sg;
    result_init(L, &c, "completeness", &ab, 1, &n);
    if (tensor_init(&sg, 1, &n) != SN_OK) {
        tensor_release(&ab);
        return fail(L, &c, "completeness");
    }
    if (faith_completeness(&c.run, c.x, c.targets, maps, &b, tensor_data(&ab), tensor_data(&sg)) != SN_OK) {
        tensor_release(&ab), tensor_release(&sg);
        return fail(L, &c, "completeness");
    }
    done(&c);
    l_pushtensor_move(L, &ab);
    l_pushtensor_move(L, &sg);
    return 2;
}

/* ---- sufficiency: (model, x, maps, opts), no target --------------------- */

static const char *const suff_keys[] = {"threshold", "distance", "batch_size", NULL};
static const char *const suff_dists[] = {"euclidean", "cosine", NULL};

static int l_metric_sufficiency(lua_State *L) {
    lua_settop(L, 4);
    check_opts(L, 4, suff_keys);
    Model *m = l_checkmodel(L, 1);
    Tensor *x = check_batch(L, 2), *maps = check_maps(L, 3, x);
    double threshold = l_optnumber(L, 4, "threshold", 0.6);
    if (!(threshold >= 0 && threshold <= 1)) l_opterror(L, 4, "threshold", "must be in [0, 1]");
    SuffDistance dist = (SuffDistance)l_optchoice(L, 4, "distance", "euclidean", suff_dists);
    lua_Integer bs = l_optinteger(L, 4, "batch_size", 256);
    if (bs < 1) l_opterror(L, 4, "batch_size", "must be a positive integer");
    int64_t n = x->shape[0];
    Tensor *out = l_pushtensor(L, 1, &n);
    AttrRun r = {m, nthreads(L), 0, bs, ATTR_LOGIT};
    int was_training = m->training;
    if (was_training) model_set_training(m, 0);
    int rc = faith_sufficiency(&r, x, maps, threshold, dist, tensor_data(out));
    if (was_training) model_set_training(m, 1);
    if (rc != SN_OK) return luaL_error(L, "metric.sufficiency: %s", sn_errmsg());
    return 1;
}

/* ---- complexity --------------------------------------------------------- */

static int map_stat(lua_State *L, int (*fn)(const Tensor *, float *, int)) {
    Tensor *maps = check_batch(L, 1);
    check_finite(L, 1, maps, "maps");
    luaL_argcheck(L, tensor_row_numel(maps) >= 1, 1, "maps have no elements");
    int64_t n = maps->shape[0];
    Tensor *out = l_pushtensor(L, 1, &n);
    if (fn(maps, tensor_data(out), nthreads(L)) != SN_OK) return l_raise(L);
    return 1;
}

static int l_metric_sparseness(lua_State *L) {
    return map_stat(L, complexity_sparseness);
}
static int l_metric_complexity(lua_State *L) {
    return map_stat(L, complexity_entropy);
}

static const luaL_Reg faith_funcs[] = {{"infidelity", l_metric_infidelity},
                                       {"perturbations", l_metric_perturbations},
                                       {"sensitivity_max", l_metric_sensitivity_max},
                                       {"sensitivity_avg", l_metric_sensitivity_avg},
                                       {"faithfulness_correlation", l_metric_faithfulness_correlation},
                                       {"pixel_flipping", l_metric_pixel_flipping},
                                       {"sufficiency", l_metric_sufficiency},
                                       {"completeness", l_metric_completeness},
                                       {"sparseness", l_metric_sparseness},
                                       {"complexity", l_metric_complexity},
                                       {NULL, NULL}};

void l_metric_faith_register(lua_State *L) {
    luaL_setfuncs(L, faith_funcs, 0);
}
