/* l_metric.c — the `metric` module: similarity of explanation maps and the
 * statistics that compare them. Converts Lua arguments and calls
 * runtime/metric/similarity.c and stats.c; holds no numeric code.
 *
 * Similarities (a, b: tensors of one shape [N, ...]; result: tensor [N]):
 *   metric.spearman(a, b [, {abs=false}])  rank correlation, ties averaged
 *   metric.pearson(a, b [, {abs}])         metric.cosine(a, b [, {abs}])
 *   metric.mse(a, b [, {abs}])             metric.mae(a, b [, {abs}])
 *   metric.ssim(a, b [, {abs, data_range}])  maps [N,H,W] or [N,C,H,W], H,W >= 11
 *   metric.hog(a, b [, {abs, orientations=9, pixels_per_cell=8 | {r,c},
 *              cells_per_block=3 | {r,c}, block_norm="L2-Hys"}])
 *   metric.topk_intersection(a, b, {k=})   share of a's k largest |values| among b's
 *   metric.similarity(name, a, b [, opts]) any of the above by name
 *   metric.similarities()                  the valid names, in a table
 *   metric.hog_descriptor(x [, opts])      HOG descriptors [N, L] (skimage.feature.hog)
 * Conventions: abs=true compares |a| with |b| (top-k always ranks |values|,
 * so abs changes nothing there). A constant map (zero variance)
 * gives correlation 0 (spearman, pearson, hog) and an all-zero map gives
 * cosine 0: never NaN (scipy would say NaN). Spearman ties get average ranks;
 * top-k ties go to the lower flat index. SSIM is skimage's
 * structural_similarity(gaussian_weights=True, sigma=1.5,
 * use_sample_covariance=False); data_range defaults to max(a,b) - min(a,b)
 * of each pair (as Quantus), per-channel means are averaged, and two equal
 * constant maps give 1. NaN or Inf inputs are an error naming the sample.
 *
 * Statistics (x, y: 1-D tensors or Lua arrays of numbers):
 *   metric.ttest_welch(x, y [, {alternative="two-sided"|"less"|"greater"}])
 *   metric.ttest_paired(x, y [, {alternative}])
 *   metric.ttest_1samp(x, mu [, {alternative}])   each -> {t=, df=, p=}
 *   metric.permutation_test(x, y [, {n=10000, paired=false, alternative,
 *                           statistic="mean_diff", seed, stream}]) -> p
 *   metric.bootstrap_ci(x [, {n=10000, level=0.95, statistic="mean"|"median",
 *                       seed, stream}]) -> lo, hi
 * "less" tests mean(x) < mean(y) (or < mu). Zero variance: t = 0 (p = 1
 * two-sided) when the means agree, else t = +-inf (p = 0): never NaN. The
 * permutation p is (1 + #{resamples at least as extreme}) / (n + 1), as
 * scipy.stats.permutation_test; the bootstrap interval is the percentile
 * method with numpy's linear quantiles. See runtime/metric/stats.h.
 *
 * Faithfulness, robustness and complexity metrics (infidelity, sensitivity,
 * pixel flipping, ...) are added to this table by l_metric_faith.c. */
#include <gsl/gsl_errno.h>
#include <lauxlib.h>
#include <lua.h>
#include <math.h>
#include <string.h>

#include "error.h"
#include "lua/l_metric_faith.h"
#include "lua/l_util.h"
#include "lua/modules.h"
#include "metric/histogram.h"
#include "metric/similarity.h"
#include "metric/stats.h"

static int nthreads(lua_State *L) {
    Session *s = l_session(L);
    return s && s->nthreads > 0 ? s->nthreads : 1;
}

/* ---- similarities ------------------------------------------------------ */

static const char *const hog_norms[] = {"L1", "L1-sqrt", "L2", "L2-Hys", NULL};
static const char *const base_keys[] = {"abs", NULL};
static const char *const ssim_keys[] = {"abs", "data_range", NULL};
static const char *const hog_keys[] = {"abs", "orientations", "pixels_per_cell", "cells_per_block", "block_norm",
                                       NULL};
