/* l_attr_integrated.c — bindings of the path-integral family (attr/integrated.h):
 *   attr.integrated_gradients(model, x, target, opts) -> map, gap
 *     steps      32: quadrature nodes per sample (>= 1; >= 2 for riemann_trapezoid)
 *     rule       "gausslegendre" (default, as Captum) | "riemann_left" |
 *                "riemann_right" | "riemann_middle" | "riemann_trapezoid"
 *     baseline   "zeros" (default) | "uniform" (keyed noise in each sample's
 *                [min, max]) | "blur" (Gaussian blur of x) | a number (constant)
 *                | a tensor shaped like x, [1, ...] or one sample's shape
 *     blur_sigma 5: the blur baseline's standard deviation in pixels (>= 0)
 *     gap: a tensor [N], the completeness gap sum(map_i) - (f(x_i) - f(x'_i))
 *     of the raw map (before abs/reduce/normalize).
 *   attr.gradient_shap(model, x, target, opts) -> map
 *     baselines  tensor [B, ...] (or one sample's shape) to draw baselines
 *                from; default: one all-zero baseline
 *     n          5: draws per sample (as Captum's n_samples)
 *     stdev      0: Gaussian noise added to x, absolute (Captum's stdevs)
 * Common arguments and options: l_attr.h. */
#include <string.h>

#include "attr/integrated.h"
#include "error.h"
#include "lua/l_attr.h"
#include "lua/l_util.h"

static const char *const ig_opts[] = {"steps", "rule", "baseline", "blur_sigma", NULL};
static const char *const ig_rules[] = {"riemann_left", "riemann_right", "riemann_middle", "riemann_trapezoid",
                                       "gausslegendre", NULL};

/* Checks that t fits x: [N, ...] (any number of rows when `any_rows`),
 * [1, ...] or one sample's shape [...]; *rows gets its number of rows.
 * Raises naming both shapes otherwise. */
static Tensor *check_sample_shaped(lua_State *L, const Tensor *x, Tensor *t, const char *name, int any_rows,
                                   int64_t *rows) {
    int per = x->ndim - 1;
    int same_rest = 0;
    if (t->ndim == x->ndim) {
        same_rest = memcmp(t->shape + 1, x->shape + 1, sizeof(int64_t) * (size_t)per) == 0;
        if (same_rest && (any_rows ? 1 : (t->shape[0] == x->shape[0] || t->shape[0] == 1))) {
            *rows = t->shape[0];
            return t;
        }
    } else if (t->ndim == per && memcmp(t->shape, x->shape + 1, sizeof(int64_t) * (size_t)per) == 0) {
        *rows = 1;
        return t;
    }
    char a[160], b[160];
    tensor_shape_str(t, a, sizeof a);
    tensor_shape_str(x, b, sizeof b);
    l_opterror(L, 4, name,
               lua_pushfstring(L, "tensor of shape %s does not fit x of shape %s (expected %s, [1, ...] or one sample's shape)",
                               a, b, any_rows ? "[B, ...]" : "the shape of x"));
    return NULL;
}

typedef enum { BASE_ZEROS, BASE_UNIFORM, BASE_BLUR, BASE_NUMBER, BASE_TENSOR } BaseKind;