static const char *const topk_keys[] = {"abs", "k", NULL};

/* opts[name]: an integer n (meaning n x n) or a table {rows, cols}. */
static void opt_pair(lua_State *L, int idx, const char *name, int def, int out[2]) {
    out[0] = out[1] = def;
    if (lua_isnoneornil(L, idx)) return;
    int t = lua_getfield(L, idx, name);
    if (t == LUA_TTABLE) {
        if (luaL_len(L, -1) != 2) l_opterror(L, idx, name, "expected an integer or a table {rows, cols}");
        for (int i = 0; i < 2; i++) {
            lua_geti(L, -1, i + 1);
            int ok;
            lua_Integer v = lua_tointegerx(L, -1, &ok);
            if (!ok || v < 1 || v > 4096) l_opterror(L, idx, name, "entries must be integers in 1..4096");
            out[i] = (int)v;
            lua_pop(L, 1);
        }
    } else if (t != LUA_TNIL) {
        int ok;
        lua_Integer v = lua_tointegerx(L, -1, &ok);
        if (!ok || t != LUA_TNUMBER || v < 1 || v > 4096)
            l_opterror(L, idx, name, "expected an integer in 1..4096 or a table {rows, cols}");
        out[0] = out[1] = (int)v;
    }
    lua_pop(L, 1);
}

static void read_hog_options(lua_State *L, int idx, HogOptions *h) {
    hog_default_options(h);
    lua_Integer no = l_optinteger(L, idx, "orientations", 9);
    if (no < 1 || no > 360) l_opterror(L, idx, "orientations", "must be in 1..360");
    h->orientations = (int)no;
    opt_pair(L, idx, "pixels_per_cell", 8, h->cell);
    opt_pair(L, idx, "cells_per_block", 3, h->block);
    h->norm = (HogNorm)l_optchoice(L, idx, "block_norm", "L2-Hys", hog_norms);
}

/* 1 when the option table at idx has a non-nil `name`. */
static int has_opt(lua_State *L, int idx, const char *name) {
    if (lua_isnoneornil(L, idx)) return 0;
    int present = lua_getfield(L, idx, name) != LUA_TNIL;
    lua_pop(L, 1);
    return present;
}

/* Reads the options of `kind` at idx into o (unknown keys are an error). */
static void read_sim_options(lua_State *L, int idx, SimKind kind, SimOptions *o) {
    similarity_default_options(o);
    const char *const *keys = kind == SIM_SSIM ? ssim_keys : kind == SIM_HOG ? hog_keys : kind == SIM_TOPK ? topk_keys
                                                                                                          : base_keys;
    l_checkoptkeys(L, idx, keys);
    o->abs = l_optbool(L, idx, "abs", 0);
    if (kind == SIM_SSIM) {
        o->data_range = l_optnumber(L, idx, "data_range", 0);
        if (has_opt(L, idx, "data_range") && !(o->data_range > 0 && isfinite(o->data_range)))
            l_opterror(L, idx, "data_range", "must be a positive number (omit it to infer max - min of each pair)");
    } else if (kind == SIM_HOG) {
        read_hog_options(L, idx, &o->hog);
    } else if (kind == SIM_TOPK) {
        if (!has_opt(L, idx, "k")) l_opterror(L, idx, "k", "required: the number of top features to compare");
        o->k = l_optinteger(L, idx, "k", 0);
    }
}

/* Similarity `kind` of the tensors at a_idx, b_idx with options at o_idx. */
static int push_similarity(lua_State *L, SimKind kind, int a_idx, int b_idx, int o_idx) {
    const char *name = similarity_names[kind];
    Tensor *a = l_checktensor(L, a_idx), *b = l_checktensor(L, b_idx);
    SimOptions o;
    read_sim_options(L, o_idx, kind, &o);
    if (similarity_check(kind, a, b, &o) != SN_OK) return luaL_error(L, "metric.%s: %s", name, sn_errmsg());
    int64_t n = a->shape[0];
    Tensor *out = l_pushtensor(L, 1, &n);
    if (similarity_batch(kind, a, b, &o, out, nthreads(L)) != SN_OK)
        return luaL_error(L, "metric.%s: %s", name, sn_errmsg());
    return 1;
}

static int l_metric_spearman(lua_State *L) { return push_similarity(L, SIM_SPEARMAN, 1, 2, 3); }
static int l_metric_pearson(lua_State *L) { return push_similarity(L, SIM_PEARSON, 1, 2, 3); }
static int l_metric_cosine(lua_State *L) { return push_similarity(L, SIM_COSINE, 1, 2, 3); }
static int l_metric_mse(lua_State *L) { return push_similarity(L, SIM_MSE, 1, 2, 3); }
static int l_metric_mae(lua_State *L) { return push_similarity(L, SIM_MAE, 1, 2, 3); }
static int l_metric_ssim(lua_State *L) { return push_similarity(L, SIM_SSIM, 1, 2, 3); }
static int l_metric_hog(lua_State *L) { return push_similarity(L, SIM_HOG, 1, 2, 3); }
static int l_metric_topk(lua_State *L) { return push_similarity(L, SIM_TOPK, 1, 2, 3); }

static int l_metric_similarity(lua_State *L) {
    const char *name = luaL_checkstring(L, 1);
    int kind = similarity_find(name);
    if (kind < 0) {
        const char *valid = l_joinlist(L, similarity_names);
        return luaL_argerror(L, 1, lua_pushfstring(L, "unknown similarity '%s' (valid: %s)", name, valid));
    }
    return push_similarity(L, (SimKind)kind, 2, 3, 4);
}