static int l_attr_integrated_gradients(lua_State *L) {
    const Tensor *x = l_checktensor(L, 2);
    /* method options first: errors here leave the model untouched */
    lua_Integer steps = l_optinteger(L, 4, "steps", 32);
    int rule = l_optchoice(L, 4, "rule", "gausslegendre", ig_rules);
    if (steps < 1 || steps > (1 << 24)) l_opterror(L, 4, "steps", "must be a positive integer (at most 2^24)");
    if (rule == ATTR_IG_RIEMANN_TRAPEZOID && steps < 2) l_opterror(L, 4, "steps", "riemann_trapezoid needs at least 2");
    double sigma = l_optnumber(L, 4, "blur_sigma", 5.0);
    if (!(sigma >= 0)) l_opterror(L, 4, "blur_sigma", "must be a non-negative number of pixels");
    BaseKind kind = BASE_ZEROS;
    float constant = 0;
    Tensor *bt = NULL;
    int64_t brows = 0;
    if (lua_istable(L, 4)) {
        int t = lua_getfield(L, 4, "baseline");
        if (t == LUA_TSTRING) {
            static const char *const names[] = {"zeros", "uniform", "blur", NULL};
            kind = (BaseKind)l_optchoice(L, 4, "baseline", "zeros", names);
        } else if (t == LUA_TNUMBER) {
            kind = BASE_NUMBER, constant = (float)lua_tonumber(L, -1);
        } else if (t != LUA_TNIL) {
            Tensor *b = l_testtensor(L, -1);
            if (!b || !b->storage) l_opterror(L, 4, "baseline", "\"zeros\", \"uniform\", \"blur\", a number or a tensor expected");
            kind = BASE_TENSOR, bt = check_sample_shaped(L, x, b, "baseline", 0, &brows);
        }
        lua_pop(L, 1);
    }
    if (kind == BASE_BLUR && x->ndim < 3) l_opterror(L, 4, "baseline", "blur needs images [N, ..., H, W]");

    AttrCall c;
    l_attr_args(L, &c, ig_opts);
    /* the baseline as a Lua-owned tensor [N or 1, ...] at the top of the stack */
    Tensor base = {0};
    int rc = SN_OK;
    if (kind == BASE_UNIFORM) {
        rc = attr_ig_baseline_uniform(c.x, c.run.seed, &base);
    } else if (kind == BASE_BLUR) {
        rc = attr_ig_baseline_blur(c.x, sigma, &base);
    } else if (kind == BASE_TENSOR) {
        int64_t shape[TENSOR_MAX_DIMS];
        shape[0] = brows;
        memcpy(shape + 1, c.x->shape + 1, sizeof(int64_t) * (size_t)(c.x->ndim - 1));
        rc = tensor_reshape(&base, bt, c.x->ndim, shape);
    } else {
        int64_t shape[TENSOR_MAX_DIMS];
        shape[0] = 1;
        memcpy(shape + 1, c.x->shape + 1, sizeof(int64_t) * (size_t)(c.x->ndim - 1));
        if ((rc = tensor_init(&base, c.x->ndim, shape)) == SN_OK && constant != 0) {
            float *p = tensor_data(&base);
            for (int64_t i = 0, n = tensor_numel(&base); i < n; i++) p[i] = constant;
        }
    }
    if (rc != SN_OK) return l_attr_fail(L, &c);
    Tensor *b = l_pushtensor_move(L, &base);
    Tensor *gap = l_pushtensor(L, 1, &c.n);
    AttrIgOptions o = {(int)steps, (AttrIgRule)rule, b};
    Tensor out;
    if (attr_integrated_gradients(&c.run, c.x, c.targets, &o, &out, tensor_data(gap)) != SN_OK) return l_attr_fail(L, &c);
    l_attr_push(L, &c, &out);
    lua_pushvalue(L, -2);
    return 2;
}

static const char *const shap_opts[] = {"baselines", "n", "stdev", NULL};

static int l_attr_gradient_shap(lua_State *L) {
    const Tensor *x = l_checktensor(L, 2);
    lua_Integer n = l_optinteger(L, 4, "n", 5);
    if (n < 1 || n > (1 << 24)) l_opterror(L, 4, "n", "must be a positive integer (at most 2^24)");
    double stdev = l_optnumber(L, 4, "stdev", 0.0);
    if (!(stdev >= 0)) l_opterror(L, 4, "stdev", "must be non-negative");
    Tensor *bt = NULL;
    int64_t brows = 1;
    if (lua_istable(L, 4)) {
        if (lua_getfield(L, 4, "baselines") != LUA_TNIL) {
            Tensor *b = l_testtensor(L, -1);
            if (!b || !b->storage) l_opterror(L, 4, "baselines", "tensor [B, ...] expected");
            if (tensor_numel(b) == 0) l_opterror(L, 4, "baselines", "needs at least one baseline");
            bt = check_sample_shaped(L, x, b, "baselines", 1, &brows);
        }
        lua_pop(L, 1);
    }
    AttrCall c;
    l_attr_args(L, &c, shap_opts);
    int64_t shape[TENSOR_MAX_DIMS];
    shape[0] = brows;
    memcpy(shape + 1, c.x->shape + 1, sizeof(int64_t) * (size_t)(c.x->ndim - 1));
    Tensor base = {0};
    if ((bt ? tensor_reshape(&base, bt, c.x->ndim, shape) : tensor_init(&base, c.x->ndim, shape)) != SN_OK)
        return l_attr_fail(L, &c);
    Tensor *b = l_pushtensor_move(L, &base);
    AttrShapOptions o = {(int)n, (float)stdev, b};
    Tensor out;
    if (attr_gradient_shap(&c.run, c.x, c.targets, &o, &out) != SN_OK) return l_attr_fail(L, &c);
    l_attr_push(L, &c, &out);
    return 1;
}

const luaL_Reg l_attr_integrated_funcs[] = {
    {"integrated_gradients", l_attr_integrated_gradients}, {"gradient_shap", l_attr_gradient_shap}, {NULL, NULL}};