static int l_metric_similarities(lua_State *L) {
    lua_createtable(L, SIM_COUNT, 0);
    for (int i = 0; similarity_names[i]; i++) {
        lua_pushstring(L, similarity_names[i]);
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

static int l_metric_hog_descriptor(lua_State *L) {
    Tensor *x = l_checktensor(L, 1);
    l_checkoptkeys(L, 2, hog_keys);
    int abs = l_optbool(L, 2, "abs", 0);
    HogOptions h;
    read_hog_options(L, 2, &h);
    if (hog_check(x, &h) != SN_OK) return luaL_error(L, "metric.hog_descriptor: %s", sn_errmsg());
    int64_t shape[2] = {x->shape[0], hog_length(x->shape[x->ndim - 2], x->shape[x->ndim - 1], &h)};
    Tensor *out = l_pushtensor(L, 2, shape);
    if (hog_batch(x, &h, abs, out, nthreads(L)) != SN_OK)
        return luaL_error(L, "metric.hog_descriptor: %s", sn_errmsg());
    return 1;
}

/* ---- statistics -------------------------------------------------------- */

/* The sample at `arg` (1-D tensor or array of numbers) as doubles, in a
 * userdata pushed on the stack (so an error later frees it). */
static double *check_sample(lua_State *L, int arg, int64_t *n) {
    Tensor *t = l_testtensor(L, arg);
    double *d;
    if (t) {
        t = l_checktensor(L, arg); /* raises if freed */
        char s[128];
        if (t->ndim != 1)
            luaL_argerror(L, arg, lua_pushfstring(L, "1-D tensor expected, got %s", tensor_shape_str(t, s, sizeof s)));
        *n = t->shape[0];
        d = lua_newuserdatauv(L, (size_t)(*n ? *n : 1) * sizeof *d, 0);
        const float *p = tensor_data(t);
        for (int64_t i = 0; i < *n; i++) d[i] = p[i];
    } else {
        if (!lua_istable(L, arg))
            luaL_argerror(L, arg,
                          lua_pushfstring(L, "tensor or array of numbers expected, got %s", luaL_typename(L, arg)));
        *n = (int64_t)luaL_len(L, arg);
        d = lua_newuserdatauv(L, (size_t)(*n ? *n : 1) * sizeof *d, 0);
        for (int64_t i = 0; i < *n; i++) {
            int ty = lua_geti(L, arg, i + 1);
            if (ty != LUA_TNUMBER)
                luaL_argerror(L, arg, lua_pushfstring(L, "entry %I is not a number (got %s)", (lua_Integer)(i + 1),
                                                      luaL_typename(L, -1)));
            d[i] = lua_tonumber(L, -1);
            lua_pop(L, 1);
        }
    }
    for (int64_t i = 0; i < *n; i++)
        if (!isfinite(d[i])) luaL_argerror(L, arg, lua_pushfstring(L, "entry %I is NaN or Inf", (lua_Integer)(i + 1)));
    return d;
}

static void check_count(lua_State *L, int arg, int64_t n, int64_t min) {
    if (n < min)
        luaL_argerror(L, arg, lua_pushfstring(L, "at least %d values needed, got %d", (int)min, (int)n));
}

static void check_same_length(lua_State *L, int64_t nx, int64_t ny, const char *what) {
    if (nx != ny)
        luaL_argerror(L, 2, lua_pushfstring(L, "x and y must have the same length for %s, got %d and %d", what,
                                            (int)nx, (int)ny));
}

static const char *const ttest_keys[] = {"alternative", NULL};

static int push_ttest(lua_State *L, const TTest *r) {
    lua_createtable(L, 0, 3);
    lua_pushnumber(L, r->t);
    lua_setfield(L, -2, "t");
    lua_pushnumber(L, r->df);
    lua_setfield(L, -2, "df");
    lua_pushnumber(L, r->p);
    lua_setfield(L, -2, "p");
    return 1;
}

static Alternative opt_alternative(lua_State *L, int idx) {
    return (Alternative)l_optchoice(L, idx, "alternative", "two-sided", stats_alternatives);
}

static int l_metric_ttest_welch(lua_State *L) {
    int64_t nx, ny;
    l_checkoptkeys(L, 3, ttest_keys);
    Alternative alt = opt_alternative(L, 3);
    const double *x = check_sample(L, 1, &nx), *y = check_sample(L, 2, &ny);
    check_count(L, 1, nx, 2);
    check_count(L, 2, ny, 2);
    TTest r;
    stats_ttest_welch(x, nx, y, ny, alt, &r);
    return push_ttest(L, &r);
}

static int l_metric_ttest_paired(lua_State *L) {
    int64_t nx, ny;
    l_checkoptkeys(L, 3, ttest_keys);
    Alternative alt = opt_alternative(L, 3);
    const double *x = check_sample(L, 1, &nx), *y = check_sample(L, 2, &ny);
    check_same_length(L, nx, ny, "a paired test");
    check_count(L, 1, nx, 2);
    TTest r;
    stats_ttest_paired(x, y, nx, alt, &r);
    return push_ttest(L, &r);
}

static int l_metric_ttest_1samp(lua_State *L) {
    int64_t nx;
    double mu = luaL_checknumber(L, 2);
    luaL_argcheck(L, isfinite(mu), 2, "mu must be finite");
    l_checkoptkeys(L, 3, ttest_keys);
    Alternative alt = opt_alternative(L, 3);
    const double *x = check_sample(L, 1, &nx);
    check_count(L, 1, nx, 2);
    TTest r;
    stats_ttest_1samp(x, nx, mu, alt, &r);
    return push_ttest(L, &r);
}

static int64_t opt_resamples(lua_State *L, int idx) {
    lua_Integer n = l_optinteger(L, idx, "n", 10000);
    if (n < 1 || n > 100000000) l_opterror(L, idx, "n", lua_pushfstring(L, "must be in 1..1e8, got %I", n));
    return n;
}

static const char *const perm_keys[] = {"n", "paired", "alternative", "statistic", "seed", "stream", NULL};
static const char *const perm_statistics[] = {"mean_diff", NULL};

static int l_metric_permutation_test(lua_State *L) {
    l_checkoptkeys(L, 3, perm_keys);
    PermOptions o = {.n = opt_resamples(L, 3), .paired = l_optbool(L, 3, "paired", 0), .alt = opt_alternative(L, 3)};
    l_optchoice(L, 3, "statistic", "mean_diff", perm_statistics);
    o.seed = l_optseed(L, 3);
    o.stream = l_optstream(L, 3, "metric.permutation_test");
    int64_t nx, ny;
    const double *x = check_sample(L, 1, &nx), *y = check_sample(L, 2, &ny);
    check_count(L, 1, nx, 1);
    check_count(L, 2, ny, 1);
    if (o.paired) check_same_length(L, nx, ny, "a paired test");
    double p;
    if (stats_permutation_test(x, nx, y, ny, &o, &p, nthreads(L)) != SN_OK)
        return luaL_error(L, "metric.permutation_test: %s", sn_errmsg());
    lua_pushnumber(L, p);
    return 1;
}

static const char *const boot_keys[] = {"n", "level", "statistic", "seed", "stream", NULL};

static int l_metric_bootstrap_ci(lua_State *L) {
    l_checkoptkeys(L, 2, boot_keys);
    BootOptions o = {.n = opt_resamples(L, 2), .level = l_optnumber(L, 2, "level", 0.95)};
    if (!(o.level > 0 && o.level < 1)) l_opterror(L, 2, "level", "must be in (0, 1), e.g. 0.95");
    o.statistic = (BootStatistic)l_optchoice(L, 2, "statistic", "mean", stats_boot_statistics);
    o.seed = l_optseed(L, 2);
    o.stream = l_optstream(L, 2, "metric.bootstrap_ci");
    int64_t nx;
    const double *x = check_sample(L, 1, &nx);
    check_count(L, 1, nx, 1);
    double lo, hi;
    if (stats_bootstrap_ci(x, nx, &o, &lo, &hi, nthreads(L)) != SN_OK)
        return luaL_error(L, "metric.bootstrap_ci: %s", sn_errmsg());
    lua_pushnumber(L, lo);
    lua_pushnumber(L, hi);
    return 2;
}

/* metric.histogram_entropy(maps, {bins=100}) -> [N]: discrete entropy of
 * each sample's values (eMPRT's complexity; metric/histogram.h). */
static int l_metric_histogram_entropy(lua_State *L) {
    Tensor *a = l_checktensor(L, 1);
    static const char *const opts[] = {"bins", NULL};
    l_checkoptkeys(L, 2, opts);
    lua_Integer bins = l_optinteger(L, 2, "bins", 100);
    if (bins < 1 || bins > 1 << 20) l_opterror(L, 2, "bins", "must be in 1..2^20");
    if (a->ndim < 2 || a->shape[0] < 1 || tensor_row_numel(a) < 1) {
        char s[128];
        return luaL_argerror(L, 1, lua_pushfstring(L, "maps [N, ...] expected, got %s", tensor_shape_str(a, s, sizeof s)));
    }
    int64_t n = a->shape[0];
    Tensor *out = l_pushtensor(L, 1, &n);
    if (histogram_entropy(tensor_data(out), tensor_data(a), n, tensor_row_numel(a), (int)bins,
                          l_session(L) ? l_session(L)->nthreads : 1) != SN_OK)
        return l_raise(L);
    return 1;
}

static const luaL_Reg metric_funcs[] = {
    {"histogram_entropy", l_metric_histogram_entropy},
    {"spearman", l_metric_spearman},
    {"pearson", l_metric_pearson},
    {"cosine", l_metric_cosine},
    {"mse", l_metric_mse},
    {"mae", l_metric_mae},
    {"ssim", l_metric_ssim},
    {"hog", l_metric_hog},
    {"topk_intersection", l_metric_topk},
    {"similarity", l_metric_similarity},
    {"similarities", l_metric_similarities},
    {"hog_descriptor", l_metric_hog_descriptor},
    {"ttest_welch", l_metric_ttest_welch},
    {"ttest_paired", l_metric_ttest_paired},
    {"ttest_1samp", l_metric_ttest_1samp},
    {"permutation_test", l_metric_permutation_test},
    {"bootstrap_ci", l_metric_bootstrap_ci},
    {NULL, NULL}};

int luaopen_sanity_metric(lua_State *L) {
    /* GSL's default error handler calls abort(); our inputs never reach its
     * error paths, but a library must not be able to kill the process. */
    gsl_set_error_handler_off();
    luaL_newlib(L, metric_funcs);
    l_metric_faith_register(L); /* faithfulness, robustness, complexity */
    return 1;
}
